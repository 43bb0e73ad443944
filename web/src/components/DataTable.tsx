// A table of many rows: TanStack Table for the column model and sizes, TanStack Virtual so only
// the rows on screen are in the DOM. Columns that say how (minSize, hidePriority) fit a narrow
// table instead of making it scroll sideways (lib/columns.ts).

import { useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { columnSizingFeature, tableFeatures, useTable, type ColumnDef, type RowData } from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { DEFAULT_SIZE, fitColumns, gridOf, type Sizing } from "../lib/columns";

export interface Column<R> extends Sizing {
  id: string;
  header: ReactNode;
  cell: (row: R) => ReactNode;
}

const features = tableFeatures({ columnSizingFeature });

interface Props<R extends RowData> {
  columns: Column<R>[];
  rows: R[];
  rowId: (row: R, index: number) => string;
  onRowClick?: (row: R) => void;
  selectedId?: string | null;
  /** called when the last rows come into view (load the next page) */
  onEndReached?: () => void;
  rowHeight?: number;
  label: string;
  footer?: ReactNode;
}

export function DataTable<R extends RowData>({ columns: all, rows, rowId, onRowClick, selectedId, onEndReached, rowHeight = 40, label, footer }: Props<R>) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const width = useClientWidth(scrollRef);
  const columns = useMemo(() => fitColumns(all, width), [all, width]);
  const defs = useMemo<ColumnDef<typeof features, R>[]>(
    () =>
      columns.map((c) => ({
        id: c.id,
        header: () => c.header,
        accessorFn: (r: R) => r,
        cell: (info: { row: { original: R } }) => c.cell(info.row.original),
        size: c.size ?? DEFAULT_SIZE,
        meta: { grow: c.grow },
      })) as unknown as ColumnDef<typeof features, R>[],
    [columns],
  );
  const table = useTable({ features, columns: defs, data: rows, getRowId: (r: R, i: number) => rowId(r, i) });
  const modelRows = table.getRowModel().rows;
  const virtualizer = useVirtualizer({
    count: modelRows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 10,
  });
  const items = virtualizer.getVirtualItems();
  const last = items.length ? items[items.length - 1].index : -1;
  useEffect(() => {
    if (onEndReached && modelRows.length > 0 && last >= modelRows.length - 5) onEndReached();
  }, [last, modelRows.length, onEndReached]);

  // every row is its own grid: the same minimum width for all keeps their columns aligned
  const { template, minWidth } = gridOf(columns);
  return (
    <div className="data-table" role="table" aria-label={label} aria-rowcount={modelRows.length}>
      <div className="dt-scroll" ref={scrollRef}>
        <div className="dt-header" role="row" style={{ gridTemplateColumns: template, minWidth }}>
          {table.getHeaderGroups()[0].headers.map((h) => (
            <div className="dt-th" role="columnheader" key={h.id}>
              <table.FlexRender header={h} />
            </div>
          ))}
        </div>
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {items.map((item) => {
            const row = modelRows[item.index];
            const selected = selectedId != null && row.id === selectedId;
            return (
              <div
                key={row.id}
                role="row"
                data-row-id={row.id}
                aria-selected={selected}
                className={`dt-row${selected ? " selected" : ""}${onRowClick ? " clickable" : ""}`}
                style={{ gridTemplateColumns: template, minWidth, height: rowHeight, transform: `translateY(${item.start}px)` }}
                tabIndex={onRowClick ? 0 : undefined}
                onClick={onRowClick ? () => onRowClick(row.original as R) : undefined}
                onKeyDown={onRowClick ? (e) => e.key === "Enter" && onRowClick(row.original as R) : undefined}
              >
                {row.getAllCells().map((cell) => (
                  <div className="dt-td" role="cell" key={cell.id}>
                    <table.FlexRender cell={cell} />
                  </div>
                ))}
              </div>
            );
          })}
        </div>
        {footer}
      </div>
    </div>
  );
}

/** The element's width inside its borders and scroll bar, followed as it changes (null before the
 * first layout). */
function useClientWidth(ref: React.RefObject<HTMLElement | null>): number | null {
  const [width, setWidth] = useState<number | null>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return width;
}
