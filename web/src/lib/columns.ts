// Which of a table's columns fit its width, and the grid they make. A table narrower than its
// columns first lets each growing column shrink to its minSize, then drops columns by their
// hidePriority (the highest first) until the rest fit; a column without one always stays, and a
// table whose columns say neither lays out as it always did (every column at its size).

export const DEFAULT_SIZE = 150;

export interface Sizing {
  size?: number;
  /** a growing column's narrowest, when the table is short of width (default: size) */
  minSize?: number;
  /** grow to fill the remaining width */
  grow?: boolean;
  /** dropped when the table is too narrow for every column: the highest number first */
  hidePriority?: number;
}

/** How narrow a column may get. */
export function narrowest(c: Sizing): number {
  const size = c.size ?? DEFAULT_SIZE;
  return c.grow ? Math.min(c.minSize ?? size, size) : size;
}

/** The columns shown at `width` px (all of them while the width is not known yet). */
export function fitColumns<C extends Sizing>(columns: C[], width: number | null | undefined): C[] {
  if (!width || width <= 0) return columns;
  let shown = columns;
  let total = shown.reduce((sum, c) => sum + narrowest(c), 0);
  while (total > width) {
    let drop: C | undefined;
    for (const c of shown) {
      if (c.hidePriority != null && (drop === undefined || c.hidePriority > (drop.hidePriority ?? 0))) drop = c;
    }
    if (drop === undefined) break; // what is left cannot be dropped: the table scrolls
    total -= narrowest(drop);
    shown = shown.filter((c) => c !== drop);
  }
  return shown;
}

/** The grid's columns, and the width below which its rows overflow (they scroll sideways). */
export function gridOf(columns: Sizing[]): { template: string; minWidth: number } {
  const template = columns.map((c) => (c.grow ? `minmax(${narrowest(c)}px, 1fr)` : `${c.size ?? DEFAULT_SIZE}px`)).join(" ");
  return { template, minWidth: columns.reduce((sum, c) => sum + narrowest(c), 0) };
}
