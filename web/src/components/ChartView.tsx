// One dashboard chart drawn with Recharts by its spec (line, bar, area, stacked bar, pie, a table
// or a single stat), with its numbers one click away (the "Data" table under the chart).

import { useMemo } from "react";
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Cell, Legend, Line, LineChart, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { columnsOf, formatTick, formatValue, hasValues, pivot, type ChartSpec, type Granularity, type Row } from "../lib/charts";

export const PALETTE = ["#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#84cc16", "#64748b"];

interface Props {
  spec: ChartSpec;
  rows: Row[];
  granularity?: Granularity | null;
  height?: number;
}

export function DataRows({ rows, units, granularity }: { rows: Row[]; units: string | null; granularity?: Granularity | null }) {
  const cols = columnsOf(rows);
  return (
    <div className="mini-table-wrap">
      <table className="mini-table">
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, 200).map((r, i) => (
            <tr key={i}>
              {cols.map((c) => (
                <td key={c}>{r[c] == null ? "–" : typeof r[c] === "number" ? formatValue(r[c], units) : formatTick(r[c], granularity)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ChartView({ spec, rows, granularity, height = 240 }: Props) {
  const plot = useMemo(() => pivot(spec, rows), [spec, rows]);
  const g = spec.granularity ?? granularity;
  const tick = (v: unknown) => formatTick(v, g);
  const value = (v: unknown) => formatValue(v, spec.units);
  const tooltip = <Tooltip labelFormatter={tick} formatter={(v) => value(v)} />;
  if (rows.length === 0) return <div className="chart-empty muted">No data in this time range</div>;

  if (spec.type === "table") return <DataRows rows={rows} units={spec.units} granularity={g} />;
  if (!hasValues(plot)) return <div className="chart-empty muted">No values in this time range</div>;
  if (spec.type === "stat") {
    const s = plot.series[0];
    const total = plot.data.reduce((sum, p) => sum + (typeof p[s] === "number" ? (p[s] as number) : 0), 0);
    return (
      <div className="chart-stat">
        <div className="stat-value">{value(plot.data.length === 1 ? plot.data[0][s] : total)}</div>
        <div className="muted small">{s}</div>
      </div>
    );
  }
  const common = { data: plot.data, margin: { top: 8, right: 16, bottom: 0, left: 4 } };
  const axes = (
    <>
      <CartesianGrid strokeDasharray="3 3" vertical={false} />
      <XAxis dataKey="x" tickFormatter={tick} minTickGap={16} fontSize={11} />
      <YAxis tickFormatter={value} width={64} fontSize={11} />
      {tooltip}
      {plot.series.length > 1 && <Legend wrapperStyle={{ fontSize: 12 }} />}
    </>
  );
  let chart: React.ReactElement;
  switch (spec.type) {
    case "line":
      chart = (
        <LineChart {...common}>
          {axes}
          {plot.series.map((s, i) => (
            <Line key={s} dataKey={s} stroke={PALETTE[i % PALETTE.length]} dot={plot.data.length < 40} strokeWidth={2} isAnimationActive={false} connectNulls />
          ))}
        </LineChart>
      );
      break;
    case "area":
      chart = (
        <AreaChart {...common}>
          {axes}
          {plot.series.map((s, i) => (
            <Area key={s} dataKey={s} stroke={PALETTE[i % PALETTE.length]} fill={PALETTE[i % PALETTE.length]} fillOpacity={0.2} isAnimationActive={false} />
          ))}
        </AreaChart>
      );
      break;
    case "pie": {
      const s = plot.series[0];
      const slices = plot.data.map((p) => ({ name: tick(p.x), value: typeof p[s] === "number" ? (p[s] as number) : 0 }));
      chart = (
        <PieChart>
          <Pie data={slices} dataKey="value" nameKey="name" outerRadius="80%" isAnimationActive={false} label={(e) => e.name}>
            {slices.map((_, i) => (
              <Cell key={i} fill={PALETTE[i % PALETTE.length]} />
            ))}
          </Pie>
          <Tooltip formatter={(v) => value(v)} />
        </PieChart>
      );
      break;
    }
    default:
      chart = (
        <BarChart {...common}>
          {axes}
          {plot.series.map((s, i) => (
            <Bar key={s} dataKey={s} fill={PALETTE[i % PALETTE.length]} stackId={spec.type === "stacked_bar" ? "stack" : undefined} isAnimationActive={false} radius={spec.type === "stacked_bar" ? 0 : [3, 3, 0, 0]} />
          ))}
        </BarChart>
      );
  }
  return (
    <ResponsiveContainer width="100%" height={height}>
      {chart}
    </ResponsiveContainer>
  );
}
