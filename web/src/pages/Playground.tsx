// The playground: a prompt (system + user message with {{mustache}} slots over each dataset row)
// run with a chosen model over a dataset's rows, scored, and saved as an experiment (/v1/eval,
// streamed: progress as cells finish, then the experiment's summary).

import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { useApi, useCan } from "../auth";
import { PageHeader } from "../components/Layout";
import { usePageContext } from "../components/Loop";
import { ErrorState } from "../components/States";
import type { ExperimentSummary } from "../lib/api";
import type { LoopEvent } from "../lib/loop";
import { GLOBAL_SCORERS, evalRequest, runProblem, type PlaygroundRun, type Progress } from "../lib/playground";
import { formatDiff, formatScore } from "../lib/format";
import { useProject } from "./ProjectScope";

function stamp(): string {
  const d = new Date();
  const two = (n: number) => String(n).padStart(2, "0");
  return `playground-${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

export default function Playground() {
  const project = useProject();
  const api = useApi();
  const canRun = useCan("member");
  const queryClient = useQueryClient();
  usePageContext({ kind: "none", project_id: project.id });
  const datasets = useQuery({ queryKey: ["datasets", project.id], queryFn: () => api.datasets(project.id) });
  const models = useQuery({ queryKey: ["proxy-models"], queryFn: () => api.proxyModels(), staleTime: 60_000 });
  const experiments = useQuery({ queryKey: ["experiments", project.id], queryFn: () => api.experiments(project.id) });
  const concrete = (models.data ?? []).filter((m) => !m.endsWith("*"));
  const [datasetId, setDatasetId] = useState("");
  const [model, setModel] = useState("");
  const [system, setSystem] = useState("");
  const [user, setUser] = useState("{{input}}");
  const [scorers, setScorers] = useState<string[]>(["ExactMatch", "Levenshtein"]);
  const [name, setName] = useState(stamp);
  const [base, setBase] = useState("");
  const [progress, setProgress] = useState<Progress | null>(null);
  const [summary, setSummary] = useState<ExperimentSummary | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [running, setRunning] = useState(false);
  const run: PlaygroundRun = {
    projectId: project.id,
    datasetId: datasetId || datasets.data?.[0]?.id || "",
    model: model || concrete[0] || "",
    system,
    user,
    scorers,
    experimentName: name,
    baseExperimentName: base || null,
  };
  const problem = runProblem(run);

  function onEvent(e: LoopEvent) {
    const d = e.data;
    if (e.type === "progress") setProgress({ done: Number(d.done) || 0, total: Number(d.total) || 0, errored: Number(d.errored) || 0, status: String(d.status ?? "") });
    else if (e.type === "summary") setSummary(d as unknown as ExperimentSummary);
    else if (e.type === "error") setError(new Error(String(d.message ?? "the eval failed")));
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (problem || running) return;
    setRunning(true);
    setError(null);
    setSummary(null);
    setProgress(null);
    try {
      await api.runEval(evalRequest(run), onEvent);
    } catch (err) {
      setError(err);
    } finally {
      setRunning(false);
      void queryClient.invalidateQueries({ queryKey: ["experiments", project.id] });
    }
  }

  const pct = progress && progress.total ? Math.round((100 * progress.done) / progress.total) : 0;
  return (
    <div className="page">
      <PageHeader title="Playground" subtitle={`${project.name} · run a prompt over a dataset, saved as an experiment`} />
      <form className="playground" onSubmit={submit} aria-label="Playground">
        <div className="card playground-setup">
          <label>
            Dataset
            <select className="input" aria-label="Dataset" value={run.datasetId} onChange={(e) => setDatasetId(e.target.value)}>
              {(datasets.data ?? []).map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Model
            <input className="input" list="playground-models" aria-label="Model" value={run.model} onChange={(e) => setModel(e.target.value)} placeholder="e.g. gpt-4o-mini" />
            <datalist id="playground-models">
              {concrete.map((m) => (
                <option key={m} value={m} />
              ))}
            </datalist>
          </label>
          <label>
            Experiment
            <input className="input" aria-label="Experiment name" value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            Compare with
            <select className="input" aria-label="Base experiment" value={base} onChange={(e) => setBase(e.target.value)}>
              <option value="">(the latest before it)</option>
              {(experiments.data ?? []).map((x) => (
                <option key={x.id} value={x.name}>
                  {x.name}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div className="card playground-prompt">
          <label>
            System message
            <textarea className="input mono" rows={3} aria-label="System message" value={system} onChange={(e) => setSystem(e.target.value)} placeholder="You are a helpful assistant." />
          </label>
          <label>
            User message <span className="muted small">— {"{{input}}"}, {"{{input.question}}"}, {"{{metadata.x}}"} are filled from each row</span>
            <textarea className="input mono" rows={4} aria-label="User message" value={user} onChange={(e) => setUser(e.target.value)} />
          </label>
          <fieldset className="scorers">
            <legend>Scorers</legend>
            {GLOBAL_SCORERS.map((s) => (
              <label key={s} className="checkbox">
                <input type="checkbox" checked={scorers.includes(s)} onChange={(e) => setScorers(e.target.checked ? [...scorers, s] : scorers.filter((x) => x !== s))} /> {s}
              </label>
            ))}
          </fieldset>
        </div>
        <div className="playground-run">
          <button className="btn btn-primary" type="submit" disabled={!canRun || !!problem || running}>
            {running ? "Running…" : "Run and save as experiment"}
          </button>
          {problem && <span className="muted small">{problem}</span>}
          {!canRun && <span className="muted small">Running evals needs the member role.</span>}
          {progress && (
            <div className="progress" role="progressbar" aria-label="Eval progress" aria-valuenow={progress.done} aria-valuemax={progress.total}>
              <div className="progress-bar" style={{ width: `${pct}%` }} />
              <span className="small">
                {progress.done} / {progress.total} rows{progress.errored ? ` · ${progress.errored} errored` : ""}
              </span>
            </div>
          )}
        </div>
      </form>
      {error != null && <ErrorState error={error} title="The run failed" />}
      {summary && (
        <section className="card playground-result" aria-label="Run result">
          <div className="result-head">
            <strong>{summary.experiment_name}</strong>
            {summary.comparison_experiment_name && <span className="muted"> compared with {summary.comparison_experiment_name}</span>}
            <Link className="btn btn-sm" to={`../experiments/${encodeURIComponent(summary.experiment_name)}`}>
              Open experiment
            </Link>
          </div>
          <div className="card-row">
            {Object.values(summary.scores).map((s) => (
              <div className="card stat-card" key={s.name} data-score={s.name}>
                <div className="stat-label">{s.name}</div>
                <div className="stat-value">{formatScore(s.score)}</div>
                {s.diff != null && <div className="stat-diff muted small">{formatDiff(s.diff) || "±0"}</div>}
              </div>
            ))}
          </div>
        </section>
      )}
    </div>
  );
}
