// The intents page's facet trend (labelled traces per day and label, BTQL) and the classifier's
// improvement loop (`.../classifier/{id}/dataset | retrain | evaluate`): labelled spans made into
// a dataset, the examples retrained from corrections (and a dataset), a version evaluated on a
// labelled dataset as an experiment.

import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { useApi, useCan } from "../auth";
import { ChartView, DataRows } from "./ChartView";
import { ErrorState, Loading } from "./States";
import { formatNumber, formatScore } from "../lib/format";
import { trendQuery, type Classifier } from "../lib/intents";
import type { Row } from "../lib/charts";
import { useProject } from "../pages/ProjectScope";

const TREND_DAYS = 14;

export function Trend({ classifier }: { classifier: Classifier }) {
  const api = useApi();
  const project = useProject();
  const rows = useQuery({
    queryKey: ["facet-trend", project.id, classifier.facet],
    queryFn: async () => (await api.btql<Row>(trendQuery(project.id, classifier.facet, TREND_DAYS))).data,
  });
  return (
    <section className="card" aria-label="Trend">
      <div className="pg-row">
        <strong>{classifier.facet} trend</strong>
        <span className="muted small">labelled traces per day and label, last {TREND_DAYS} days</span>
      </div>
      {rows.isPending ? (
        <Loading what="trend" />
      ) : rows.isError ? (
        <ErrorState error={rows.error} title="Could not load the trend" />
      ) : rows.data.length === 0 ? (
        <p className="muted">No labelled traces in the last {TREND_DAYS} days.</p>
      ) : (
        <>
          <ChartView spec={{ type: "line", x: "day", series: ["traces"], units: "count", granularity: "day" }} rows={rows.data} granularity="day" height={200} />
          <details>
            <summary className="muted small">Data</summary>
            <DataRows rows={rows.data} units="count" granularity="day" />
          </details>
        </>
      )}
    </section>
  );
}

interface DatasetOut {
  dataset_id: string;
  name: string | null;
  records: number;
  by_label: Record<string, number>;
}

interface RetrainOut {
  retrained: boolean;
  previous_version: number;
  classifier: Classifier;
  corrections: number;
  dataset_records: number;
  added: number;
  already_known: number;
  unusable: number;
}

interface EvaluateOut {
  experiment_id: string;
  experiment_name: string | null;
  version: number;
  records: number;
  correct: number;
  accuracy: number | null;
  macro_f1: number | null;
  /** records that are examples of this version (what it was trained on) */
  trained_on?: number;
  exclude_training?: boolean;
  warning?: string | null;
}

const SOURCES = ["human", "model", "llm"] as const;

export function Improve({ classifier, base }: { classifier: Classifier; base: string }) {
  const api = useApi();
  const project = useProject();
  const canWrite = useCan("member");
  const queryClient = useQueryClient();
  const url = `${base}/${encodeURIComponent(classifier.id)}`;
  const datasets = useQuery({ queryKey: ["datasets", project.id], queryFn: () => api.datasets(project.id) });
  const [name, setName] = useState(`${classifier.facet} labels`);
  const [sources, setSources] = useState<string[]>(["human"]);
  const [retrainDataset, setRetrainDataset] = useState("");
  const [useCorrections, setUseCorrections] = useState(true);
  const [evalDataset, setEvalDataset] = useState("");
  const [heldOut, setHeldOut] = useState(false);
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["datasets", project.id] });
    void queryClient.invalidateQueries({ queryKey: ["classifiers"] });
  };
  const toDataset = useMutation({
    mutationFn: () => api.post<DatasetOut>(`${url}/dataset`, { name: name.trim() || undefined, sources }),
    onSuccess: (out) => {
      refresh();
      setEvalDataset(out.dataset_id);
    },
  });
  const retrain = useMutation({
    mutationFn: () => api.post<RetrainOut>(`${url}/retrain`, { corrections: useCorrections, ...(retrainDataset ? { dataset_id: retrainDataset } : {}) }),
    onSuccess: refresh,
  });
  const evaluate = useMutation({
    mutationFn: (exclude: boolean) => api.post<EvaluateOut>(`${url}/evaluate`, { dataset_id: evalDataset, exclude_training: exclude }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["experiments", project.id] }),
  });
  const dsName = (id: string) => datasets.data?.find((d) => d.id === id)?.name ?? id;
  const options = (datasets.data ?? []).map((d) => (
    <option key={d.id} value={d.id}>
      {d.name}
    </option>
  ));
  if (!canWrite)
    return (
      <section className="card" aria-label="Improve">
        <strong>Improve the classifier</strong>
        <p className="muted">Members and above make datasets from labels, retrain and evaluate.</p>
      </section>
    );
  return (
    <section className="card improve" aria-label="Improve">
      <div className="pg-row">
        <strong>Improve the classifier</strong>
        <span className="muted small">labels → dataset → retrain → evaluate (version {classifier.version})</span>
      </div>
      <div className="improve-step" role="group" aria-label="Dataset from labels">
        <h4>1 · Dataset from labels</h4>
        <div className="pg-row">
          <input className="input" aria-label="New dataset name" value={name} onChange={(e) => setName(e.target.value)} />
          {SOURCES.map((s) => (
            <label className="pg-check" key={s}>
              <input
                type="checkbox"
                aria-label={`Labels by ${s}`}
                checked={sources.includes(s)}
                onChange={(e) => setSources((cur) => (e.target.checked ? [...cur, s] : cur.filter((x) => x !== s)))}
              />{" "}
              {s}
            </label>
          ))}
          <button type="button" className="btn" disabled={toDataset.isPending || sources.length === 0} onClick={() => toDataset.mutate()}>
            {toDataset.isPending ? "Making…" : "Make dataset"}
          </button>
        </div>
        {toDataset.error && <ErrorState error={toDataset.error} title="No dataset was made" />}
        {toDataset.data && (
          <p role="status">
            {formatNumber(toDataset.data.records)} labelled spans →{" "}
            <Link to={`../datasets/${encodeURIComponent(toDataset.data.name ?? toDataset.data.dataset_id)}`}>{toDataset.data.name}</Link>{" "}
            <span className="muted small">
              ({Object.entries(toDataset.data.by_label)
                .map(([l, n]) => `${l}: ${n}`)
                .join(", ")}
              )
            </span>
          </p>
        )}
      </div>
      <div className="improve-step" role="group" aria-label="Retrain">
        <h4>2 · Retrain</h4>
        <div className="pg-row">
          <label className="pg-check">
            <input type="checkbox" checked={useCorrections} onChange={(e) => setUseCorrections(e.target.checked)} /> from corrections
          </label>
          <select className="input" aria-label="Retrain from dataset" value={retrainDataset} onChange={(e) => setRetrainDataset(e.target.value)}>
            <option value="">and no dataset</option>
            {options}
          </select>
          <button type="button" className="btn" disabled={retrain.isPending} onClick={() => retrain.mutate()}>
            {retrain.isPending ? "Retraining…" : "Retrain"}
          </button>
        </div>
        {retrain.error && <ErrorState error={retrain.error} title="Retraining was refused" />}
        {retrain.data && (
          <p role="status">
            {retrain.data.retrained
              ? `Version ${retrain.data.classifier.version}: ${retrain.data.added} new examples (from ${retrain.data.corrections} corrections, ${retrain.data.dataset_records} dataset records).`
              : `Nothing new to learn: version ${retrain.data.previous_version} stays (${retrain.data.already_known} examples already known).`}
          </p>
        )}
      </div>
      <div className="improve-step" role="group" aria-label="Evaluate">
        <h4>3 · Evaluate</h4>
        <div className="pg-row">
          <select className="input" aria-label="Evaluate on dataset" value={evalDataset} onChange={(e) => setEvalDataset(e.target.value)}>
            <option value="">choose a labelled dataset…</option>
            {options}
          </select>
          <label className="pg-check" title="Records whose text is one of this version's examples say nothing about how it labels new spans">
            <input type="checkbox" checked={heldOut} onChange={(e) => setHeldOut(e.target.checked)} /> leave out its training examples
          </label>
          <button type="button" className="btn" disabled={evaluate.isPending || !evalDataset} onClick={() => evaluate.mutate(heldOut)}>
            {evaluate.isPending ? "Evaluating…" : `Evaluate version ${classifier.version}`}
          </button>
        </div>
        {evaluate.error && <ErrorState error={evaluate.error} title="The evaluation was refused" />}
        {evaluate.data && (
          <p role="status">
            Version {evaluate.data.version} on {dsName(evalDataset)}: accuracy {formatScore(evaluate.data.accuracy)} ({evaluate.data.correct}/{evaluate.data.records}), macro F1{" "}
            {formatScore(evaluate.data.macro_f1)} →{" "}
            <Link to={`../experiments/${encodeURIComponent(evaluate.data.experiment_name ?? evaluate.data.experiment_id)}`}>{evaluate.data.experiment_name}</Link>
          </p>
        )}
        {evaluate.data?.warning && (
          <div className="notice notice-warn" role="alert" aria-label="Evaluated on training data">
            {evaluate.data.exclude_training ? "Held out: " : "Trained on these: "}
            {evaluate.data.warning}.
            {!evaluate.data.exclude_training && (
              <span className="notice-actions">
                <button
                  type="button"
                  className="btn btn-sm"
                  disabled={evaluate.isPending}
                  onClick={() => {
                    setHeldOut(true);
                    evaluate.mutate(true);
                  }}
                >
                  Evaluate on the records it has not seen
                </button>
              </span>
            )}
          </div>
        )}
      </div>
    </section>
  );
}
