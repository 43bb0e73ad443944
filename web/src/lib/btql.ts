// BTQL text the pages send: quoting, and the queries behind logs, traces, experiments, datasets.

/** A BTQL string literal: single quotes, an embedded quote doubled. */
export function quote(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export type ObjectSource =
  | { kind: "project_logs"; id: string }
  | { kind: "experiment"; id: string }
  | { kind: "dataset"; id: string };

export function sourceText(src: ObjectSource): string {
  return `${src.kind}(${quote(src.id)})`;
}

export const TIME_RANGES = {
  "1h": "1 hour",
  "24h": "1 day",
  "7d": "7 day",
  "30d": "30 day",
  all: null,
} as const;
export type TimeRange = keyof typeof TIME_RANGES;

export interface LogFilters {
  /** free text, matched against input, output, expected, metadata and span attributes */
  search: string;
  /** a BTQL filter expression written by the user */
  expression: string;
  errorsOnly: boolean;
  range: TimeRange;
}

export const NO_FILTERS: LogFilters = { search: "", expression: "", errorsOnly: false, range: "all" };

/** The `filter:` body for these filters (each part parenthesised), or "" when there is none. */
export function filterExpression(f: LogFilters): string {
  const parts: string[] = [];
  const interval = TIME_RANGES[f.range];
  if (interval) parts.push(`created > now() - interval ${interval}`);
  if (f.search.trim()) parts.push(`search(${quote(f.search.trim())})`);
  if (f.errorsOnly) parts.push("error IS NOT NULL");
  if (f.expression.trim()) parts.push(`(${f.expression.trim()})`);
  return parts.join(" and ");
}

function clauses(items: (string | null | false | undefined)[]): string {
  return items.filter((c): c is string => Boolean(c)).join("\n| ");
}

/** One row per trace (summary shape: root previews, span counts, durations, tokens, scores). */
export function tracesQuery(src: ObjectSource, f: LogFilters, limit = 100, cursor?: string): string {
  const filter = filterExpression(f);
  return clauses([
    "select: *",
    `from: ${sourceText(src)} summary`,
    filter && `filter: ${filter}`,
    "sort: created desc",
    `limit: ${limit}`,
    cursor && `cursor: ${quote(cursor)}`,
  ]);
}

/** The light columns of every span of one trace (enough for the tree and the timeline), oldest
 * first: the first page holds the root and the spans that started first. */
export function traceSpansQuery(src: ObjectSource, rootSpanId: string, limit = 10000, cursor?: string): string {
  return clauses([
    "select: id, span_id, span_parents, span_attributes.name as name, span_attributes.type as type, span_attributes.exec_counter as exec, metrics.start as start, metrics.end as end, error IS NOT NULL as has_error",
    `from: ${sourceText(src)} spans`,
    `filter: root_span_id = ${quote(rootSpanId)}`,
    "sort: created asc",
    `limit: ${limit}`,
    cursor && `cursor: ${quote(cursor)}`,
  ]);
}

/** One row per trace of an experiment with its input, output, expected and scores (values up to
 * `previewLength` characters): what a comparison matches and diffs. */
export function comparisonQuery(experimentId: string, limit = 2000, previewLength = 4000): string {
  return clauses([
    "select: *",
    `from: experiment(${quote(experimentId)}) summary`,
    "sort: created asc",
    `preview_length: ${previewLength}`,
    `limit: ${limit}`,
  ]);
}

/** Everything of one span, untruncated. */
export function spanQuery(src: ObjectSource, id: string): string {
  return clauses(["select: *", `from: ${sourceText(src)} spans`, `filter: id = ${quote(id)}`, "preview_length: -1", "limit: 1"]);
}

/** Dataset records, newest first. */
export function datasetRowsQuery(datasetId: string, limit = 500, cursor?: string): string {
  return clauses([
    "select: id, input, expected, metadata, tags, created",
    `from: dataset(${quote(datasetId)})`,
    "sort: created desc",
    `limit: ${limit}`,
    cursor && `cursor: ${quote(cursor)}`,
  ]);
}

/** The root spans of some traces of a project's logs, untruncated: what "add to dataset" copies. */
export function rootSpansQuery(projectId: string, rootSpanIds: string[]): string {
  return clauses([
    "select: id, root_span_id, input, output, expected, metadata, tags",
    `from: project_logs(${quote(projectId)}) spans`,
    `filter: is_root and root_span_id IN [${rootSpanIds.map(quote).join(", ")}]`,
    "preview_length: -1",
    `limit: ${Math.max(1, rootSpanIds.length)}`,
  ]);
}

/** The query the sandbox opens with. */
export function sandboxStarter(projectId?: string): string {
  if (!projectId) return "select: *\n| from: project_logs('<project id>')\n| limit: 10";
  return `select: id, created, span_attributes.name as name, metrics.tokens as tokens, scores\n| from: project_logs(${quote(projectId)})\n| filter: created > now() - interval 7 day\n| sort: created desc\n| limit: 50`;
}
