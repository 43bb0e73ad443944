// Dataset records: the shape a record has (input, expected, metadata, tags), a log row turned into
// one ("add to dataset"), and the JSON fields of the record editor.

export interface RecordFields {
  input: unknown;
  expected: unknown;
  metadata: Record<string, unknown> | null;
  tags: string[] | null;
}

export interface LogRootSpan {
  id: string;
  root_span_id: string;
  input: unknown;
  output: unknown;
  expected?: unknown;
  metadata: Record<string, unknown> | null;
  tags: string[] | null;
}

/** A log trace's root span as a dataset record: its input, its expected (else its output) as
 * expected, its metadata and tags, and where it came from (`origin`). */
export function recordFromLog(span: LogRootSpan, projectId: string): Record<string, unknown> {
  return {
    input: span.input ?? null,
    expected: span.expected ?? span.output ?? null,
    metadata: span.metadata ?? {},
    ...(span.tags && span.tags.length ? { tags: span.tags } : {}),
    origin: { object_type: "project_logs", object_id: projectId, id: span.id },
  };
}

/** A field's text in the editor: strings as JSON strings too, so what is saved is what is shown. */
export function fieldText(v: unknown): string {
  return v === undefined ? "null" : JSON.stringify(v, null, 2);
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

export function parseField(name: string, text: string, kind: "any" | "object" | "tags"): Parsed {
  const t = text.trim();
  if (!t) return { ok: true, value: null };
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch (e) {
    return { ok: false, error: `${name}: not valid JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  if (kind === "object" && value !== null && (typeof value !== "object" || Array.isArray(value)))
    return { ok: false, error: `${name}: must be a JSON object or null` };
  if (kind === "tags" && value !== null && !(Array.isArray(value) && value.every((x) => typeof x === "string")))
    return { ok: false, error: `${name}: must be a list of strings or null` };
  return { ok: true, value };
}
