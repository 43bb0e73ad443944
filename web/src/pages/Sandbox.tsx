import { useMemo, useState } from "react";
import { useMutation } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { useApi } from "../auth";
import { BtqlEditor } from "../components/BtqlEditor";
import { DataTable, type Column } from "../components/DataTable";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import type { BtqlValidation } from "../lib/api";
import { sandboxStarter } from "../lib/btql";
import { formatNumber, preview } from "../lib/format";
import { useOptionalProject } from "./ProjectScope";
import { useLoop, usePageContext } from "../components/Loop";
import { useCan } from "../auth";
import { ApiError } from "../lib/api";

type Row = Record<string, unknown>;
const STORAGE_KEY = "loopline.sandbox.query";

function cellText(v: unknown): string {
  if (v == null) return "";
  if (typeof v === "object") return preview(v, 200);
  return String(v);
}

/** A new `?q=` (a chart opened as a query, a query Loop wrote) starts the editor over with it. */
export default function Sandbox() {
  const [params] = useSearchParams();
  return <SandboxPage key={params.get("q") ?? ""} />;
}

function SandboxPage() {
  const api = useApi();
  const project = useOptionalProject();
  const [params] = useSearchParams();
  const [text, setText] = useState(
    () => params.get("q") ?? sessionStorage.getItem(`${STORAGE_KEY}.${project?.id ?? ""}`) ?? sandboxStarter(project?.id),
  );
  const [validation, setValidation] = useState<BtqlValidation | null>(null);
  const run = useMutation({
    mutationFn: async (query: string) => {
      const t0 = performance.now();
      const r = await api.btql<Row>(query);
      return { rows: r.data, ms: performance.now() - t0, cursor: r.cursor };
    },
  });

  const loop = useLoop();
  const canAsk = useCan("member");
  // what failed: the query's parse/bind error as typed, else the error of its last run
  const problem =
    validation && !validation.valid
      ? `${validation.error.class} at line ${validation.error.line ?? "?"}, column ${validation.error.column ?? "?"}: ${validation.error.message}`
      : run.isError
        ? run.error instanceof ApiError && run.error.errorClass
          ? `${run.error.errorClass}: ${run.error.message}`
          : run.error.message
        : null;
  const page = { kind: "btql" as const, project_id: project?.id ?? null, query: text.slice(0, 20_000), error: problem ? problem.slice(0, 5000) : null };
  usePageContext(page);

  function change(t: string) {
    setText(t);
    sessionStorage.setItem(`${STORAGE_KEY}.${project?.id ?? ""}`, t);
  }

  const columns = useMemo<Column<Row>[]>(() => {
    const rows = run.data?.rows ?? [];
    const keys: string[] = [];
    const seen = new Set<string>();
    for (const r of rows.slice(0, 200))
      for (const k of Object.keys(r))
        if (!seen.has(k)) {
          seen.add(k);
          keys.push(k);
        }
    return keys.map((k) => ({ id: k, header: k, size: 180, grow: true, cell: (r: Row) => <span className="preview">{cellText(r[k])}</span> }));
  }, [run.data]);

  return (
    <div className="page sandbox">
      <PageHeader
        title="BTQL sandbox"
        subtitle={project ? project.name : "any project, experiment or dataset you can read"}
        actions={
          <>
            {problem && canAsk && (
              <button className="btn" onClick={() => loop.ask("Fix this query: it fails with the error shown. Give me the corrected query.", page)}>
                ✦ Fix with Loop
              </button>
            )}
            <button className="btn btn-primary" onClick={() => run.mutate(text)} disabled={run.isPending || !text.trim()}>
              {run.isPending ? "Running…" : "Run"} <kbd>⌘/Ctrl ⏎</kbd>
            </button>
          </>
        }
      />
      <BtqlEditor api={api} initial={text} onChange={change} onRun={() => run.mutate(text)} onValidated={setValidation} />
      <div className={`validation ${validation ? (validation.valid ? "ok" : "bad") : ""}`} role="status" aria-label="Query status">
        {validation == null
          ? "Type a query: errors are underlined as you type."
          : validation.valid
            ? `✓ Valid · ${validation.source.object_type} (${validation.source.shape}) · ${validation.columns.length ? validation.columns.join(", ") : "*"}`
            : `${validation.error.class} at line ${validation.error.line ?? "?"}, column ${validation.error.column ?? "?"}: ${validation.error.message}`}
      </div>
      <div className="results">
        {run.isIdle ? (
          <Empty title="Run the query to see its results" />
        ) : run.isPending ? (
          <Loading what="results" />
        ) : run.isError ? (
          <ErrorState error={run.error} title="The query failed" />
        ) : run.data.rows.length === 0 ? (
          <Empty title="No rows" />
        ) : (
          <DataTable<Row>
            label="Results"
            columns={columns}
            rows={run.data.rows}
            rowId={(_r, i) => String(i)}
            footer={
              <div className="dt-footer muted small">
                {formatNumber(run.data.rows.length)} rows in {run.data.ms.toFixed(0)} ms{run.data.cursor ? " · more available (cursor)" : ""}
              </div>
            }
          />
        )}
      </div>
    </div>
  );
}
