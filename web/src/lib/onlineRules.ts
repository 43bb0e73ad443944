// Online scoring rules as the page edits them: a rule's form (name, scorers, sampling, filter,
// root spans / span names, span or trace scope with its idle seconds, daily spend cap, skip
// logging) ⇄ the `/v1/project_score` body; scorers are the autoevals built-ins
// (`{type: "global", name}`) or the project's own scorer functions (`{type: "function", id}`),
// chosen in one select as "global:<name>" / "function:<id>".

export interface ScorerRef {
  type: string;
  name?: string;
  id?: string;
  version?: string;
}

/** `{type: span}`, `{type: trace, idle_seconds}` or `{type: group, group_by, idle_seconds,
 *  max_traces, placement}` (the traces whose root spans share `group_by`, e.g. a session). */
export interface OnlineScope {
  type: string;
  idle_seconds?: number;
  group_by?: string;
  max_traces?: number;
  placement?: string;
}

export interface OnlineConfig {
  sampling_rate: number;
  scorers: ScorerRef[];
  btql_filter?: string | null;
  apply_to_root_span?: boolean;
  apply_to_span_names?: string[] | null;
  scope?: OnlineScope | null;
  skip_logging?: boolean;
  daily_spend_cap_usd?: number | null;
  status?: string;
}

export interface ProjectScore {
  id: string;
  name: string;
  score_type: string;
  config?: { online?: OnlineConfig | null } | null;
}

/** A project scorer function, as `/v1/function?function_type=scorer` lists it. */
export interface ScorerFunction {
  id: string;
  name: string;
  slug: string;
}

export interface RuleForm {
  name: string;
  /** each "global:<name>" or "function:<id>"; at least one */
  scorers: string[];
  rate: string;
  filter: string;
  rootOnly: boolean;
  /** comma-separated span names (empty: no name restriction) */
  spanNames: string;
  /** "span": each matching span as it ends; "trace": the whole trace once, when idle; "group":
   *  the traces sharing `groupBy` (e.g. a session) together, once the group is quiet */
  scope: "span" | "trace" | "group";
  idleSeconds: string;
  /** group scope: a field path of the root span, e.g. metadata.session_id */
  groupBy: string;
  maxTraces: string;
  /** group scope: the score on the group's first root span, or on each */
  placement: "first" | "each";
  /** USD per UTC day; empty: no cap */
  cap: string;
  skipLogging: boolean;
}

export const DEFAULT_IDLE_SECONDS = 30;
export const MAX_IDLE_SECONDS = 24 * 3600;
export const MAX_GROUP_TRACES = 64;

export const NEW_RULE: RuleForm = {
  name: "",
  scorers: ["global:ValidJSON"],
  rate: "1",
  filter: "",
  rootOnly: true,
  spanNames: "",
  scope: "span",
  idleSeconds: String(DEFAULT_IDLE_SECONDS),
  groupBy: "",
  maxTraces: String(MAX_GROUP_TRACES),
  placement: "first",
  cap: "",
  skipLogging: false,
};

export function scorerKey(s: ScorerRef): string {
  return s.type === "function" ? `function:${s.id ?? ""}` : `global:${s.name ?? ""}`;
}

export function scorerRef(key: string): ScorerRef {
  const at = key.indexOf(":");
  const kind = key.slice(0, at);
  const value = key.slice(at + 1);
  if (at < 0 || !value || (kind !== "global" && kind !== "function")) throw new Error(`choose a scorer (got “${key}”)`);
  return kind === "function" ? { type: "function", id: value } : { type: "global", name: value };
}

/** How a rule's scorer reads in the list: a built-in by name, a project scorer by slug. */
export function scorerLabel(s: ScorerRef, functions: ScorerFunction[]): string {
  if (s.type !== "function") return s.name ?? "?";
  const f = functions.find((x) => x.id === s.id);
  return f ? `${f.slug} (project scorer)` : `function ${s.id ?? "?"}`;
}

/** "a, b ,, c" → ["a", "b", "c"] (each once, in order). */
export function spanNameList(text: string): string[] {
  return [...new Set(text.split(",").map((x) => x.trim()).filter(Boolean))];
}

export function formOf(rule: ProjectScore): RuleForm {
  const o = rule.config?.online;
  const type = o?.scope?.type;
  const idle = type === "trace" || type === "group";
  return {
    name: rule.name,
    scorers: o?.scorers.length ? o.scorers.map(scorerKey) : NEW_RULE.scorers,
    rate: String(o?.sampling_rate ?? 1),
    filter: o?.btql_filter ?? "",
    rootOnly: o?.apply_to_root_span ?? false,
    spanNames: (o?.apply_to_span_names ?? []).join(", "),
    scope: type === "trace" || type === "group" ? type : "span",
    idleSeconds: String(idle ? (o?.scope?.idle_seconds ?? DEFAULT_IDLE_SECONDS) : DEFAULT_IDLE_SECONDS),
    groupBy: o?.scope?.group_by ?? "",
    maxTraces: String(o?.scope?.max_traces ?? MAX_GROUP_TRACES),
    placement: o?.scope?.placement === "each" ? "each" : "first",
    cap: o?.daily_spend_cap_usd == null ? "" : String(o.daily_spend_cap_usd),
    skipLogging: o?.skip_logging ?? false,
  };
}

function fraction(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw new Error(`${what} is a fraction from 0 to 1`);
  return n;
}

/** The body of POST (with `projectId`) or PATCH (without) for a form; a bad field throws. Every
 *  field of the rule is sent, so an edit says exactly what the rule becomes. */
export function ruleBody(form: RuleForm, projectId?: string): Record<string, unknown> {
  const name = form.name.trim();
  if (!name) throw new Error("the rule needs a name");
  const rate = fraction(form.rate, "the sampling rate");
  if (form.scorers.length === 0) throw new Error("choose at least one scorer");
  const scorers = form.scorers.map(scorerRef);
  if (new Set(form.scorers).size !== form.scorers.length) throw new Error("a scorer is chosen twice");
  let scope: OnlineScope = { type: "span" };
  if (form.scope !== "span") {
    const idle = Number(form.idleSeconds);
    if (form.idleSeconds.trim() === "" || !Number.isFinite(idle) || idle < 0 || idle > MAX_IDLE_SECONDS)
      throw new Error(`idle seconds is a number from 0 to ${MAX_IDLE_SECONDS}`);
    scope = { type: form.scope, idle_seconds: idle };
  }
  if (form.scope === "group") {
    const by = form.groupBy.trim();
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(by)) throw new Error("group by is a field path of the root span, e.g. metadata.session_id");
    const n = Number(form.maxTraces);
    if (!Number.isInteger(n) || n < 1 || n > MAX_GROUP_TRACES) throw new Error(`max traces is a whole number from 1 to ${MAX_GROUP_TRACES}`);
    scope = { ...scope, group_by: by, max_traces: n, placement: form.placement };
  }
  let cap: number | null = null;
  if (form.cap.trim() !== "") {
    cap = Number(form.cap);
    if (!Number.isFinite(cap) || cap < 0) throw new Error("the daily spend cap is an amount in USD, 0 or more (empty: no cap)");
  }
  const names = spanNameList(form.spanNames);
  return {
    ...(projectId ? { project_id: projectId, score_type: "online" } : {}),
    name,
    config: {
      online: {
        sampling_rate: rate,
        scorers,
        apply_to_root_span: form.rootOnly,
        apply_to_span_names: names.length ? names : null,
        btql_filter: form.filter.trim() || null,
        scope,
        skip_logging: form.skipLogging,
        daily_spend_cap_usd: cap,
      },
    },
  };
}

/** The JSON query `/btql/validate` checks a rule's filter with: the filter as a `{btql}` snippet
 *  (parsed as a bare expression, as the rule's save does; positions are within the filter). */
export function filterValidationQuery(filter: string, projectId: string): Record<string, unknown> {
  return {
    select: [{ alias: "id", expr: { btql: "id" } }],
    from: { op: "function", name: { op: "ident", name: ["project_logs"] }, args: [{ op: "literal", value: projectId }], shape: "spans" },
    filter: { btql: filter },
  };
}

/** What a rule does, in a few words (the rules table's "Applies to"). */
export function appliesTo(o: OnlineConfig): string {
  const parts: string[] = [];
  if (o.scope?.type === "trace") parts.push(`whole trace, ${o.scope.idle_seconds ?? DEFAULT_IDLE_SECONDS} s idle`);
  else if (o.scope?.type === "group")
    parts.push(`traces grouped by ${o.scope.group_by}, ${o.scope.idle_seconds ?? DEFAULT_IDLE_SECONDS} s quiet, score on ${o.scope.placement === "each" ? "each" : "the first"} root`);
  else {
    const which = [o.apply_to_root_span ? "root spans" : "", o.apply_to_span_names?.length ? `spans named ${o.apply_to_span_names.join(", ")}` : ""].filter(Boolean);
    parts.push(which.length ? which.join(" + ") : "every span");
  }
  if (o.daily_spend_cap_usd != null) parts.push(`cap $${o.daily_spend_cap_usd}/day`);
  if (o.skip_logging) parts.push("no scorer spans");
  return parts.join(" · ");
}
