import { useEffect, useState } from "react";
import { NO_FILTERS, TIME_RANGES, type LogFilters, type TimeRange } from "../lib/btql";

const RANGE_LABELS: Record<TimeRange, string> = { "1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days", all: "All time" };

export function FilterBar({ value, onChange }: { value: LogFilters; onChange: (f: LogFilters) => void }) {
  const [search, setSearch] = useState(value.search);
  const [expression, setExpression] = useState(value.expression);
  useEffect(() => setSearch(value.search), [value.search]);
  useEffect(() => setExpression(value.expression), [value.expression]);
  const dirty = search !== value.search || expression !== value.expression;
  const any = value.search || value.expression || value.errorsOnly || value.range !== "all";

  return (
    <form
      className="filter-bar"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        onChange({ ...value, search, expression });
      }}
    >
      <input
        className="input search-input"
        aria-label="Search"
        placeholder="Search input, output, metadata…"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      <input
        className="input filter-input mono"
        aria-label="Filter (BTQL)"
        placeholder="Filter, e.g. metadata.intent = 'billing' and scores.helpfulness < 0.5"
        value={expression}
        onChange={(e) => setExpression(e.target.value)}
      />
      <select
        className="input"
        aria-label="Time range"
        value={value.range}
        onChange={(e) => onChange({ ...value, search, expression, range: e.target.value as TimeRange })}
      >
        {(Object.keys(TIME_RANGES) as TimeRange[]).map((r) => (
          <option key={r} value={r}>
            {RANGE_LABELS[r]}
          </option>
        ))}
      </select>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={value.errorsOnly}
          onChange={(e) => onChange({ ...value, search, expression, errorsOnly: e.target.checked })}
        />
        Errors only
      </label>
      <button className={`btn ${dirty ? "btn-primary" : ""}`} type="submit">
        Apply
      </button>
      {any && (
        <button className="btn btn-ghost" type="button" onClick={() => onChange(NO_FILTERS)}>
          Clear
        </button>
      )}
    </form>
  );
}

/** Filters <-> URL search parameters, so a filtered view can be shared and reloaded. */
export function filtersFromParams(p: URLSearchParams): LogFilters {
  const range = p.get("range");
  return {
    search: p.get("search") ?? "",
    expression: p.get("filter") ?? "",
    errorsOnly: p.get("errors") === "1",
    range: range && range in TIME_RANGES ? (range as TimeRange) : "all",
  };
}

export function filtersToParams(f: LogFilters, p: URLSearchParams): URLSearchParams {
  const next = new URLSearchParams(p);
  const set = (k: string, v: string | null) => (v ? next.set(k, v) : next.delete(k));
  set("search", f.search);
  set("filter", f.expression);
  set("errors", f.errorsOnly ? "1" : null);
  set("range", f.range !== "all" ? f.range : null);
  return next;
}
