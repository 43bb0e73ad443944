// Online scoring rules of a project (`/v1/project_score`, score_type "online"): list with each
// rule's status (state, pending, lag, counters); admins create, edit, pause, resume and delete
// rules: scorers (autoevals built-ins or the project's scorer functions, by slug), sampling, span
// or trace scope, root spans / span names, a BTQL filter checked as you type, a daily spend cap.

import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi, useCan } from "../auth";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatNumber } from "../lib/format";
import { BtqlEditor } from "../components/BtqlEditor";
import type { BtqlValidation } from "../lib/api";
import {
  MAX_GROUP_TRACES,
  MAX_IDLE_SECONDS,
  NEW_RULE,
  appliesTo,
  filterValidationQuery,
  formOf,
  ruleBody,
  scorerLabel,
  type ProjectScore,
  type RuleForm,
  type ScorerFunction,
} from "../lib/onlineRules";
import { GLOBAL_SCORERS } from "../lib/playground";
import { useProject } from "./ProjectScope";

interface RuleStatus {
  state: string;
  pending: number;
  lag_seconds: number;
  counters: Record<string, number>;
  spend_today_usd: number;
  recent_errors?: unknown[];
}

/** The scorer choices: autoevals built-ins and the project's scorer functions (by slug). */
function ScorerOptions({ functions }: { functions: ScorerFunction[] }) {
  return (
    <>
      <optgroup label="Built-in (autoevals)">
        {GLOBAL_SCORERS.map((s) => (
          <option key={s} value={`global:${s}`}>
            {s}
          </option>
        ))}
      </optgroup>
      <optgroup label="Project scorers">
        {functions.length === 0 && (
          <option value="" disabled>
            none yet (push one with the SDK)
          </option>
        )}
        {functions.map((f) => (
          <option key={f.id} value={`function:${f.id}`}>
            {f.slug}
          </option>
        ))}
      </optgroup>
    </>
  );
}

/** A narrow whole-number input (kept as typed text; `ruleBody` checks it). */
function WholeNumber({ label, min, max, value, onChange }: { label: string; min: number; max: number; value: string; onChange: (v: string) => void }) {
  return <input className="input input-narrow" aria-label={label} type="number" min={min} max={max} step="1" value={value} onChange={(e) => onChange(e.target.value)} />;
}

/** The filter's live check: the compiler's message (and where), or what the filter reads. */
function FilterCheck({ check }: { check: BtqlValidation | null }) {
  if (!check) return <span className="muted small">No filter: every span the rule applies to.</span>;
  if (check.valid) return <span className="filter-ok small">✓ a valid filter over this project's logs</span>;
  const where = check.error.line != null ? ` (line ${check.error.line}, column ${check.error.column})` : "";
  return (
    <span className="form-error small" role="alert">
      {check.error.class}: {check.error.message}
      {where}
    </span>
  );
}

/** The add / edit form of a rule: every field of `config.online`. */
function RuleEditor({
  title,
  initial,
  functions,
  submitLabel,
  onSubmit,
  onCancel,
  pending,
}: {
  title: string;
  initial: RuleForm;
  functions: ScorerFunction[];
  submitLabel: string;
  onSubmit: (body: RuleForm) => void;
  onCancel?: () => void;
  pending: boolean;
}) {
  const api = useApi();
  const project = useProject();
  const [form, setForm] = useState<RuleForm>(initial);
  const [check, setCheck] = useState<BtqlValidation | null>(null);
  const set = (patch: Partial<RuleForm>) => setForm((f) => ({ ...f, ...patch }));
  const setScorer = (i: number, key: string) => set({ scorers: form.scorers.map((s, j) => (j === i ? key : s)) });
  function submit(e?: FormEvent) {
    e?.preventDefault();
    onSubmit(form);
  }
  const trace = form.scope !== "span";
  const group = form.scope === "group";
  const unused = [...GLOBAL_SCORERS.map((s) => `global:${s}`), ...functions.map((f) => `function:${f.id}`)].find((k) => !form.scorers.includes(k));
  return (
    <form className="card rule-form" onSubmit={submit} aria-label={title}>
      <h3 className="rule-form-title">{title}</h3>
      <label className="field">
        <span>Name</span>
        <input className="input" aria-label="Rule name" placeholder="rule name" value={form.name} onChange={(e) => set({ name: e.target.value })} required />
      </label>
      <div className="field">
        <span>Scorers</span>
        <div className="rule-scorers">
          {form.scorers.map((key, i) => (
            <span key={i} className="rule-scorer">
              <select className="input" aria-label={i === 0 ? "Scorer" : `Scorer ${i + 1}`} value={key} onChange={(e) => setScorer(i, e.target.value)}>
                <ScorerOptions functions={functions} />
              </select>
              {form.scorers.length > 1 && (
                <button type="button" className="btn btn-sm btn-ghost" aria-label={`Remove scorer #${i + 1}`} onClick={() => set({ scorers: form.scorers.filter((_, j) => j !== i) })}>
                  ✕
                </button>
              )}
            </span>
          ))}
          {unused && (
            <button type="button" className="btn btn-sm" onClick={() => set({ scorers: [...form.scorers, unused] })}>
              + Scorer
            </button>
          )}
        </div>
      </div>
      <label className="field">
        <span>Sampling rate</span>
        <input className="input input-rate" aria-label="Sampling rate" type="number" min="0" max="1" step="0.01" value={form.rate} onChange={(e) => set({ rate: e.target.value })} />
      </label>
      <div className="field">
        <span>Scope</span>
        <div className="rule-inline">
          <select className="input" aria-label="Scope" value={form.scope} onChange={(e) => set({ scope: e.target.value as RuleForm["scope"] })}>
            <option value="span">Each span, as it ends</option>
            <option value="trace">The whole trace, once it is idle</option>
            <option value="group">A group of traces (e.g. a session), once it is quiet</option>
          </select>
          {trace && (
            <label className="rule-inline">
              idle for
              <WholeNumber label="Idle seconds" min={0} max={MAX_IDLE_SECONDS} value={form.idleSeconds} onChange={(idleSeconds) => set({ idleSeconds })} />
              s
            </label>
          )}
        </div>
      </div>
      {group && (
        <div className="field">
          <span>Group</span>
          <div className="rule-inline">
            <input
              className="input mono"
              aria-label="Group by"
              placeholder="root span field, e.g. metadata.session_id"
              value={form.groupBy}
              onChange={(e) => set({ groupBy: e.target.value })}
            />
            <label className="rule-inline">
              at most
              <WholeNumber label="Max traces" min={1} max={MAX_GROUP_TRACES} value={form.maxTraces} onChange={(maxTraces) => set({ maxTraces })} />
              traces
            </label>
            <select className="input input-auto" aria-label="Placement" value={form.placement} onChange={(e) => set({ placement: e.target.value as RuleForm["placement"] })}>
              <option value="first">score on the first root span</option>
              <option value="each">score on every root span</option>
            </select>
          </div>
        </div>
      )}
      <div className="field">
        <span>Spans</span>
        {trace ? (
          <span className="muted small">
            {group
              ? "A group is scored once, with its root spans' inputs and outputs (the filter keeps the root spans it matches)."
              : "A trace is scored once, on its root span (the filter applies to the root span)."}
          </span>
        ) : (
          <div className="rule-inline">
            <label className="pg-check">
              <input type="checkbox" checked={form.rootOnly} onChange={(e) => set({ rootOnly: e.target.checked })} /> root spans
            </label>
            <input
              className="input"
              aria-label="Span names"
              placeholder="and/or spans named (comma-separated), e.g. llm, retrieve"
              value={form.spanNames}
              onChange={(e) => set({ spanNames: e.target.value })}
            />
          </div>
        )}
      </div>
      <div className="field field-wide">
        <span>Filter</span>
        <div>
          <BtqlEditor
            api={api}
            initial={form.filter}
            label="BTQL filter"
            onChange={(filter) => set({ filter })}
            onRun={() => submit()}
            onValidated={setCheck}
            validate={(text) => api.validateBtql(filterValidationQuery(text, project.id))}
          />
          <FilterCheck check={form.filter.trim() ? check : null} />
        </div>
      </div>
      <label className="field">
        <span>Daily spend cap</span>
        <span className="rule-inline">
          $
          <input
            className="input input-narrow"
            aria-label="Daily spend cap (USD)"
            type="number"
            min="0"
            step="0.01"
            placeholder="no cap"
            value={form.cap}
            onChange={(e) => set({ cap: e.target.value })}
          />
          <span className="muted small">a day (UTC); scoring pauses until midnight once the scorers cost this much</span>
        </span>
      </label>
      <label className="field">
        <span>Logging</span>
        <span className="pg-check">
          <input type="checkbox" checked={form.skipLogging} onChange={(e) => set({ skipLogging: e.target.checked })} /> skip scorer spans (write only the scores)
        </span>
      </label>
      <div className="rule-form-actions">
        <button className="btn btn-primary" disabled={pending}>
          {submitLabel}
        </button>
        {onCancel && (
          <button type="button" className="btn btn-ghost" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function RuleRow({ rule, canAdmin, functions, onEdit }: { rule: ProjectScore; canAdmin: boolean; functions: ScorerFunction[]; onEdit: () => void }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const status = useQuery({
    queryKey: ["rule-status", rule.id],
    queryFn: () => api.get<RuleStatus>(`/v1/project_score/${encodeURIComponent(rule.id)}/status`),
    refetchInterval: 5_000,
  });
  const online = rule.config?.online;
  const paused = online?.status === "paused";
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["online-rules"] });
    void queryClient.invalidateQueries({ queryKey: ["rule-status", rule.id] });
  };
  const toggle = useMutation({
    mutationFn: () => api.patch(`/v1/project_score/${encodeURIComponent(rule.id)}`, { config: { online: { status: paused ? "active" : "paused" } } }),
    onSuccess: refresh,
  });
  const remove = useMutation({ mutationFn: () => api.delete(`/v1/project_score/${encodeURIComponent(rule.id)}`), onSuccess: refresh });
  const s = status.data;
  return (
    <tr>
      <td className="strong">{rule.name}</td>
      <td>{(online?.scorers ?? []).map((x) => scorerLabel(x, functions)).join(", ")}</td>
      <td>{online ? `${Math.round(online.sampling_rate * 100)}%` : "—"}</td>
      <td>{online ? appliesTo(online) : "—"}</td>
      <td className="mono">{online?.btql_filter || "—"}</td>
      <td>
        <span className={`badge${s?.state === "active" ? "" : " badge-error"}`}>{s?.state ?? (status.isError ? "unknown" : "…")}</span>
      </td>
      <td>{s ? formatNumber(s.pending) : "…"}</td>
      <td>{s ? `${s.lag_seconds.toFixed(1)} s` : "…"}</td>
      <td>{s ? formatNumber(s.counters.scored ?? 0) : "…"}</td>
      <td>{s ? formatNumber(s.counters.errors ?? 0) : "…"}</td>
      <td>{s ? `$${s.spend_today_usd.toFixed(4)}` : "…"}</td>
      <td>
        <span className="row-actions">
          {canAdmin && (
            <>
              <button type="button" className="btn btn-sm" disabled={toggle.isPending} onClick={() => toggle.mutate()} aria-label={`${paused ? "Resume" : "Pause"} ${rule.name}`}>
                {paused ? "Resume" : "Pause"}
              </button>
              <button type="button" className="btn btn-sm" onClick={onEdit} aria-label={`Edit ${rule.name}`}>
                Edit
              </button>
              <button
                type="button"
                className="btn btn-sm btn-danger"
                disabled={remove.isPending}
                aria-label={`Delete ${rule.name}`}
                onClick={() => window.confirm(`Delete the rule “${rule.name}”? Spans already scored keep their scores.`) && remove.mutate()}
              >
                Delete
              </button>
            </>
          )}
          {(toggle.error ?? remove.error) && <span className="form-error small">{(toggle.error ?? remove.error)!.message}</span>}
        </span>
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
  const functions = useQuery({
    queryKey: ["scorer-functions", project.id],
    queryFn: async () =>
      (await api.get<{ objects: ScorerFunction[] }>(`/v1/function?project_id=${encodeURIComponent(project.id)}&function_type=scorer`)).objects,
  });
  const fns = functions.data ?? [];
  const [editing, setEditing] = useState<ProjectScore | null>(null);
  const [formKey, setFormKey] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["online-rules", project.id] });
  const create = useMutation({
    mutationFn: (body: Record<string, unknown>) => api.post<ProjectScore>("/v1/project_score", body),
    onSuccess: () => {
      setFormKey((k) => k + 1);
      refresh();
    },
  });
  const update = useMutation({
    mutationFn: ({ id, body }: { id: string; body: Record<string, unknown> }) => api.patch<ProjectScore>(`/v1/project_score/${encodeURIComponent(id)}`, body),
    onSuccess: () => {
      setEditing(null);
      refresh();
    },
  });

  function send(form: RuleForm, rule: ProjectScore | null) {
    try {
      const body = ruleBody(form, rule ? undefined : project.id);
      setProblem(null);
      if (rule) update.mutate({ id: rule.id, body });
      else create.mutate(body);
    } catch (e) {
      setProblem((e as Error).message);
    }
  }

  return (
    <div className="page">
      <PageHeader title="Online scoring" subtitle={`${project.name} · production logs scored as they arrive`} />
      {!canAdmin ? (
        <p className="muted">Only admins add, edit, pause, resume or delete rules.</p>
      ) : editing ? (
        <RuleEditor
          key={`edit-${editing.id}`}
          title={`Edit rule ${editing.name}`}
          initial={formOf(editing)}
          functions={fns}
          submitLabel="Save rule"
          pending={update.isPending}
          onSubmit={(f) => send(f, editing)}
          onCancel={() => setEditing(null)}
        />
      ) : (
        <RuleEditor key={`new-${formKey}`} title="Add a rule" initial={NEW_RULE} functions={fns} submitLabel="Add rule" pending={create.isPending} onSubmit={(f) => send(f, null)} />
      )}
      {problem && (
        <div className="form-error" role="alert">
          {problem}
        </div>
      )}
      {(create.error ?? update.error) && <ErrorState error={(create.error ?? update.error)!} title="The rule was refused" />}
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
              <th>Applies to</th>
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
              <RuleRow key={r.id} rule={r} canAdmin={canAdmin} functions={fns} onEdit={() => setEditing(r)} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
