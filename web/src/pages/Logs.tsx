import { useCallback, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { useQueryClient } from "@tanstack/react-query";
import { PageHeader } from "../components/Layout";
import { FilterBar, filtersFromParams, filtersToParams } from "../components/FilterBar";
import { TracesTable } from "../components/TracesTable";
import { TraceView } from "../components/TraceView";
import { Empty } from "../components/States";
import { NO_FILTERS, filterExpression, type ObjectSource } from "../lib/btql";
import { useProject } from "./ProjectScope";
import { AddToDataset } from "../components/AddToDataset";
import { useCan } from "../auth";
import { usePageContext } from "../components/Loop";

/** `?r=<root span id>&s=<span id>`: the open trace and span, shared by logs and experiments. */
export function useTraceSelection() {
  const [params, setParams] = useSearchParams();
  return {
    params,
    setParams,
    root: params.get("r"),
    span: params.get("s"),
    open(root: string) {
      const next = new URLSearchParams(params);
      next.set("r", root);
      next.delete("s");
      setParams(next);
    },
    select(span: string) {
      const next = new URLSearchParams(params);
      next.set("s", span);
      setParams(next, { replace: true });
    },
    close() {
      const next = new URLSearchParams(params);
      next.delete("r");
      next.delete("s");
      setParams(next);
    },
  };
}

export function LogsPage() {
  const project = useProject();
  const sel = useTraceSelection();
  const filters = filtersFromParams(sel.params);
  const [live, setLive] = useState(false);
  const queryClient = useQueryClient();
  const source: ObjectSource = { kind: "project_logs", id: project.id };
  const filtered = filterExpression(filters) !== "";
  const canWrite = useCan("member");
  usePageContext({ kind: "project_logs", project_id: project.id });
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set());
  const choose = useCallback((id: string, on: boolean) => {
    setChosen((prev) => {
      const next = new Set(prev);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  }, []);

  return (
    <div className={`page page-split${sel.root ? " with-panel" : ""}`}>
      <div className="page-main">
        <PageHeader
          title="Logs"
          subtitle={project.name}
          actions={
            <>
              <label className="checkbox live-toggle">
                <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} />
                <span className={`live-dot${live ? " on" : ""}`} /> Live
              </label>
              <button className="btn" onClick={() => void queryClient.invalidateQueries({ queryKey: ["traces"] })}>
                Refresh
              </button>
            </>
          }
        />
        <FilterBar value={filters} onChange={(f) => sel.setParams(filtersToParams(f, sel.params))} />
        {canWrite && <AddToDataset project={project} rootSpanIds={[...chosen]} onClear={() => setChosen(new Set())} />}
        <TracesTable
          chosen={canWrite ? chosen : undefined}
          onChoose={canWrite ? choose : undefined}
          source={source}
          filters={filters}
          live={live}
          selected={sel.root}
          onSelect={sel.open}
          empty={
            filtered ? (
              <Empty title="No traces match these filters">
                <button className="btn" onClick={() => sel.setParams(filtersToParams(NO_FILTERS, sel.params))}>
                  Clear filters
                </button>
              </Empty>
            ) : (
              <Empty title="No logs yet">
                <p>Log from your application with the Braintrust SDK pointed at this server:</p>
                <pre className="code-block">{`export BRAINTRUST_API_URL=${window.location.origin} BRAINTRUST_API_KEY=<your key>

import braintrust
logger = braintrust.init_logger(project="${project.name}")
logger.log(input="hi", output="hello")`}</pre>
              </Empty>
            )
          }
        />
      </div>
      {sel.root && (
        <TraceView source={source} rootSpanId={sel.root} selectedSpanId={sel.span} onSelect={sel.select} onClose={sel.close} />
      )}
    </div>
  );
}
