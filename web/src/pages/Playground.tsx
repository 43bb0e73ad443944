// Playground: a prompt (a saved one, or a new one) run over a dataset's rows with a chosen model and
// scorers through the evaluator's `/v1/eval` (streamed); rows appear as they finish, the run is an
// experiment compared with a base (its summary and a link). "Save as new version" writes the draft
// with `PUT /v1/prompt`.

import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { useApi, useCan } from "../auth";
import { PageHeader } from "../components/Layout";
import { usePageContext } from "../components/Loop";
import { ErrorState } from "../components/States";
import { ApiError, type ExperimentSummary } from "../lib/api";
import { formatDiff, formatScore, preview } from "../lib/format";
import {
  DraftError,
  EMPTY_DRAFT,
  GLOBAL_SCORERS,
  draftOf,
  evalBody,
  experimentStamp,
  messageLabels,
  mustacheVars,
  promptBody,
  resultRows,
  type PromptDraft,
  type ResultRow,
  type StoredPrompt,
} from "../lib/playground";
import { useProject } from "./ProjectScope";

interface RunState {
  status: string;
  done: number;
  total: number;
  errored: number;
  experimentId?: string;
  experimentName?: string;
  experimentUrl?: string;
  error?: string;
}

export default function Playground() {
  const project = useProject();
  const api = useApi();
  const canWrite = useCan("member");
  const queryClient = useQueryClient();
  const [search, setSearch] = useSearchParams();
  const promptId = search.get("prompt");
  const prompts = useQuery({
    queryKey: ["prompts", project.id],
    queryFn: async () => (await api.get<{ objects: StoredPrompt[] }>(`/v1/prompt?project_id=${encodeURIComponent(project.id)}`)).objects,
  });
  const datasets = useQuery({ queryKey: ["datasets", project.id], queryFn: () => api.datasets(project.id) });
  const models = useQuery({ queryKey: ["proxy-models"], queryFn: () => api.proxyModels(), staleTime: 60_000 });
  const experiments = useQuery({ queryKey: ["experiments", project.id], queryFn: () => api.experiments(project.id) });
  const concrete = (models.data ?? []).filter((m) => !m.endsWith("*"));
  usePageContext({ kind: promptId ? "playground" : "none", project_id: project.id, object_id: promptId });
  const [draft, setDraft] = useState<PromptDraft>(EMPTY_DRAFT);
  const [datasetId, setDatasetId] = useState("");
  const [scorers, setScorers] = useState<string[]>(["ExactMatch"]);
  const [experimentName, setExperimentName] = useState(experimentStamp);
  const [base, setBase] = useState("");
  const [summary, setSummary] = useState<ExperimentSummary | null>(null);
  const [run, setRun] = useState<RunState | null>(null);
  const [rows, setRows] = useState<ResultRow[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);

  // the prompt named in the URL becomes the draft (once it is loaded)
  // (only when it is picked or opened by link: a prompt just saved from here is the draft already,
  // and edits made while the list reloads are kept)
  const selected = prompts.data?.find((p) => p.id === promptId);
  const [loaded, setLoaded] = useState<string | null>(null);
  useEffect(() => {
    if (selected && loaded !== selected.id) {
      setDraft(draftOf(selected));
      setLoaded(selected.id);
    }
  }, [selected, loaded]);
  // the first model offered is the default once, when the list arrives; a field the user empties
  // to type another model stays empty (refilling it at once appended their typing to the default)
  const modelDefaulted = useRef(false);
  const firstModel = concrete[0];
  useEffect(() => {
    if (modelDefaulted.current || !firstModel) return;
    modelDefaulted.current = true;
    setDraft((d) => (d.model ? d : { ...d, model: firstModel }));
  }, [firstModel]);
  useEffect(() => {
    if (!datasetId && datasets.data?.length) setDatasetId(datasets.data[0].id);
  }, [datasets.data, datasetId]);
  useEffect(() => () => abort.current?.abort(), []);

  const vars = useMemo(() => mustacheVars(draft.messages), [draft.messages]);

  const save = useMutation({
    mutationFn: () => api.put<StoredPrompt>("/v1/prompt", promptBody(draft, project.id)),
    onSuccess: (saved) => {
      setLoaded(saved.id);
      setDraft((d) => ({ ...d, slug: saved.slug }));
      void queryClient.invalidateQueries({ queryKey: ["prompts", project.id] });
      setSearch({ prompt: saved.id }, { replace: true });
      setProblem(null);
    },
    onError: (e) => setProblem(e.message),
  });

  async function fetchRows(experimentId: string) {
    const r = await api.post<{ events: Parameters<typeof resultRows>[0] }>(`/v1/experiment/${encodeURIComponent(experimentId)}/fetch`, { limit: 1000 });
    setRows(resultRows(r.events));
  }

  async function start() {
    let body: Record<string, unknown>;
    try {
      body = evalBody({ projectId: project.id, datasetId, draft, scorers, experimentName, baseExperimentName: base || null });
    } catch (e) {
      if (e instanceof DraftError) return setProblem(e.message);
      throw e;
    }
    setProblem(null);
    setRows([]);
    setSummary(null);
    setRun({ status: "starting", done: 0, total: 0, errored: 0 });
    const ctl = new AbortController();
    abort.current = ctl;
    let experimentId: string | undefined;
    let lastDone = -1;
    try {
      await api.runEval(
        body,
        (ev) => {
          const d = ev.data as Record<string, unknown>;
          if (ev.type === "start") {
            experimentId = String(d.experiment_id);
            setRun((r) => ({
              ...r!,
              status: "running",
              total: Number(d.total ?? 0),
              experimentId,
              experimentName: String(d.experiment_name ?? ""),
              experimentUrl: typeof d.experiment_url === "string" ? d.experiment_url : undefined,
            }));
          } else if (ev.type === "progress") {
            setRun((r) => ({ ...r!, status: String(d.status), done: Number(d.done), total: Number(d.total), errored: Number(d.errored) }));
            if (experimentId && Number(d.done) !== lastDone) {
              lastDone = Number(d.done);
              void fetchRows(experimentId);
            }
          } else if (ev.type === "error") {
            setRun((r) => ({ ...r!, status: "failed", error: String(d.message ?? "the eval failed") }));
          } else if (ev.type === "summary") {
            setRun((r) => ({ ...r!, status: "succeeded" }));
            setSummary(d as unknown as ExperimentSummary);
          }
        },
        ctl.signal,
      );
      if (experimentId) await fetchRows(experimentId);
      void queryClient.invalidateQueries({ queryKey: ["experiments", project.id] });
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      setRun((r) => ({ ...(r ?? { done: 0, total: 0, errored: 0 }), status: "failed", error: e instanceof ApiError ? e.message : String(e) }));
    }
  }

  const setMessage = (i: number, patch: Partial<PromptDraft["messages"][number]>) =>
    setDraft((d) => ({ ...d, messages: d.messages.map((m, j) => (j === i ? { ...m, ...patch } : m)) }));
  const running = run?.status === "starting" || run?.status === "running" || run?.status === "queued";
  const labels = messageLabels(draft.messages);
  const pct = run && run.total ? Math.round((100 * run.done) / run.total) : 0;
  function submit(e: FormEvent) {
    e.preventDefault();
    if (!running) void start();
  }
  const scoreNames = [...new Set(rows.flatMap((r) => Object.keys(r.scores)))].sort();

  return (
    <div className="page pg-page">
      <PageHeader
        title="Playground"
        subtitle={`${project.name} · run a prompt over a dataset, saved as an experiment`}
        actions={
          <Link className="btn" to="../prompts">
            All prompts
          </Link>
        }
      />
      {prompts.isError && <ErrorState error={prompts.error} title="Could not load the prompts" />}
      <form className="pg-grid" onSubmit={submit} aria-label="Playground">
        <section className="card pg-prompt" aria-label="Prompt">
          <div className="pg-row">
            <label className="field-label" htmlFor="pg-prompt-pick">
              Prompt
            </label>
            <select
              id="pg-prompt-pick"
              className="input"
              value={promptId ?? ""}
              onChange={(e) => {
                if (e.target.value) setSearch({ prompt: e.target.value }, { replace: true });
                else {
                  setLoaded(null);
                  setSearch({}, { replace: true });
                  setDraft({ ...EMPTY_DRAFT, model: models.data?.[0] ?? "" });
                }
              }}
            >
              <option value="">New prompt</option>
              {(prompts.data ?? []).map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </div>
          <div className="pg-row">
            <span className="pg-pair">
              <label className="field-label" htmlFor="pg-name">
                Name
              </label>
              <input id="pg-name" className="input" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} placeholder="e.g. Answer questions" />
            </span>
            <span className="pg-pair">
              <label className="field-label" htmlFor="pg-model">
                Model
              </label>
              <input id="pg-model" className="input" list="pg-models" value={draft.model} placeholder="e.g. gpt-4o-mini" onChange={(e) => {
                  const model = e.target.value;
                  setDraft((d) => ({ ...d, model }));
                }} />
            </span>
            <datalist id="pg-models">
              {concrete.map((m) => (
                <option key={m} value={m} />
              ))}
            </datalist>
          </div>
          {models.data && models.data.length === 0 && (
            <p className="muted small">No models yet: an admin adds a provider key in Settings → AI providers.</p>
          )}
          {draft.messages.map((m, i) => (
            <div key={i} className="pg-message">
              <div className="pg-row">
                <select className="input" aria-label={`Role of message ${i + 1}`} value={m.role} onChange={(e) => setMessage(i, { role: e.target.value })}>
                  <option value="system">system</option>
                  <option value="user">user</option>
                  <option value="assistant">assistant</option>
                </select>
                <button
                  type="button"
                  className="btn btn-ghost btn-sm"
                  aria-label={`Remove message ${i + 1}`}
                  onClick={() => setDraft((d) => ({ ...d, messages: d.messages.filter((_, j) => j !== i) }))}
                >
                  ✕
                </button>
              </div>
              <textarea
                className="input mono pg-text"
                aria-label={labels[i]}
                rows={3}
                value={m.content}
                onChange={(e) => setMessage(i, { content: e.target.value })}
              />
            </div>
          ))}
          <div className="pg-row">
            <button type="button" className="btn btn-sm" onClick={() => setDraft((d) => ({ ...d, messages: [...d.messages, { role: "user", content: "" }] }))}>
              + Message
            </button>
            <span className="muted small">
              Variables: {vars.length ? vars.map((v) => <code key={v}>{`{{${v}}}`} </code>) : "none"} (from each dataset row: input, expected, metadata)
            </span>
          </div>
          <label className="field-label" htmlFor="pg-params">
            Parameters (JSON)
          </label>
          <textarea id="pg-params" className="input mono pg-text" rows={2} value={draft.params} onChange={(e) => setDraft({ ...draft, params: e.target.value })} />
          <div className="pg-row">
            <button type="button" className="btn" disabled={!canWrite || save.isPending} onClick={() => save.mutate()}>
              {save.isPending ? "Saving…" : selected ? "Save as new version" : "Save prompt"}
            </button>
            {save.isSuccess && <span className="muted small">Saved version {save.data._xact_id}</span>}
          </div>
        </section>
        <section className="card pg-run" aria-label="Run">
          <div className="pg-row">
            <label className="field-label" htmlFor="pg-dataset">
              Dataset
            </label>
            <select id="pg-dataset" className="input" value={datasetId} onChange={(e) => setDatasetId(e.target.value)}>
              {(datasets.data ?? []).map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name}
                </option>
              ))}
            </select>
          </div>
          <fieldset className="pg-scorers">
            <legend className="field-label">Scorers</legend>
            {GLOBAL_SCORERS.map((s) => (
              <label key={s} className="pg-check">
                <input type="checkbox" checked={scorers.includes(s)} onChange={(e) => setScorers(e.target.checked ? [...scorers, s] : scorers.filter((x) => x !== s))} />
                {s}
              </label>
            ))}
          </fieldset>
          <div className="pg-row">
            <label className="field-label" htmlFor="pg-base">
              Compare with
            </label>
            <select id="pg-base" className="input" aria-label="Base experiment" value={base} onChange={(e) => setBase(e.target.value)}>
              <option value="">(the latest before it)</option>
              {(experiments.data ?? []).map((x) => (
                <option key={x.id} value={x.name}>
                  {x.name}
                </option>
              ))}
            </select>
          </div>
          <div className="pg-row">
            <input className="input" aria-label="Experiment name" placeholder="experiment name" value={experimentName} onChange={(e) => setExperimentName(e.target.value)} />
            {running ? (
              <button type="button" className="btn" onClick={() => abort.current?.abort()}>
                Stop watching
              </button>
            ) : (
              <button type="submit" className="btn btn-primary" disabled={!canWrite}>
                Run and save as experiment
              </button>
            )}
          </div>
          {problem && <div className="form-error" role="alert">{problem}</div>}
          {run && (
            <div className="pg-status" role="status" aria-label="Run status">
              <div className="progress" role="progressbar" aria-label="Eval progress" aria-valuenow={run.done} aria-valuemax={run.total}>
                <div className="progress-bar" style={{ width: `${pct}%` }} />
                <span className="small">
                  {run.done} / {run.total} rows{run.errored ? ` · ${run.errored} errored` : ""}
                </span>
              </div>
              <span> · {run.status}</span>
              {run.experimentName && (
                <>
                  {" "}
                  · experiment{" "}
                  <Link to={`../experiments/${encodeURIComponent(run.experimentName)}`}>{run.experimentName}</Link>
                </>
              )}
              {run.error && <div className="form-error">{run.error}</div>}
            </div>
          )}
          {!canWrite && <span className="muted small">Running evals and saving prompts needs the member role.</span>}
        </section>
      </form>
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
      {rows.length > 0 && (
        <table className="pg-results" aria-label="Results">
          <thead>
            <tr>
              <th>Input</th>
              <th>Output</th>
              <th>Expected</th>
              {scoreNames.map((s) => (
                <th key={s}>{s}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id}>
                <td className="mono">{preview(r.input, 120)}</td>
                <td className="mono">{r.error ? <span className="badge badge-error">{preview(r.error, 80)}</span> : preview(r.output, 160)}</td>
                <td className="mono">{preview(r.expected, 120)}</td>
                {scoreNames.map((s) => (
                  <td key={s}>{formatScore(r.scores[s])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
