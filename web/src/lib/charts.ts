// Dashboard chart data: rows as BTQL answers them → what Recharts draws.
//
// A chart's spec names `x` (the output on the x axis) and `series` (the outputs drawn). Any other
// text output is a split: a dimension such as `kind` or `model` beside `time` becomes one series per
// value (`rate_limit`, `gpt-4o`, ...), so `dimensions: hour(created) AS time, model | measures:
// sum(tokens) AS tokens` draws one line per model.

import { formatDuration } from "./format";

export type ChartType = "line" | "bar" | "area" | "stacked_bar" | "table" | "stat" | "pie";
export type Granularity = "minute" | "hour" | "day" | "week" | "month";
export const CHART_TYPES: readonly ChartType[] = ["line", "bar", "area", "stacked_bar", "table", "stat", "pie"];
export const GRANULARITIES: readonly Granularity[] = ["minute", "hour", "day", "week", "month"];

export interface ChartSpec {
  type: ChartType;
  x: string | null;
  series: string[];
  units: string | null;
  granularity?: Granularity | null;
}

export type Row = Record<string, unknown>;

export interface Plot {
  /** one entry per x value, x under the key "x" and each series under its name */
  data: Row[];
  series: string[];
}

/** Whether a plot has any value to draw (an all-null measure draws an empty frame). */
export function hasValues(plot: Plot): boolean {
  return plot.data.some((p) => plot.series.some((s) => typeof p[s] === "number" && Number.isFinite(p[s] as number)));
}

/** The outputs of the rows, in first-seen order. */
export function columnsOf(rows: Row[]): string[] {
  const seen = new Set<string>();
  for (const r of rows.slice(0, 500)) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

function isNumeric(rows: Row[], col: string): boolean {
  let any = false;
  for (const r of rows.slice(0, 200)) {
    const v = r[col];
    if (v == null) continue;
    if (typeof v !== "number") return false;
    any = true;
  }
  return any;
}

/** The series a spec draws: its `series`, else every numeric output but x. */
export function seriesOf(spec: Pick<ChartSpec, "x" | "series">, rows: Row[]): string[] {
  if (spec.series.length) return spec.series;
  return columnsOf(rows).filter((c) => c !== spec.x && isNumeric(rows, c));
}

export function label(v: unknown): string {
  if (v == null) return "(none)";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Rows → one point per x value, split outputs pivoted into series of their own. */
export function pivot(spec: Pick<ChartSpec, "x" | "series">, rows: Row[]): Plot {
  const measures = seriesOf(spec, rows);
  const x = spec.x ?? columnsOf(rows).find((c) => !measures.includes(c)) ?? null;
  // a split is a dimension: an output that is not x, not drawn, and not a number
  const splits = columnsOf(rows).filter((c) => c !== x && !measures.includes(c) && !isNumeric(rows, c));
  const points = new Map<string, Row>();
  const names: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    const xv = x ? r[x] : "";
    const key = label(xv);
    let point = points.get(key);
    if (!point) {
      point = { x: xv ?? "(none)" };
      points.set(key, point);
    }
    const prefix = splits.map((s) => label(r[s])).join(" · ");
    for (const m of measures) {
      const name = prefix ? (measures.length > 1 ? `${prefix} · ${m}` : prefix) : m;
      if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
      const v = r[m];
      point[name] = typeof v === "number" ? v : v == null ? null : Number(v);
    }
  }
  return { data: [...points.values()], series: names };
}

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** An x value as a tick: times by granularity (in the browser's time zone), the rest as text. */
export function formatTick(v: unknown, granularity?: Granularity | null): string {
  if (typeof v === "string" && TIME.test(v)) {
    const d = new Date(/[zZ]|[+-]\d{2}:?\d{2}$/.test(v) ? v : `${v}Z`);
    if (Number.isNaN(d.getTime())) return v;
    const two = (n: number) => String(n).padStart(2, "0");
    const day = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
    if (granularity === "minute" || granularity === "hour") return `${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
    if (granularity === "month") return day.slice(0, 7);
    return day;
  }
  return label(v);
}

/** A value with the chart's unit: ratios as percentages, seconds, USD, counts. */
export function formatValue(v: unknown, units: string | null | undefined): string {
  if (v == null) return "–";
  if (typeof v !== "number" || !Number.isFinite(v)) return label(v);
  switch (units) {
    case "ratio":
      return `${(v * 100).toFixed(1)}%`;
    case "s":
      return formatDuration(v);
    case "USD":
      return `$${v.toFixed(v < 1 ? 4 : 2)}`;
    default:
      return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toLocaleString("en-US", { maximumFractionDigits: 3 });
  }
}

/** A chart query is written without `from:` (the dashboard's project is its source): validating
 * it on its own appends one at the end, where it moves no error position. */
export function validationText(chartQuery: string, projectId: string): string {
  return `${chartQuery}\n| from: project_logs('${projectId.replace(/'/g, "''")}')`;
}

/** The view (time range, granularity, filters) of a dashboard, as the URL keeps it. */
export interface View {
  range?: string | null;
  granularity?: Granularity | null;
  filters: string[];
}

export const RANGES = ["1h", "24h", "7d", "2w", "4w", "12w"] as const;

export function viewFromParams(p: URLSearchParams): Partial<View> | null {
  const range = p.get("range");
  const g = p.get("g") as Granularity | null;
  const filters = p.getAll("f");
  if (!range && !g && filters.length === 0) return null;
  return {
    ...(range ? { range } : {}),
    ...(g && GRANULARITIES.includes(g) ? { granularity: g } : {}),
    ...(filters.length ? { filters } : {}),
  };
}

export function viewToParams(v: Partial<View>, base: URLSearchParams): URLSearchParams {
  const p = new URLSearchParams(base);
  for (const k of ["range", "g", "f"]) p.delete(k);
  if (v.range) p.set("range", v.range);
  if (v.granularity) p.set("g", v.granularity);
  for (const f of v.filters ?? []) p.append("f", f);
  return p;
}
