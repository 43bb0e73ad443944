import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useApi } from "../auth";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { TracesTable } from "../components/TracesTable";
import { TraceView } from "../components/TraceView";
import { Comparison } from "../components/Comparison";
import { usePageContext } from "../components/Loop";
import { NO_FILTERS, type ObjectSource } from "../lib/btql";
import type { ExperimentSummary } from "../lib/api";
import { formatDiff, formatDuration, formatNumber, formatScore } from "../lib/format";
import { useTraceSelection } from "./Logs";
import { useProject } from "./ProjectScope";

function ScoreCards({ summary }: { summary: ExperimentSummary }) {
  const scores = Object.values(summary.scores);
  return (
    <div className="card-row">
      {scores.map((s) => (
        <div className="card stat-card" key={s.name} data-score={s.name}>
          <div className="stat-label">{s.name}</div>
          <div className="stat-value">{formatScore(s.score)}</div>
          {summary.comparison_experiment_name && (
            <div className="stat-diff">
              <span className={s.diff && s.diff > 0 ? "up" : s.diff && s.diff < 0 ? "down" : ""}>{formatDiff(s.diff) || "±0"}</span>
              <span className="muted small">
                {" "}
                {s.improvements} improved · {s.regressions} regressed
              </span>
            </div>
          )}
        </div>
      ))}
      {Object.values(summary.metrics).map((m) => (
        <div className="card stat-card" key={m.name}>
          <div className="stat-label">{m.name}</div>
          <div className="stat-value">{m.unit === "s" ? formatDuration(m.metric) : formatNumber(m.metric)}</div>
        </div>
      ))}
    </div>
  );
}

function ScoreChart({ summary }: { summary: ExperimentSummary }) {
  const base = summary.comparison_experiment_name;
  const data = Object.values(summary.scores).map((s) => ({
    name: s.name,
    [summary.experiment_name]: +(s.score * 100).toFixed(1),
    ...(base && s.diff != null ? { [base]: +((s.score - s.diff) * 100).toFixed(1) } : {}),
  }));
  if (data.length === 0) return null;
  return (
    <div className="card chart-card" aria-label="Scores chart">
      <ResponsiveContainer width="100%" height={220}>
        <BarChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          <XAxis dataKey="name" />
          <YAxis unit="%" domain={[0, 100]} width={48} />
          <Tooltip formatter={(v) => `${v}%`} />
          <Legend />
          {base && <Bar dataKey={base} fill="#cbd5e1" radius={[3, 3, 0, 0]} isAnimationActive={false} />}
          <Bar dataKey={summary.experiment_name} fill="#4f46e5" radius={[3, 3, 0, 0]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

export default function ExperimentPage() {
  const project = useProject();
  const { experiment: name } = useParams();
  const api = useApi();
  const sel = useTraceSelection();
  const exps = useQuery({ queryKey: ["experiments", project.id], queryFn: () => api.experiments(project.id) });
  const exp = exps.data?.find((e) => e.name === name);
  // the experiment compared with: `?base=<name>`, else its base experiment, else the one before it
  const others = (exps.data ?? []).filter((e) => e.id !== exp?.id);
  const chosen = sel.params.get("base");
  const before = exp ? others.filter((e) => e.created < exp.created).sort((a, b) => b.created.localeCompare(a.created))[0] : undefined;
  const base = (chosen ? others.find((e) => e.name === chosen) : undefined) ?? others.find((e) => e.id === exp?.base_exp_id) ?? before;
  usePageContext({ kind: exp ? "experiment" : "none", project_id: project.id, object_id: exp?.id ?? null });
  const tab = sel.params.get("tab") === "compare" && base ? "compare" : "rows";
  const summary = useQuery({
    queryKey: ["experiment-summary", exp?.id, base?.id],
    queryFn: () => api.experimentSummary(exp!.id, base?.id),
    enabled: !!exp,
  });
  function setParam(k: string, v: string | null) {
    const next = new URLSearchParams(sel.params);
    if (v == null) next.delete(k);
    else next.set(k, v);
    next.delete("r");
    next.delete("s");
    sel.setParams(next);
  }
  if (exps.isPending) return <Loading what="experiment" />;
  if (exps.isError) return <ErrorState error={exps.error} title="Could not load the experiment" />;
  if (!exp)
    return (
      <div className="page">
        <Empty title={`No experiment named “${name}”`}>
          <Link to="..">All experiments</Link>
        </Empty>
      </div>
    );
  const source: ObjectSource = { kind: "experiment", id: exp.id };
  return (
    <div className={`page page-split${sel.root ? " with-panel" : ""}`}>
      <div className="page-main">
        <PageHeader
          title={exp.name}
          subtitle={summary.data?.comparison_experiment_name ? `compared with ${summary.data.comparison_experiment_name}` : project.name}
        />
        {summary.isPending ? (
          <Loading what="scores" />
        ) : summary.isError ? (
          <ErrorState error={summary.error} title="Could not summarize the experiment" />
        ) : (
          <>
            <ScoreCards summary={summary.data} />
            <ScoreChart summary={summary.data} />
          </>
        )}
        <div className="section-bar">
          <div className="tabs section-tabs" role="tablist" aria-label="Experiment view">
            <button role="tab" aria-selected={tab === "rows"} className={`tab${tab === "rows" ? " active" : ""}`} onClick={() => setParam("tab", null)}>
              Rows
            </button>
            {base && (
              <button role="tab" aria-selected={tab === "compare"} className={`tab${tab === "compare" ? " active" : ""}`} onClick={() => setParam("tab", "compare")}>
                Compare with {base.name}
              </button>
            )}
          </div>
          {others.length > 0 && (
            <label className="muted small">
              compared with{" "}
              <select className="input input-sm" aria-label="Compare with" value={base?.name ?? ""} onChange={(e) => setParam("base", e.target.value)}>
                {others.map((e) => (
                  <option key={e.id} value={e.name}>
                    {e.name}
                  </option>
                ))}
              </select>
            </label>
          )}
        </div>
        {tab === "compare" && base ? (
          <Comparison experiment={exp} base={base} />
        ) : (
          <TracesTable
            source={source}
            filters={NO_FILTERS}
            live={false}
            selected={sel.root}
            onSelect={sel.open}
            showExpected
            empty={<Empty title="This experiment has no rows" />}
          />
        )}
      </div>
      {sel.root && (
        <TraceView source={source} rootSpanId={sel.root} selectedSpanId={sel.span} onSelect={sel.select} onClose={sel.close} />
      )}
    </div>
  );
}
