// An experiment beside its base: rows matched by input (the same rule as the server's summary:
// the input's JSON with sorted keys), each score's change per row, and the output text to diff.

export interface ComparableRow {
  root_span_id: string;
  input: unknown;
  output: unknown;
  expected?: unknown;
  scores: Record<string, number | null> | null;
}

export type RowStatus = "improved" | "regressed" | "mixed" | "unchanged" | "new";

export interface ScoreChange {
  name: string;
  value: number | null;
  base: number | null;
  /** value - base, when both exist */
  delta: number | null;
}

export interface ComparedRow<R extends ComparableRow = ComparableRow> {
  key: string;
  row: R;
  base: R | null;
  scores: ScoreChange[];
  status: RowStatus;
  outputChanged: boolean;
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v as Record<string, unknown>)
        .sort()
        .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** The matching key of an input: its JSON with sorted keys. */
export function inputKey(input: unknown): string {
  return JSON.stringify(sorted(input ?? null));
}

/** A value as text to diff: strings as they are, other values as indented JSON (keys sorted). */
export function diffText(v: unknown): string {
  if (v == null) return "";
  if (typeof v === "string") return v;
  return JSON.stringify(sorted(v), null, 2);
}

const EPS = 1e-9;

export function compareRows<R extends ComparableRow>(rows: R[], baseRows: R[]): ComparedRow<R>[] {
  const byInput = new Map<string, R>();
  for (const b of baseRows) {
    const k = inputKey(b.input);
    if (!byInput.has(k)) byInput.set(k, b);
  }
  return rows.map((row) => {
    const key = inputKey(row.input);
    const base = byInput.get(key) ?? null;
    const names = [...new Set([...Object.keys(row.scores ?? {}), ...Object.keys(base?.scores ?? {})])].sort();
    const scores = names.map((name) => {
      const value = row.scores?.[name] ?? null;
      const b = base?.scores?.[name] ?? null;
      return { name, value, base: b, delta: value != null && b != null ? value - b : null };
    });
    const up = scores.some((s) => s.delta != null && s.delta > EPS);
    const down = scores.some((s) => s.delta != null && s.delta < -EPS);
    const status: RowStatus = !base ? "new" : up && down ? "mixed" : up ? "improved" : down ? "regressed" : "unchanged";
    return { key, row, base, scores, status, outputChanged: !!base && diffText(row.output) !== diffText(base.output) };
  });
}

export type CompareFilter = "all" | "regressed" | "improved" | "changed";

export function filterCompared<R extends ComparableRow>(rows: ComparedRow<R>[], f: CompareFilter, score?: string): ComparedRow<R>[] {
  const hit = (r: ComparedRow<R>, sign: 1 | -1) =>
    r.scores.some((s) => (!score || s.name === score) && s.delta != null && sign * s.delta > EPS);
  switch (f) {
    case "regressed":
      return rows.filter((r) => hit(r, -1));
    case "improved":
      return rows.filter((r) => hit(r, 1));
    case "changed":
      return rows.filter((r) => r.outputChanged);
    default:
      return rows;
  }
}
