// The playground's own logic: a prompt as an editable draft and back, the mustache variables it
// uses, the `/v1/eval` request that runs it over a dataset, and the finished rows of the result.

export interface ChatMessage {
  role: string;
  content: string;
}

export interface PromptDraft {
  name: string;
  slug: string;
  model: string;
  messages: ChatMessage[];
  /** the model's parameters as JSON text (edited as text, checked on save and run) */
  params: string;
}

/** A stored prompt (`/v1/prompt` object) as far as the playground reads it. */
export interface StoredPrompt {
  id: string;
  name: string;
  slug: string;
  project_id?: string;
  description?: string | null;
  created?: string;
  _xact_id?: string;
  function_type?: string | null;
  prompt_data?: {
    prompt?: { type?: string; messages?: { role?: string; content?: unknown }[]; content?: string };
    options?: { model?: string; params?: Record<string, unknown> };
    parser?: { type?: string };
  } | null;
}

export const EMPTY_DRAFT: PromptDraft = {
  name: "",
  slug: "",
  model: "",
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "{{input}}" },
  ],
  params: "{}",
};

function text(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content
      .map((p) => (p && typeof p === "object" && typeof (p as { text?: unknown }).text === "string" ? (p as { text: string }).text : ""))
      .join("");
  return content == null ? "" : JSON.stringify(content);
}

export function draftOf(p: StoredPrompt): PromptDraft {
  const pd = p.prompt_data ?? {};
  const prompt = pd.prompt ?? {};
  const messages =
    prompt.type === "completion"
      ? [{ role: "user", content: prompt.content ?? "" }]
      : (prompt.messages ?? []).map((m) => ({ role: m.role ?? "user", content: text(m.content) }));
  return {
    name: p.name,
    slug: p.slug,
    model: pd.options?.model ?? "",
    messages: messages.length ? messages : EMPTY_DRAFT.messages,
    params: JSON.stringify(pd.options?.params ?? {}, null, 2),
  };
}

/** The slug the SDK would derive from a name. */
export function slugOf(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "") || "prompt"
  );
}

export class DraftError extends Error {}

function params(draft: PromptDraft): Record<string, unknown> {
  const raw = draft.params.trim();
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new DraftError(`parameters are not JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new DraftError("parameters must be a JSON object");
  return parsed as Record<string, unknown>;
}

/** `prompt_data` of a draft; a DraftError names what is missing or malformed. */
export function promptData(draft: PromptDraft): Record<string, unknown> {
  if (!draft.model) throw new DraftError("choose a model");
  const messages = draft.messages.filter((m) => m.content.trim() !== "");
  if (!messages.length) throw new DraftError("write at least one message");
  const p = params(draft);
  return {
    prompt: { type: "chat", messages: messages.map((m) => ({ role: m.role, content: m.content })) },
    options: { model: draft.model, ...(Object.keys(p).length ? { params: p } : {}) },
  };
}

/** `PUT /v1/prompt`'s body: a new version of the project's prompt of that slug (or a new prompt). */
export function promptBody(draft: PromptDraft, projectId: string): Record<string, unknown> {
  const name = draft.name.trim();
  if (!name) throw new DraftError("name the prompt");
  return { project_id: projectId, name, slug: draft.slug.trim() || slugOf(name), prompt_data: promptData(draft) };
}

/** The variables the messages use: `{{input.question}}` → `input.question`, in order, once each. */
export function mustacheVars(messages: ChatMessage[]): string[] {
  const seen = new Set<string>();
  for (const m of messages)
    for (const match of m.content.matchAll(/\{\{\{?\s*([#^/&]?)\s*([\w.]+)\s*\}?\}\}/g)) {
      if (match[1] === "/") continue;
      seen.add(match[2]);
    }
  return [...seen];
}

export interface RunRequest {
  projectId: string;
  datasetId: string;
  draft: PromptDraft;
  scorers: string[];
  experimentName?: string;
  /** the experiment the result is compared with (else the project's latest before it) */
  baseExperimentName?: string | null;
}

/** `POST /v1/eval`'s body (streamed by `Api.runEval`): the draft as an inline prompt (what the user
 * sees is what runs), built-in scorers by name. */
export function evalBody(r: RunRequest): Record<string, unknown> {
  if (!r.datasetId) throw new DraftError("choose a dataset");
  if (!r.scorers.length) throw new DraftError("choose at least one scorer");
  const name = r.draft.name.trim() || "playground";
  return {
    project_id: r.projectId,
    data: { dataset_id: r.datasetId },
    task: { inline_prompt: promptData(r.draft), name },
    scores: r.scorers.map((s) => ({ global_function: s })),
    metadata: { source: "playground", model: r.draft.model, prompt: r.draft.slug || slugOf(name) },
    ...(r.experimentName?.trim() ? { experiment_name: r.experimentName.trim() } : {}),
    ...(r.baseExperimentName ? { base_experiment_name: r.baseExperimentName } : {}),
  };
}

export interface ResultRow {
  id: string;
  input: unknown;
  output: unknown;
  expected: unknown;
  scores: Record<string, number | null>;
  error: unknown;
}

interface ExperimentEvent {
  id?: string;
  span_id?: string;
  root_span_id?: string;
  span_parents?: string[] | null;
  input?: unknown;
  output?: unknown;
  expected?: unknown;
  scores?: Record<string, number | null> | null;
  error?: unknown;
  created?: string;
}

/** The finished root rows of an experiment's events (one per dataset row and trial), oldest first,
 * with the scores of their scorer spans (the SDK's shape: each scorer is a child span with `scores`). */
export function resultRows(events: ExperimentEvent[]): ResultRow[] {
  const isRoot = (e: ExperimentEvent) => !e.span_parents || e.span_parents.length === 0;
  const scoresByTrace = new Map<string, Record<string, number | null>>();
  for (const e of events) {
    if (isRoot(e) || !e.scores || !e.root_span_id) continue;
    scoresByTrace.set(e.root_span_id, { ...scoresByTrace.get(e.root_span_id), ...e.scores });
  }
  return events
    .filter(isRoot)
    .filter((e) => (e.output !== undefined && e.output !== null) || e.error != null)
    .sort((a, b) => (a.created ?? "").localeCompare(b.created ?? ""))
    .map((e) => ({
      id: String(e.id ?? e.span_id ?? ""),
      input: e.input,
      output: e.output,
      expected: e.expected,
      scores: { ...(e.root_span_id ? scoresByTrace.get(e.root_span_id) : undefined), ...(e.scores ?? {}) },
      error: e.error ?? null,
    }));
}

/** The scorers an eval can name without any stored function (autoevals, run by the evaluator). */
export const GLOBAL_SCORERS = ["ExactMatch", "Levenshtein", "NumericDiff", "JSONDiff", "ValidJSON", "Factuality", "ClosedQA"];

/** Each message's label: its role, numbered from the second of that role ("User message 2"). */
export function messageLabels(messages: ChatMessage[]): string[] {
  const seen = new Map<string, number>();
  return messages.map((m) => {
    const n = (seen.get(m.role) ?? 0) + 1;
    seen.set(m.role, n);
    const role = m.role.charAt(0).toUpperCase() + m.role.slice(1);
    return `${role} message${n > 1 ? ` ${n}` : ""}`;
  });
}

/** A default experiment name: playground-YYYYMMDD-HHMMSS (local time). */
export function experimentStamp(d: Date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `playground-${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}
