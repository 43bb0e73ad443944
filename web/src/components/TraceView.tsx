// One trace: its span tree (virtualized: a trace may have tens of thousands of spans) beside the
// selected span's details.

import { useEffect, useMemo, useRef, useState } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useApi } from "../auth";
import { traceSpansQuery, type ObjectSource } from "../lib/btql";
import { formatDuration } from "../lib/format";
import { buildTree, flatten, spanDuration, spanName, type SpanLite } from "../lib/spanTree";
import { SpanDetail } from "./SpanDetail";
import { ErrorState, Loading } from "./States";

const MAX_SPANS = 100_000;
const PAGE = 10_000;
const MAX_INDENT = 24;

/** The trace's spans, oldest first, a page at a time: the tree shows the first page (the root and
 * the spans that started first) while the next ones load. */
function useTraceSpans(source: ObjectSource, root: string) {
  const api = useApi();
  const q = useInfiniteQuery({
    queryKey: ["trace", source.kind, source.id, root],
    queryFn: ({ pageParam, signal }) => api.btql<SpanLite>(traceSpansQuery(source, root, PAGE, pageParam), signal),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last, pages) =>
      last.data.length > 0 && last.cursor && pages.length * PAGE < MAX_SPANS ? last.cursor : undefined,
  });
  const { hasNextPage, isFetchingNextPage, fetchNextPage, isError } = q;
  useEffect(() => {
    if (hasNextPage && !isFetchingNextPage && !isError) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage, isError]);
  const spans = useMemo(() => q.data?.pages.flatMap((p) => p.data) ?? null, [q.data]);
  return { q, spans, loadingMore: hasNextPage || isFetchingNextPage };
}

interface Props {
  source: ObjectSource;
  rootSpanId: string;
  selectedSpanId: string | null;
  onSelect: (spanId: string) => void;
  onClose: () => void;
}

export function TraceView({ source, rootSpanId, selectedSpanId, onSelect, onClose }: Props) {
  const { q, spans, loadingMore } = useTraceSpans(source, rootSpanId);
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const tree = useMemo(() => (spans ? buildTree(spans) : null), [spans]);
  const rows = useMemo(() => (tree ? flatten(tree, collapsed) : []), [tree, collapsed]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 30,
    overscan: 20,
  });

  const selected = (selectedSpanId && tree?.byId.get(selectedSpanId)) || tree?.roots[0] || null;
  const t0 = tree?.traceStart ?? 0;
  const total = tree && tree.traceEnd != null && tree.traceStart != null ? Math.max(tree.traceEnd - tree.traceStart, 1e-9) : null;

  function toggle(spanId: string) {
    setCollapsed((prev) => {
      const next = new Set(prev);
      if (next.has(spanId)) next.delete(spanId);
      else next.add(spanId);
      return next;
    });
  }

  return (
    <aside className="trace-panel" aria-label="Trace">
      <div className="trace-head">
        <div>
          <h2>Trace</h2>
          <div className="muted small">
            {rootSpanId}
            {spans && ` · ${spans.length.toLocaleString("en-US")} spans${loadingMore ? ", loading more…" : ""}`}
            {total != null && ` · ${formatDuration(total)}`}
          </div>
        </div>
        <button className="btn btn-ghost" onClick={onClose} aria-label="Close trace">
          ✕
        </button>
      </div>
      {q.isPending ? (
        <Loading what="trace" />
      ) : q.isError ? (
        <ErrorState error={q.error} title="Could not load the trace" />
      ) : rows.length === 0 ? (
        <ErrorState error="No spans were found for this trace." title="Empty trace" />
      ) : (
        <div className="trace-body">
          <div className="span-tree" ref={scrollRef} role="tree" aria-label="Span tree">
            <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
              {virtualizer.getVirtualItems().map((item) => {
                const r = rows[item.index];
                const s = r.span;
                const d = spanDuration(s);
                const isSel = selected?.span_id === s.span_id;
                const left = total && s.start != null ? ((s.start - t0) / total) * 100 : 0;
                const width = total && d != null ? Math.max((d / total) * 100, 0.5) : 0;
                return (
                  <div
                    key={s.span_id}
                    role="treeitem"
                    aria-level={r.depth + 1}
                    aria-selected={isSel}
                    aria-expanded={r.childCount > 0 ? !r.collapsed : undefined}
                    data-span-id={s.span_id}
                    className={`tree-row${isSel ? " selected" : ""}`}
                    style={{ transform: `translateY(${item.start}px)` }}
                    tabIndex={0}
                    onClick={() => onSelect(s.span_id)}
                    onKeyDown={(e) => {
                      if (e.key === "Enter") onSelect(s.span_id);
                      else if ((e.key === "ArrowLeft" && !r.collapsed) || (e.key === "ArrowRight" && r.collapsed))
                        if (r.childCount > 0) toggle(s.span_id);
                    }}
                  >
                    <span className="tree-indent" style={{ width: Math.min(r.depth, MAX_INDENT) * 14 }} />
                    {r.childCount > 0 ? (
                      <button
                        className="caret"
                        aria-label={r.collapsed ? "Expand" : "Collapse"}
                        onClick={(e) => {
                          e.stopPropagation();
                          toggle(s.span_id);
                        }}
                      >
                        {r.collapsed ? "▸" : "▾"}
                      </button>
                    ) : (
                      <span className="caret" />
                    )}
                    <span className={`type-dot type-${s.type ?? "none"}`} title={s.type ?? ""} />
                    <span className="tree-name">{spanName(s)}</span>
                    {s.has_error ? <span className="error-mark" title="error">!</span> : null}
                    <span className="tree-time">{formatDuration(d)}</span>
                    <span className="timeline">
                      <span className="timeline-bar" style={{ left: `${left}%`, width: `${width}%` }} />
                    </span>
                  </div>
                );
              })}
            </div>
          </div>
          <div className="span-pane">{selected && <SpanDetail source={source} rowId={selected.id} />}</div>
        </div>
      )}
    </aside>
  );
}
