// The span tree of one trace, flattened for a virtual list: depth-first, children by start time.

/** The columns of a span the tree needs (`traceSpansQuery`), not its contents. */
export interface SpanLite {
  id: string;
  span_id: string;
  span_parents?: string[] | null;
  name?: string | null;
  type?: string | null;
  /** the SDK's order of creation, breaks ties of equal start times */
  exec?: number | null;
  start?: number | null;
  end?: number | null;
  has_error?: number | boolean | null;
}

export interface TreeRow {
  span: SpanLite;
  depth: number;
  childCount: number;
  /** its children are hidden */
  collapsed: boolean;
}

export interface SpanTree {
  roots: SpanLite[];
  children: Map<string, SpanLite[]>;
  byId: Map<string, SpanLite>;
  traceStart: number | null;
  traceEnd: number | null;
}

function startOf(s: SpanLite): number {
  return s.start ?? Number.POSITIVE_INFINITY;
}

function order(a: SpanLite, b: SpanLite): number {
  const d = startOf(a) - startOf(b);
  if (d !== 0 && !Number.isNaN(d)) return d;
  const e = (a.exec ?? 0) - (b.exec ?? 0);
  if (e !== 0) return e;
  return a.span_id < b.span_id ? -1 : a.span_id > b.span_id ? 1 : 0;
}

/** Index spans by parent. A span whose parents are all missing (not logged yet) is a root. */
export function buildTree(spans: SpanLite[]): SpanTree {
  const byId = new Map<string, SpanLite>();
  for (const s of spans) byId.set(s.span_id, s);
  const children = new Map<string, SpanLite[]>();
  const roots: SpanLite[] = [];
  let traceStart: number | null = null;
  let traceEnd: number | null = null;
  for (const s of spans) {
    if (s.start != null) traceStart = traceStart == null ? s.start : Math.min(traceStart, s.start);
    if (s.end != null) traceEnd = traceEnd == null ? s.end : Math.max(traceEnd, s.end);
    const parent = (s.span_parents ?? []).find((p) => p !== s.span_id && byId.has(p));
    if (parent === undefined) {
      roots.push(s);
    } else {
      const list = children.get(parent);
      if (list) list.push(s);
      else children.set(parent, [s]);
    }
  }
  roots.sort(order);
  for (const list of children.values()) list.sort(order);
  return { roots, children, byId, traceStart, traceEnd };
}

/** The visible rows: depth-first, skipping the descendants of collapsed spans. Iterative, so a
 *  chain of 20,000 nested spans cannot overflow the stack; each span is emitted once even if
 *  the data has a cycle. */
export function flatten(tree: SpanTree, collapsed: ReadonlySet<string> = new Set()): TreeRow[] {
  const out: TreeRow[] = [];
  const seen = new Set<string>();
  const stack: { span: SpanLite; depth: number }[] = [];
  for (let i = tree.roots.length - 1; i >= 0; i--) stack.push({ span: tree.roots[i], depth: 0 });
  while (stack.length > 0) {
    const { span, depth } = stack.pop()!;
    if (seen.has(span.span_id)) continue;
    seen.add(span.span_id);
    const kids = tree.children.get(span.span_id) ?? [];
    const isCollapsed = collapsed.has(span.span_id);
    out.push({ span, depth, childCount: kids.length, collapsed: isCollapsed });
    if (isCollapsed) continue;
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ span: kids[i], depth: depth + 1 });
  }
  return out;
}

export function spanName(s: SpanLite): string {
  return s.name || s.type || s.span_id.slice(0, 8);
}

export function spanDuration(s: SpanLite): number | null {
  return s.start != null && s.end != null ? Math.max(0, s.end - s.start) : null;
}
