// Online scoring rules as the page edits them: a rule's form (name, scorer, sampling, filter,
// root spans only) ⇄ the `/v1/project_score` body; scorers are the autoevals built-ins
// (`{type: "global", name}`) or the project's own scorer functions (`{type: "function", id}`),
// chosen in one select as "global:<name>" / "function:<id>".

export interface ScorerRef {
  type: string;
  name?: string;
  id?: string;
  version?: string;
}

export interface OnlineConfig {
  sampling_rate: number;
  scorers: ScorerRef[];
  btql_filter?: string | null;
  apply_to_root_span?: boolean;
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
  /** "global:<name>" or "function:<id>" */
  scorer: string;
  rate: string;
  filter: string;
  rootOnly: boolean;
}

export const NEW_RULE: RuleForm = { name: "", scorer: "global:ValidJSON", rate: "1", filter: "", rootOnly: true };

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

export function formOf(rule: ProjectScore): RuleForm {
  const o = rule.config?.online;
  return {
    name: rule.name,
    scorer: o?.scorers[0] ? scorerKey(o.scorers[0]) : NEW_RULE.scorer,
    rate: String(o?.sampling_rate ?? 1),
    filter: o?.btql_filter ?? "",
    rootOnly: o?.apply_to_root_span ?? false,
  };
}

/** The body of POST (with `projectId`) or PATCH (without) for a form; a bad field throws. */
export function ruleBody(form: RuleForm, projectId?: string): Record<string, unknown> {
  const name = form.name.trim();
  if (!name) throw new Error("the rule needs a name");
  const rate = Number(form.rate);
  if (form.rate.trim() === "" || !Number.isFinite(rate) || rate < 0 || rate > 1) throw new Error("the sampling rate is a fraction from 0 to 1");
  return {
    ...(projectId ? { project_id: projectId, score_type: "online" } : {}),
    name,
    config: {
      online: {
        sampling_rate: rate,
        scorers: [scorerRef(form.scorer)],
        apply_to_root_span: form.rootOnly,
        btql_filter: form.filter.trim() || null,
      },
    },
  };
}
