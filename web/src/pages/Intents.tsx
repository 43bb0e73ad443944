// Intents (the classifier) of a project: the taxonomy (labels, descriptions, examples) viewed and
// edited (each save is a new version), the label distribution with its week-over-week change and
// blast radius (`.../stats`), its trend per day, discovery proposals with Accept, correcting a
// span's label, and the improvement loop (dataset from labels, retrain, evaluate); one facet (one
// classifier) at a time, chosen in the header (`?facet=`).

import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useApi, useCan } from "../auth";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatNumber, formatScore, preview } from "../lib/format";
import { chosenFacet, examplesFromText, formatShareChange, labelsForSave, recentSpansQuery, requestText, spanLabel, type Classifier, type Label } from "../lib/intents";
import { Improve, Trend } from "../components/ClassifierLoop";
import { useProject } from "./ProjectScope";

interface LabelStat {
  label: string;
  current: number;
  previous: number;
  current_share: number;
  previous_share: number;
  share_change: number;
  failed: number;
  error_rate: number | null;
  blast_radius: number;
}

interface Stats {
  days: number;
  classified_traces: { current: number; previous: number };
  unclassified_traces: { current: number; previous: number };
  labels: LabelStat[];
}

interface Proposal {
  name: string;
  description: string;
  keywords: string[];
  size: number;
  share: number;
  examples: string[];
}

function Taxonomy({ classifier, base }: { classifier: Classifier; base: string }) {
  const api = useApi();
  const canWrite = useCan("member");
  const queryClient = useQueryClient();
  const [labels, setLabels] = useState<Label[]>(classifier.labels);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => setLabels(classifier.labels), [classifier.id, classifier.version]); // eslint-disable-line react-hooks/exhaustive-deps
  const save = useMutation({
    mutationFn: () => api.patch<Classifier>(`${base}/${encodeURIComponent(classifier.id)}`, { labels: labelsForSave(labels) }),
    onSuccess: () => {
      setProblem(null);
      void queryClient.invalidateQueries({ queryKey: ["classifiers"] });
    },
    onError: (e) => setProblem(e.message),
  });
  const set = (i: number, patch: Partial<Label>) => setLabels((ls) => ls.map((l, j) => (j === i ? { ...l, ...patch } : l)));
  return (
    <section className="card" aria-label="Taxonomy">
      <div className="pg-row">
        <strong>Taxonomy</strong>
        <span className="muted small">
          facet {classifier.facet} · version {classifier.version} · below {classifier.threshold} confidence a span is “other”
        </span>
      </div>
      <table className="simple-table">
        <thead>
          <tr>
            <th>Label</th>
            <th>Description</th>
            <th>Examples (one per line)</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {labels.map((l, i) => (
            <tr key={i}>
              <td>
                <input className="input" aria-label={`Label ${i + 1} name`} value={l.name} disabled={!canWrite} onChange={(e) => set(i, { name: e.target.value })} />
              </td>
              <td>
                <textarea className="input pg-text" rows={2} aria-label={`Label ${i + 1} description`} value={l.description} disabled={!canWrite} onChange={(e) => set(i, { description: e.target.value })} />
              </td>
              <td>
                <textarea
                  className="input pg-text mono"
                  rows={2}
                  aria-label={`Label ${i + 1} examples`}
                  value={l.examples.join("\n")}
                  disabled={!canWrite}
                  onChange={(e) => set(i, { examples: examplesFromText(e.target.value) })}
                />
              </td>
              <td>
                {canWrite && (
                  <button type="button" className="btn btn-ghost btn-sm" aria-label={`Remove label ${l.name || i + 1}`} onClick={() => setLabels((ls) => ls.filter((_, j) => j !== i))}>
                    ✕
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && (
        <div className="pg-row">
          <button type="button" className="btn btn-sm" onClick={() => setLabels((ls) => [...ls, { name: "", description: "", examples: [] }])}>
            + Label
          </button>
          <button
            type="button"
            className="btn btn-primary"
            disabled={save.isPending}
            onClick={() => {
              try {
                labelsForSave(labels);
                save.mutate();
              } catch (e) {
                setProblem((e as Error).message);
              }
            }}
          >
            Save taxonomy
          </button>
        </div>
      )}
      {problem && <div className="form-error" role="alert">{problem}</div>}
    </section>
  );
}

function Distribution({ classifier, base }: { classifier: Classifier; base: string }) {
  const api = useApi();
  const stats = useQuery({
    queryKey: ["classifier-stats", classifier.id, classifier.version],
    queryFn: () => api.get<Stats>(`${base}/${encodeURIComponent(classifier.id)}/stats?days=7`),
  });
  if (stats.isPending) return <Loading what="label distribution" />;
  if (stats.isError) return <ErrorState error={stats.error} title="Could not load the label distribution" />;
  const s = stats.data;
  return (
    <section className="card" aria-label="Distribution">
      <div className="pg-row">
        <strong>Label distribution, last {s.days} days against the {s.days} before</strong>
        <span className="muted small">
          {formatNumber(s.classified_traces.current)} classified traces (the week before: {formatNumber(s.classified_traces.previous)}) ·{" "}
          {formatNumber(s.unclassified_traces.current)} not yet classified
        </span>
      </div>
      {s.labels.length === 0 ? (
        <p className="muted">No labelled traces in this window yet.</p>
      ) : (
        <>
          <div style={{ height: 200 }}>
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={s.labels.map((l) => ({ label: l.label, "this week": l.current, "week before": l.previous }))}>
                <CartesianGrid strokeDasharray="3 3" vertical={false} />
                <XAxis dataKey="label" fontSize={12} />
                <YAxis fontSize={12} allowDecimals={false} />
                <Tooltip />
                <Bar dataKey="week before" fill="#c7d2fe" isAnimationActive={false} />
                <Bar dataKey="this week" fill="#4f46e5" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
          <table className="simple-table" aria-label="Labels">
            <thead>
              <tr>
                <th>Label</th>
                <th>Traces</th>
                <th>Share</th>
                <th>Week over week</th>
                <th>Failed</th>
                <th>Error rate</th>
                <th>Blast radius</th>
              </tr>
            </thead>
            <tbody>
              {s.labels.map((l) => (
                <tr key={l.label}>
                  <td className="strong">{l.label}</td>
                  <td>
                    {formatNumber(l.current)} <span className="muted small">(was {formatNumber(l.previous)})</span>
                  </td>
                  <td>{formatScore(l.current_share)}</td>
                  <td>{formatShareChange(l.share_change)}</td>
                  <td>{formatNumber(l.failed)}</td>
                  <td>{l.error_rate == null ? "—" : formatScore(l.error_rate)}</td>
                  <td>{l.blast_radius.toFixed(3)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function Discovery({ classifier, base }: { classifier: Classifier; base: string }) {
  const api = useApi();
  const canWrite = useCan("member");
  const queryClient = useQueryClient();
  const url = `${base}/${encodeURIComponent(classifier.id)}`;
  const discover = useMutation({ mutationFn: () => api.post<{ proposals: Proposal[]; spans: number; source: string }>(`${url}/discover`, {}) });
  const accept = useMutation({
    mutationFn: (p: Proposal) => api.post(`${url}/accept`, { name: p.name, description: p.description, examples: p.examples.slice(0, 20) }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["classifiers"] }),
  });
  const accepted = new Set(classifier.labels.map((l) => l.name));
  return (
    <section className="card" aria-label="Discovery">
      <div className="pg-row">
        <strong>Discovery</strong>
        <span className="muted small">clusters the spans labelled “other” into proposed labels</span>
        {canWrite && (
          <button type="button" className="btn" disabled={discover.isPending} onClick={() => discover.mutate()}>
            {discover.isPending ? "Discovering…" : "Discover labels"}
          </button>
        )}
      </div>
      {discover.error && <ErrorState error={discover.error} title="Discovery failed" />}
      {accept.error && <ErrorState error={accept.error} title="The label was refused" />}
      {discover.data &&
        (discover.data.proposals.length === 0 ? (
          <p className="muted">No proposals from {discover.data.spans} spans ({discover.data.source}).</p>
        ) : (
          <table className="simple-table" aria-label="Proposals">
            <thead>
              <tr>
                <th>Proposed label</th>
                <th>Spans</th>
                <th>Keywords</th>
                <th>Examples</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {discover.data.proposals.map((p) => (
                <tr key={p.name}>
                  <td className="strong">{p.name}</td>
                  <td>
                    {p.size} ({formatScore(p.share)})
                  </td>
                  <td>{p.keywords.join(", ")}</td>
                  <td className="small">{p.examples.slice(0, 3).join(" · ")}</td>
                  <td>
                    {accepted.has(p.name) ? (
                      <span className="badge">accepted</span>
                    ) : (
                      canWrite && (
                        <button type="button" className="btn btn-sm btn-primary" aria-label={`Accept ${p.name}`} onClick={() => accept.mutate(p)}>
                          Accept
                        </button>
                      )
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}

function RecentSpans({ classifier, base }: { classifier: Classifier; base: string }) {
  const api = useApi();
  const project = useProject();
  const canWrite = useCan("member");
  const queryClient = useQueryClient();
  const spans = useQuery({
    queryKey: ["intent-spans", project.id],
    queryFn: async () => (await api.btql<{ id: string; input: unknown; classifications: unknown }>(recentSpansQuery(project.id))).data,
  });
  const [choice, setChoice] = useState<Record<string, string>>({});
  // a correction shows at once: the label write reaches the logs a moment after the answer
  const [corrected, setCorrected] = useState<Record<string, string>>({});
  const correct = useMutation({
    mutationFn: ({ id, label }: { id: string; label: string }) =>
      api.post(`${base}/${encodeURIComponent(classifier.id)}/label`, { span_id: id, label }),
    onSuccess: (_, { id, label }) => {
      setCorrected((c) => ({ ...c, [id]: label }));
      void queryClient.invalidateQueries({ queryKey: ["intent-spans", project.id] });
      void queryClient.invalidateQueries({ queryKey: ["classifier-stats"] });
    },
  });
  const names = [...classifier.labels.map((l) => l.name), "other"];
  return (
    <section className="card" aria-label="Recent spans">
      <strong>Recent traces and their labels</strong>
      {correct.error && <ErrorState error={correct.error} title="The correction was refused" />}
      {spans.isPending ? (
        <Loading what="spans" />
      ) : spans.isError ? (
        <ErrorState error={spans.error} title="Could not load the spans" />
      ) : (
        <table className="simple-table" aria-label="Spans">
          <thead>
            <tr>
              <th>Input</th>
              <th>Label</th>
              <th>Correct to</th>
            </tr>
          </thead>
          <tbody>
            {spans.data.map((s) => {
              const cur = corrected[s.id] ? { label: corrected[s.id], confidence: 1, source: "human" } : spanLabel(s.classifications, classifier.facet);
              const picked = choice[s.id] ?? cur.label ?? "";
              return (
                <tr key={s.id}>
                  <td title={preview(s.input, 2000)}>{preview(requestText(s.input), 140)}</td>
                  <td>
                    {cur.label ?? <span className="muted">not yet</span>}{" "}
                    {cur.source && <span className={`badge${cur.source === "human" ? "" : " muted"}`}>{cur.source}</span>}
                  </td>
                  <td>
                    {canWrite && (
                      <span className="pg-row">
                        <select className="input" aria-label={`Label for ${s.id}`} value={picked} onChange={(e) => setChoice({ ...choice, [s.id]: e.target.value })}>
                          <option value="" disabled>
                            choose…
                          </option>
                          {names.map((n) => (
                            <option key={n}>{n}</option>
                          ))}
                        </select>
                        <button
                          type="button"
                          className="btn btn-sm"
                          aria-label={`Correct label of ${s.id}`}
                          disabled={!picked || picked === cur.label || correct.isPending}
                          onClick={() => correct.mutate({ id: s.id, label: picked })}
                        >
                          Correct
                        </button>
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Choose the facet the page shows (`?facet=`), or add a facet (a classifier of its own). */
function FacetPicker({ classifiers, current, base }: { classifiers: Classifier[]; current: Classifier; base: string }) {
  const api = useApi();
  const canWrite = useCan("member");
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const [adding, setAdding] = useState(false);
  const [facet, setFacet] = useState("");
  const pick = (f: string) => {
    const next = new URLSearchParams(params);
    next.set("facet", f);
    setParams(next);
  };
  const create = useMutation({
    mutationFn: () => api.post<Classifier>(base, { facet: facet.trim(), labels: [] }),
    onSuccess: async (c) => {
      await queryClient.invalidateQueries({ queryKey: ["classifiers"] });
      setAdding(false);
      setFacet("");
      pick(c.facet);
    },
  });
  return (
    <div className="pg-row facet-picker">
      <label className="pg-row">
        <span className="muted small">Facet</span>
        <select className="input" aria-label="Facet" value={current.facet} onChange={(e) => pick(e.target.value)}>
          {[...classifiers]
            .sort((x, y) => x.facet.localeCompare(y.facet))
            .map((c) => (
              <option key={c.id} value={c.facet}>
                {c.facet}
              </option>
            ))}
        </select>
      </label>
      {canWrite &&
        (adding ? (
          <form
            className="pg-row"
            aria-label="New facet"
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate();
            }}
          >
            <input className="input" aria-label="Facet name" placeholder="e.g. Sentiment" value={facet} onChange={(e) => setFacet(e.target.value)} required />
            <button className="btn btn-primary" disabled={create.isPending}>
              Create facet
            </button>
            <button type="button" className="btn btn-ghost" onClick={() => setAdding(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <button type="button" className="btn btn-sm" onClick={() => setAdding(true)}>
            + Facet
          </button>
        ))}
      {create.error && <span className="form-error small">{create.error.message}</span>}
    </div>
  );
}

export default function Intents() {
  const project = useProject();
  const api = useApi();
  const canWrite = useCan("member");
  const queryClient = useQueryClient();
  const [params] = useSearchParams();
  const base = `/v1/project/${encodeURIComponent(project.id)}/classifier`;
  const list = useQuery({ queryKey: ["classifiers", project.id], queryFn: async () => (await api.get<{ objects: Classifier[] }>(base)).objects });
  const create = useMutation({
    mutationFn: () => api.post<Classifier>(base, { facet: "Intent", labels: [] }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["classifiers"] }),
  });
  const classifier = chosenFacet(list.data ?? [], params.get("facet"));
  return (
    <div className="page intents">
      <PageHeader
        title="Intents"
        subtitle={`${project.name} · what users ask for, labelled as spans arrive`}
        actions={classifier && list.data ? <FacetPicker classifiers={list.data} current={classifier} base={base} /> : undefined}
      />
      {list.isPending ? (
        <Loading what="classifier" />
      ) : list.isError ? (
        <ErrorState error={list.error} title="Could not load the classifier" />
      ) : !classifier ? (
        <Empty title="No intent classifier yet">
          <p>Create one, then add labels (or discover them from the logs).</p>
          {canWrite && (
            <button type="button" className="btn btn-primary" onClick={() => create.mutate()}>
              Create the Intent classifier
            </button>
          )}
          {create.error && <ErrorState error={create.error} title="Could not create it" />}
        </Empty>
      ) : (
        <div className="intents-stack" key={classifier.id}>
          <Distribution classifier={classifier} base={base} />
          <Trend classifier={classifier} />
          <Taxonomy classifier={classifier} base={base} />
          <Improve classifier={classifier} base={base} />
          <Discovery classifier={classifier} base={base} />
          <RecentSpans classifier={classifier} base={base} />
        </div>
      )}
    </div>
  );
}
