// Prompts and scorers of a project (`/v1/prompt`, `/v1/function?function_type=scorer`): name, slug,
// model, current version; a prompt opens in the playground; a selected one lists its versions.

import { Fragment, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { useApi } from "../auth";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatRelative } from "../lib/format";
import type { StoredPrompt } from "../lib/playground";
import { useProject } from "./ProjectScope";

function kindOf(f: StoredPrompt & { function_data?: { type?: string } }): string {
  if (f.function_data?.type === "code") return "code";
  if (f.prompt_data?.parser?.type === "llm_classifier") return "LLM judge";
  return f.prompt_data ? "prompt" : (f.function_data?.type ?? "function");
}

function Versions({ id }: { id: string }) {
  const api = useApi();
  // the versions of one object: `version` reads "as of" a transaction, so walk back from the newest
  const q = useQuery({
    queryKey: ["prompt-versions", id],
    queryFn: async () => {
      const out: StoredPrompt[] = [];
      let at: string | undefined;
      for (let i = 0; i < 20; i++) {
        const v = await api.get<StoredPrompt>(`/v1/function/${encodeURIComponent(id)}${at ? `?version=${at}` : ""}`).catch(() => null);
        if (!v || !v._xact_id || out.some((o) => o._xact_id === v._xact_id)) break;
        out.push(v);
        const prev = BigInt(v._xact_id) - 1n;
        if (prev <= 0n) break;
        at = prev.toString().padStart(19, "0");
      }
      return out;
    },
  });
  if (q.isPending) return <Loading what="versions" />;
  if (q.isError) return <ErrorState error={q.error} title="Could not load the versions" />;
  return (
    <table className="simple-table" aria-label="Versions">
      <thead>
        <tr>
          <th>Version</th>
          <th>Model</th>
          <th>First message</th>
        </tr>
      </thead>
      <tbody>
        {q.data.map((v) => (
          <tr key={v._xact_id}>
            <td className="mono">{v._xact_id}</td>
            <td>{v.prompt_data?.options?.model ?? "—"}</td>
            <td className="mono">{String(v.prompt_data?.prompt?.messages?.[0]?.content ?? "").slice(0, 120)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function FunctionTable({ label, items, playground }: { label: string; items: StoredPrompt[]; playground: boolean }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <table className="simple-table" aria-label={label}>
      <thead>
        <tr>
          <th>Name</th>
          <th>Slug</th>
          <th>Kind</th>
          <th>Model</th>
          <th>Updated</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {items.map((f) => (
          <Fragment key={f.id}>
            <tr>
              <td className="strong">{f.name}</td>
              <td className="mono">{f.slug}</td>
              <td>{kindOf(f)}</td>
              <td>{f.prompt_data?.options?.model ?? "—"}</td>
              <td title={f.created}>{formatRelative(f.created)}</td>
              <td>
                <button type="button" className="btn btn-sm" onClick={() => setOpen(open === f.id ? null : f.id)}>
                  {open === f.id ? "Hide versions" : "Versions"}
                </button>{" "}
                {playground && f.prompt_data && (
                  <Link className="btn btn-sm" to={`../playground?prompt=${encodeURIComponent(f.id)}`}>
                    Open in playground
                  </Link>
                )}
              </td>
            </tr>
            {open === f.id && (
              <tr>
                <td colSpan={6}>
                  <Versions id={f.id} />
                </td>
              </tr>
            )}
          </Fragment>
        ))}
      </tbody>
    </table>
  );
}

export default function Prompts() {
  const project = useProject();
  const api = useApi();
  const pid = encodeURIComponent(project.id);
  const prompts = useQuery({
    queryKey: ["prompts", project.id],
    queryFn: async () => (await api.get<{ objects: StoredPrompt[] }>(`/v1/prompt?project_id=${pid}`)).objects,
  });
  const scorers = useQuery({
    queryKey: ["scorers", project.id],
    queryFn: async () => (await api.get<{ objects: StoredPrompt[] }>(`/v1/function?project_id=${pid}&function_type=scorer`)).objects,
  });
  const onlyPrompts = (prompts.data ?? []).filter((p) => p.function_type !== "scorer");
  return (
    <div className="page">
      <PageHeader
        title="Prompts & scorers"
        subtitle={project.name}
        actions={
          <Link className="btn btn-primary" to="../playground">
            New prompt in playground
          </Link>
        }
      />
      <h2>Prompts</h2>
      {prompts.isPending ? (
        <Loading what="prompts" />
      ) : prompts.isError ? (
        <ErrorState error={prompts.error} title="Could not load the prompts" />
      ) : onlyPrompts.length ? (
        <FunctionTable label="Prompts" items={onlyPrompts} playground />
      ) : (
        <Empty title="No prompts yet">
          <p>Write one in the playground, or push one with the SDK (`project.prompts.create(...)`).</p>
        </Empty>
      )}
      <h2>Scorers</h2>
      {scorers.isPending ? (
        <Loading what="scorers" />
      ) : scorers.isError ? (
        <ErrorState error={scorers.error} title="Could not load the scorers" />
      ) : scorers.data.length ? (
        <FunctionTable label="Scorers" items={scorers.data} playground={false} />
      ) : (
        <Empty title="No project scorers">
          <p>Evals can always use the built-in scorers (ExactMatch, Levenshtein, Factuality, …).</p>
        </Empty>
      )}
    </div>
  );
}
