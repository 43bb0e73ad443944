// An experiment compared with another (its base by default): rows matched by input, each score's
// change per row, filters for regressions / improvements / changed outputs, and a word diff of the
// outputs (the `diff` package) in the table and, in full, in the row's panel.

import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { diffWordsWithSpace } from "diff";
import { useApi } from "../auth";
import { comparisonQuery } from "../lib/btql";
import { compareRows, diffText, filterCompared, type CompareFilter, type ComparedRow, type ScoreChange } from "../lib/compare";
import type { Experiment } from "../lib/api";
import { formatDiff, formatScore, preview } from "../lib/format";
import { DataTable } from "./DataTable";
import { FieldValue } from "./JsonValue";
import { Empty, ErrorState, Loading } from "./States";
import type { TraceRow } from "./TracesTable";

export function OutputDiff({ base, value, max }: { base: unknown; value: unknown; max?: number }) {
  const parts = useMemo(() => {
    let a = diffText(base);
    let b = diffText(value);
    if (max) {
      a = a.replace(/\s+/g, " ").slice(0, max);
      b = b.replace(/\s+/g, " ").slice(0, max);
    }
    return diffWordsWithSpace(a, b);
  }, [base, value, max]);
  return (
    <span className={`diff${max ? "" : " diff-full"}`}>
      {parts.map((p, i) =>
        p.added ? (
          <ins key={i}>{p.value}</ins>
        ) : p.removed ? (
          <del key={i}>{p.value}</del>
        ) : (
          <span key={i}>{p.value}</span>
        ),
      )}
    </span>
  );
}

function ScoreDeltas({ scores, only }: { scores: ScoreChange[]; only?: string }) {
  return (
    <span className="score-chips">
      {scores
        .filter((s) => !only || s.name === only)
        .map((s) => (
          <span key={s.name} className={`chip ${s.delta == null || Math.abs(s.delta) < 1e-9 ? "" : s.delta > 0 ? "good" : "bad"}`} title={`${s.name}: ${formatScore(s.base)} → ${formatScore(s.value)}`}>
            {s.name}: {formatScore(s.value)}
            {s.delta != null && Math.abs(s.delta) > 1e-9 && <> ({s.delta > 0 ? "▲" : "▼"} {formatDiff(s.delta)})</>}
          </span>
        ))}
    </span>
  );
}

const FILTERS: { id: CompareFilter; label: string }[] = [
  { id: "all", label: "All rows" },
  { id: "regressed", label: "Regressions" },
  { id: "improved", label: "Improvements" },
  { id: "changed", label: "Output changed" },
];

export function Comparison({ experiment, base }: { experiment: Experiment; base: Experiment }) {
  const api = useApi();
  const [filter, setFilter] = useState<CompareFilter>("all");
  const [score, setScore] = useState("");
  const [open, setOpen] = useState<ComparedRow<TraceRow> | null>(null);
  const cur = useQuery({ queryKey: ["comparison-rows", experiment.id], queryFn: ({ signal }) => api.btql<TraceRow>(comparisonQuery(experiment.id), signal) });
  const prev = useQuery({ queryKey: ["comparison-rows", base.id], queryFn: ({ signal }) => api.btql<TraceRow>(comparisonQuery(base.id), signal) });
  const compared = useMemo(() => (cur.data && prev.data ? compareRows(cur.data.data, prev.data.data) : []), [cur.data, prev.data]);
  const names = useMemo(() => [...new Set(compared.flatMap((r) => r.scores.map((s) => s.name)))], [compared]);
  const shown = useMemo(() => filterCompared(compared, filter, score || undefined), [compared, filter, score]);

  if (cur.isPending || prev.isPending) return <Loading what="comparison" />;
  if (cur.isError || prev.isError) return <ErrorState error={cur.error ?? prev.error} title="Could not load the rows to compare" />;
  const counts = Object.fromEntries(FILTERS.map((f) => [f.id, filterCompared(compared, f.id, score || undefined).length]));
  const unmatched = compared.filter((r) => r.status === "new").length;

  return (
    <div className="comparison">
      <div className="filter-bar" role="group" aria-label="Comparison filter">
        {FILTERS.map((f) => (
          <button key={f.id} className={`btn btn-sm${filter === f.id ? " btn-primary" : ""}`} aria-pressed={filter === f.id} onClick={() => setFilter(f.id)}>
            {f.label} ({counts[f.id]})
          </button>
        ))}
        <select className="input input-sm" aria-label="Score to compare" value={score} onChange={(e) => setScore(e.target.value)}>
          <option value="">every score</option>
          {names.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
        {unmatched > 0 && <span className="muted small">{unmatched} rows have no row of the same input in {base.name}</span>}
      </div>
      {shown.length === 0 ? (
        <Empty title="No rows match" />
      ) : (
        <div className="page-split compare-split">
          <div className="page-main compare-main">
            <DataTable<ComparedRow<TraceRow>>
              label="Comparison"
              rows={shown}
              rowId={(r) => r.row.root_span_id}
              selectedId={open?.row.root_span_id}
              onRowClick={setOpen}
              columns={[
                { id: "input", header: "Input", size: 180, grow: true, cell: (r) => <span className="preview">{preview(r.row.input)}</span> },
                {
                  id: "output",
                  header: `Output (${base.name} → ${experiment.name})`,
                  size: 300,
                  grow: true,
                  cell: (r) => (r.base ? <OutputDiff base={r.base.output} value={r.row.output} max={300} /> : <span className="preview">{preview(r.row.output)}</span>),
                },
                { id: "scores", header: "Scores", size: 330, cell: (r) => <ScoreDeltas scores={r.scores} only={score || undefined} /> },
                { id: "status", header: "", size: 96, cell: (r) => <span className={`badge status-${r.status}`}>{r.status}</span> },
              ]}
            />
          </div>
          {open && (
            <aside className="trace-panel record-panel drawer" aria-label="Row comparison">
              <div className="trace-head">
                <div>
                  <h2>Row comparison</h2>
                  <div className="muted small">
                    {base.name} → {experiment.name}
                  </div>
                </div>
                <button className="btn btn-ghost" onClick={() => setOpen(null)} aria-label="Close comparison">
                  ✕
                </button>
              </div>
              <div className="span-detail">
                <section className="span-section" aria-label="Input">
                  <h3>Input</h3>
                  <FieldValue value={open.row.input} />
                </section>
                <section className="span-section" aria-label="Output diff">
                  <h3>Output</h3>
                  {open.base ? <OutputDiff base={open.base.output} value={open.row.output} /> : <FieldValue value={open.row.output} />}
                </section>
                {open.row.expected !== undefined && open.row.expected !== null && (
                  <section className="span-section" aria-label="Expected">
                    <h3>Expected</h3>
                    <FieldValue value={open.row.expected} />
                  </section>
                )}
                <section className="span-section" aria-label="Score changes">
                  <h3>Scores</h3>
                  <table className="mini-table">
                    <thead>
                      <tr>
                        <th>score</th>
                        <th>{base.name}</th>
                        <th>{experiment.name}</th>
                        <th>change</th>
                      </tr>
                    </thead>
                    <tbody>
                      {open.scores.map((s) => (
                        <tr key={s.name}>
                          <td>{s.name}</td>
                          <td>{formatScore(s.base)}</td>
                          <td>{formatScore(s.value)}</td>
                          <td className={s.delta && s.delta > 0 ? "up" : s.delta && s.delta < 0 ? "down" : ""}>{formatDiff(s.delta) || "±0"}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </section>
              </div>
            </aside>
          )}
        </div>
      )}
    </div>
  );
}
