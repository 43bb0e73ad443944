// Online scoring rules of a project (`/v1/project_score`, score_type "online"): list with each
// rule's status (state, pending, lag, counters), create (admins), pause and resume.

import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi, useCan } from "../auth";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatNumber } from "../lib/format";
import { GLOBAL_SCORERS } from "../lib/playground";
import { useProject } from "./ProjectScope";

interface OnlineConfig {
  sampling_rate: number;
  scorers: { type: string; name?: string; id?: string }[];
  btql_filter?: string | null;
  apply_to_root_span?: boolean;
  status?: string;
}

interface ProjectScore {
  id: string;
  name: string;
  score_type: string;
  config?: { online?: OnlineConfig | null } | null;
}

interface RuleStatus {
  state: string;
  pending: number;
  lag_seconds: number;
  counters: Record<string, number>;
  spend_today_usd: number;
  recent_errors?: unknown[];
}

function RuleRow({ rule, canAdmin }: { rule: ProjectScore; canAdmin: boolean }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const status = useQuery({
    queryKey: ["rule-status", rule.id],
    queryFn: () => api.get<RuleStatus>(`/v1/project_score/${encodeURIComponent(rule.id)}/status`),
    refetchInterval: 5_000,
  });
  const online = rule.config?.online;
  const paused = online?.status === "paused";
  const toggle = useMutation({
    mutationFn: () => api.patch(`/v1/project_score/${encodeURIComponent(rule.id)}`, { config: { online: { status: paused ? "active" : "paused" } } }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["online-rules"] });
      void queryClient.invalidateQueries({ queryKey: ["rule-status", rule.id] });
    },
  });
  const s = status.data;
  return (
    <tr>
      <td className="strong">{rule.name}</td>
      <td>{(online?.scorers ?? []).map((x) => x.name ?? x.id).join(", ")}</td>
      <td>{online ? `${Math.round(online.sampling_rate * 100)}%` : "—"}</td>
      <td className="mono">{online?.btql_filter || "all spans"}</td>
      <td>
        <span className={`badge${s?.state === "active" ? "" : " badge-error"}`}>{s?.state ?? (status.isError ? "unknown" : "…")}</span>
      </td>
      <td>{s ? formatNumber(s.pending) : "…"}</td>
      <td>{s ? `${s.lag_seconds.toFixed(1)} s` : "…"}</td>
      <td>{s ? formatNumber(s.counters.scored ?? 0) : "…"}</td>
      <td>{s ? formatNumber(s.counters.errors ?? 0) : "…"}</td>
      <td>{s ? `$${s.spend_today_usd.toFixed(4)}` : "…"}</td>
      <td>
        {canAdmin && (
          <button type="button" className="btn btn-sm" disabled={toggle.isPending} onClick={() => toggle.mutate()} aria-label={`${paused ? "Resume" : "Pause"} ${rule.name}`}>
            {paused ? "Resume" : "Pause"}
          </button>
        )}
      </td>
    </tr>
  );
}

export default function OnlineScoring() {
  const project = useProject();
  const api = useApi();
  const canAdmin = useCan("admin");
  const queryClient = useQueryClient();
  const rules = useQuery({
    queryKey: ["online-rules", project.id],
    queryFn: async () =>
      (await api.get<{ objects: ProjectScore[] }>(`/v1/project_score?project_id=${encodeURIComponent(project.id)}&score_type=online`)).objects,
  });
  const [name, setName] = useState("");
  const [scorer, setScorer] = useState("ValidJSON");
  const [rate, setRate] = useState("1");
  const [filter, setFilter] = useState("");
  const [rootOnly, setRootOnly] = useState(true);
  const create = useMutation({
    mutationFn: () =>
      api.post<ProjectScore>("/v1/project_score", {
        project_id: project.id,
        name: name.trim(),
        score_type: "online",
        config: {
          online: {
            sampling_rate: Number(rate),
            scorers: [{ type: "global", name: scorer }],
            apply_to_root_span: rootOnly,
            ...(filter.trim() ? { btql_filter: filter.trim() } : {}),
          },
        },
      }),
    onSuccess: () => {
      setName("");
      setFilter("");
      void queryClient.invalidateQueries({ queryKey: ["online-rules", project.id] });
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  return (
    <div className="page">
      <PageHeader title="Online scoring" subtitle={`${project.name} · production logs scored as they arrive`} />
      {canAdmin ? (
        <form className="card settings-form" onSubmit={submit} aria-label="Add a rule">
          <input className="input" aria-label="Rule name" placeholder="rule name" value={name} onChange={(e) => setName(e.target.value)} required />
          <select className="input" aria-label="Scorer" value={scorer} onChange={(e) => setScorer(e.target.value)}>
            {GLOBAL_SCORERS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
          <input className="input" aria-label="Sampling rate" type="number" min="0" max="1" step="0.01" value={rate} onChange={(e) => setRate(e.target.value)} />
          <input className="input mono" aria-label="BTQL filter" placeholder="BTQL filter (optional), e.g. span_attributes.name = 'chat'" value={filter} onChange={(e) => setFilter(e.target.value)} />
          <label className="pg-check">
            <input type="checkbox" checked={rootOnly} onChange={(e) => setRootOnly(e.target.checked)} /> root spans only
          </label>
          <button className="btn btn-primary" disabled={create.isPending}>
            Add rule
          </button>
        </form>
      ) : (
        <p className="muted">Only admins add, pause or resume rules.</p>
      )}
      {create.error && <ErrorState error={create.error} title="The rule was refused" />}
      {rules.isPending ? (
        <Loading what="rules" />
      ) : rules.isError ? (
        <ErrorState error={rules.error} title="Could not load the rules" />
      ) : rules.data.length === 0 ? (
        <Empty title="No online scoring rules">
          <p>A rule scores a sample of this project's logs with a scorer as they are logged.</p>
        </Empty>
      ) : (
        <table className="simple-table" aria-label="Rules">
          <thead>
            <tr>
              <th>Rule</th>
              <th>Scorers</th>
              <th>Sampled</th>
              <th>Filter</th>
              <th>State</th>
              <th>Pending</th>
              <th>Lag</th>
              <th>Scored</th>
              <th>Errors</th>
              <th>Spend today</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rules.data.map((r) => (
              <RuleRow key={r.id} rule={r} canAdmin={canAdmin} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
