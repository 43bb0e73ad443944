// The intents page's own logic: taxonomy labels edited as text and back, a span's current label
// read from its `classifications`, and the recent-spans query.

import { quote } from "./btql";
import { asChat } from "./messages";

export interface Label {
  name: string;
  description: string;
  examples: string[];
}

export interface Classifier {
  id: string;
  project_id: string;
  version: number;
  facet: string;
  labels: Label[];
  threshold: number;
}

/** Examples are edited one per line; blank lines dropped, each trimmed. */
export function examplesFromText(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The labels as PATCH sends them: names trimmed, unnamed rows dropped, duplicates refused. */
export function labelsForSave(labels: Label[]): Label[] {
  const out: Label[] = [];
  const seen = new Set<string>();
  for (const l of labels) {
    const name = l.name.trim();
    if (!name) continue;
    if (seen.has(name.toLowerCase())) throw new Error(`label “${name}” appears twice`);
    seen.add(name.toLowerCase());
    out.push({ name, description: l.description.trim(), examples: l.examples.map((e) => e.trim()).filter(Boolean) });
  }
  return out;
}

export interface SpanLabel {
  label: string | null;
  confidence: number | null;
  source: string | null;
}

/** The facet's current label on a span row: `classifications.<facet>[0]` (Braintrust's Topics shape). */
export function spanLabel(classifications: unknown, facet: string): SpanLabel {
  const items = (classifications as Record<string, unknown> | null | undefined)?.[facet];
  const first = (Array.isArray(items) ? items[0] : items) as Record<string, unknown> | undefined;
  if (!first || typeof first !== "object") return { label: null, confidence: null, source: null };
  const source = first.source as { type?: unknown } | undefined;
  return {
    label: typeof first.label === "string" ? first.label : null,
    confidence: typeof first.confidence === "number" ? first.confidence : typeof first.score === "number" ? first.score : null,
    source: source && typeof source.type === "string" ? source.type : null,
  };
}

export function recentSpansQuery(projectId: string, limit = 25): string {
  return `select: id, created, input, classifications\n| from: project_logs(${quote(projectId)})\n| filter: is_root\n| sort: created desc\n| limit: ${limit}`;
}

/** A signed share change as percentage points: +4.0 pp, −2.5 pp. */
export function formatShareChange(change: number | null | undefined): string {
  if (change == null || Number.isNaN(change)) return "—";
  const pp = change * 100;
  const sign = pp > 0.05 ? "+" : pp < -0.05 ? "−" : "±";
  return `${sign}${Math.abs(pp).toFixed(1)} pp`;
}

/** What the user asked in a span's input: the last user message of a conversation, else the input. */
export function requestText(input: unknown): string {
  const chat = asChat(input);
  const user = chat?.filter((m) => m.role === "user").pop();
  if (user) return user.text;
  if (typeof input === "string") return input;
  return input == null ? "" : JSON.stringify(input);
}

/** Labelled traces of a facet per day and label over the last `days` days (the trend chart). */
export function trendQuery(projectId: string, facet: string, days = 14): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(facet)) throw new Error(`facet “${facet}” is not a field name`);
  const label = `classifications.${facet}[0].label`;
  return (
    `dimensions: day(created) as day, ${label} as label\n| measures: count(1) as traces\n| from: project_logs(${quote(projectId)})\n` +
    `| filter: is_root and ${label} IS NOT NULL and created > now() - interval ${days} day\n| sort: day, label`
  );
}

/** The facet a page shows: the one named in the URL if it exists, else "Intent", else the first. */
export function chosenFacet<C extends { facet: string }>(classifiers: C[], wanted: string | null): C | undefined {
  return classifiers.find((c) => c.facet === wanted) ?? classifiers.find((c) => c.facet === "Intent") ?? classifiers[0];
}
