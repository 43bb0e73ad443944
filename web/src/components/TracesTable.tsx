// The traces of a project's logs or of an experiment, one row per trace (BTQL summary shape),
// newest first, paged as the user scrolls; live refresh on request.

import { useCallback, useMemo } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useApi } from "../auth";
import { filterExpression, tracesQuery, type LogFilters, type ObjectSource } from "../lib/btql";
import { formatDuration, formatNumber, formatRelative, formatScore, preview } from "../lib/format";
import { DataTable, type Column } from "./DataTable";
import { ErrorState, Loading } from "./States";

export interface TraceRow {
  id: string;
  root_span_id: string;
  created: string;
  input: unknown;
  output: unknown;
  expected?: unknown;
  error: unknown;
  tags: string[] | null;
  scores: Record<string, number | null> | null;
  metadata: Record<string, unknown> | null;
  span_attributes: { name?: string; type?: string } | null;
  metrics: { duration?: number | null; total_tokens?: number | null; errors?: number | null; llm_calls?: number | null } | null;
}

const PAGE = 100;

function ScoreChips({ scores }: { scores: TraceRow["scores"] }) {
  if (!scores) return null;
  return (
    <span className="score-chips">
      {Object.entries(scores).map(([k, v]) => (
        <span key={k} className={`chip ${v == null ? "" : v >= 0.75 ? "good" : v >= 0.4 ? "mid" : "bad"}`} title={k}>
          {k}: {formatScore(v)}
        </span>
      ))}
    </span>
  );
}

export function useTraces(source: ObjectSource, filters: LogFilters, live: boolean) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: ["traces", source.kind, source.id, filters],
    queryFn: ({ pageParam, signal }) => api.btql<TraceRow>(tracesQuery(source, filters, PAGE, pageParam), signal),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.data.length === PAGE && last.cursor ? last.cursor : undefined),
    // live: re-read every 5 s while the user looks at the newest traces (not after paging far down)
    refetchInterval: (query) => (live && (query.state.data?.pages.length ?? 0) <= 3 ? 5000 : false),
  });
}

interface Props {
  source: ObjectSource;
  filters: LogFilters;
  live: boolean;
  selected: string | null;
  onSelect: (rootSpanId: string) => void;
  showExpected?: boolean;
  empty: React.ReactNode;
  /** rows chosen with their checkbox (by root span id), for actions on several traces */
  chosen?: ReadonlySet<string>;
  onChoose?: (rootSpanId: string, on: boolean) => void;
}

export function TracesTable({ source, filters, live, selected, onSelect, showExpected, empty, chosen, onChoose }: Props) {
  const q = useTraces(source, filters, live);
  const rows = useMemo(() => q.data?.pages.flatMap((p) => p.data) ?? [], [q.data]);
  const columns = useMemo<Column<TraceRow>[]>(
    () => [
      ...(onChoose
        ? [
            {
              id: "choose",
              header: "",
              size: 36,
              cell: (r: TraceRow) => (
                <input
                  type="checkbox"
                  className="row-check"
                  aria-label={`Select trace ${preview(r.input, 40)}`}
                  checked={chosen?.has(r.root_span_id) ?? false}
                  onClick={(e) => e.stopPropagation()}
                  onKeyDown={(e) => e.stopPropagation()}
                  onChange={(e) => onChoose(r.root_span_id, e.target.checked)}
                />
              ),
            },
          ]
        : []),
      { id: "created", header: "Time", size: 96, cell: (r) => <span title={r.created}>{formatRelative(r.created)}</span> },
      // a narrow table (a 900 px window, or an open trace beside it) shrinks input and output, then
      // drops tokens, duration, expected, scores, output and name, in that order (DataTable)
      { id: "name", header: "Name", size: 130, hidePriority: 1, cell: (r) => <span className="strong">{r.span_attributes?.name ?? "—"}</span> },
      { id: "input", header: "Input", size: 220, minSize: 140, grow: true, cell: (r) => <span className="preview">{preview(r.input)}</span> },
      { id: "output", header: "Output", size: 220, minSize: 140, grow: true, hidePriority: 2, cell: (r) => <span className="preview">{preview(r.output)}</span> },
      ...(showExpected
        ? [{ id: "expected", header: "Expected", size: 160, minSize: 120, grow: true, hidePriority: 4, cell: (r: TraceRow) => <span className="preview">{preview(r.expected)}</span> }]
        : []),
      { id: "scores", header: "Scores", size: showExpected ? 300 : 200, hidePriority: 3, cell: (r) => <ScoreChips scores={r.scores} /> },
      { id: "duration", header: "Duration", size: 96, hidePriority: 5, cell: (r) => formatDuration(r.metrics?.duration) },
      { id: "tokens", header: "Tokens", size: 84, hidePriority: 6, cell: (r) => formatNumber(r.metrics?.total_tokens) },
      {
        id: "status",
        header: "",
        size: 64,
        cell: (r) => (r.error || (r.metrics?.errors ?? 0) > 0 ? <span className="badge badge-error">error</span> : null),
      },
    ],
    [showExpected, chosen, onChoose],
  );
  const more = useCallback(() => {
    if (q.hasNextPage && !q.isFetchingNextPage) void q.fetchNextPage();
  }, [q]);

  if (q.isPending) return <Loading what="traces" />;
  if (q.isError) {
    // a position would point into the query the page built, not into what the user typed
    const filtered = filterExpression(filters) !== "";
    return <ErrorState error={q.error} showPosition={!filtered} title={filtered ? "The filter could not be applied" : "Could not load traces"} />;
  }
  if (rows.length === 0) return <>{empty}</>;
  return (
    <DataTable
      label="Traces"
      columns={columns}
      rows={rows}
      rowId={(r) => r.root_span_id}
      selectedId={selected}
      onRowClick={(r) => onSelect(r.root_span_id)}
      onEndReached={more}
      footer={
        <div className="dt-footer muted small">
          {rows.length.toLocaleString("en-US")} {rows.length === 1 ? "trace" : "traces"}{q.hasNextPage ? " · scroll for more" : ""}
          {q.isFetchingNextPage && " · loading…"}
        </div>
      }
    />
  );
}
