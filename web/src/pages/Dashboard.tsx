// One dashboard: its charts run with one view (time range, granularity, filters: kept in the URL),
// each drawn by its spec; a saved dashboard's charts are edited here (query + spec), a built-in one
// is copied first; any chart opens as a query in the BTQL sandbox.

import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { useApi, useCan } from "../auth";
import { BtqlEditor } from "../components/BtqlEditor";
import { ChartView, DataRows } from "../components/ChartView";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { ApiError, type Chart, type ChartData, type ChartWarning, type Dashboard } from "../lib/api";
import { CHART_TYPES, GRANULARITIES, RANGES, validationText, viewFromParams, viewToParams, type ChartType, type Granularity, type View } from "../lib/charts";
import { dashboardPath } from "./Dashboards";
import { useProject } from "./ProjectScope";
import { usePageContext } from "../components/Loop";

function ViewBar({ view, onChange }: { view: View; onChange: (v: Partial<View>) => void }) {
  const [filter, setFilter] = useState("");
  function add(e: FormEvent) {
    e.preventDefault();
    if (!filter.trim()) return;
    onChange({ ...view, filters: [...view.filters, filter.trim()] });
    setFilter("");
  }
  return (
    <form className="filter-bar view-bar" onSubmit={add} aria-label="Dashboard view">
      <select className="input" aria-label="Time range" value={view.range ?? ""} onChange={(e) => onChange({ ...view, range: e.target.value })}>
        {!view.range && <option value="">custom</option>}
        {RANGES.map((r) => (
          <option key={r} value={r}>
            last {r}
          </option>
        ))}
      </select>
      <select className="input" aria-label="Granularity" value={view.granularity ?? "hour"} onChange={(e) => onChange({ ...view, granularity: e.target.value as Granularity })}>
        {GRANULARITIES.map((g) => (
          <option key={g} value={g}>
            by {g}
          </option>
        ))}
      </select>
      <input className="input filter-input" placeholder="Add a filter (BTQL), e.g. metadata.model = 'gpt-4o'" aria-label="Dashboard filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
      <button className="btn" type="submit">
        Add filter
      </button>
      {view.filters.map((f, i) => (
        <span className="chip filter-chip" key={`${i}-${f}`}>
          <code>{f}</code>
          <button type="button" className="chip-x" aria-label={`Remove filter ${f}`} onClick={() => onChange({ ...view, filters: view.filters.filter((_, j) => j !== i) })}>
            ×
          </button>
        </span>
      ))}
    </form>
  );
}

// The query's warnings: it ran and these are its data, but they may not be what was meant
function ChartWarnings({ warnings }: { warnings: ChartWarning[] }) {
  return (
    <div className="notice notice-warn chart-warnings" role="note" aria-label="Chart warnings">
      <strong>{warnings.length === 1 ? "Warning" : `${warnings.length} warnings`}</strong>
      <ul>
        {warnings.map((w, i) => (
          <li key={`${i}-${w.code ?? ""}`}>{w.message}</li>
        ))}
      </ul>
    </div>
  );
}

function ChartCard({
  chart,
  result,
  loading,
  granularity,
  onEdit,
  onOpen,
  onDelete,
}: {
  chart: Chart;
  result: ChartData | undefined;
  loading: boolean;
  granularity: Granularity | null | undefined;
  onEdit?: () => void;
  onOpen: () => void;
  onDelete?: () => void;
}) {
  return (
    <section className={`card dash-chart${chart.spec.type === "table" ? " wide" : ""}`} aria-label={chart.title} data-chart={chart.id}>
      <header className="dash-chart-head">
        <div>
          <h2>{chart.title}</h2>
          {chart.description && <div className="muted small">{chart.description}</div>}
        </div>
        <div className="dash-chart-actions">
          <button className="btn btn-ghost btn-sm" onClick={onOpen}>
            Open as query
          </button>
          {onEdit && (
            <button className="btn btn-ghost btn-sm" onClick={onEdit}>
              Edit
            </button>
          )}
          {onDelete && (
            <button className="btn btn-ghost btn-sm btn-danger" aria-label={`Delete chart ${chart.title}`} onClick={onDelete}>
              ✕
            </button>
          )}
        </div>
      </header>
      {loading && !result ? (
        <Loading what="chart" />
      ) : result?.error ? (
        <div className="state state-error" role="alert">
          <strong>This chart failed</strong>
          <p>
            {result.error.class ? `${result.error.class}: ` : ""}
            {result.error.message}
          </p>
        </div>
      ) : result?.data ? (
        <>
          {result.warnings && result.warnings.length > 0 && <ChartWarnings warnings={result.warnings} />}
          <ChartView spec={chart.spec} rows={result.data} granularity={granularity} />
          {chart.spec.type !== "table" && result.data.length > 0 && (
            <details className="chart-data">
              <summary>
                Data ({result.data.length} {result.data.length === 1 ? "row" : "rows"})
              </summary>
              <DataRows rows={result.data} units={chart.spec.units} granularity={chart.spec.granularity ?? granularity} />
            </details>
          )}
        </>
      ) : null}
    </section>
  );
}

const NEW_CHART: Chart = {
  id: "",
  title: "",
  query: "dimensions: hour(created) AS time\n| measures: count(1) AS spans\n| sort: time",
  spec: { type: "line", x: "time", series: ["spans"], units: "count" },
};

function slug(title: string, taken: Set<string>): string {
  const base = title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 48) || "chart";
  let id = base;
  for (let i = 2; taken.has(id); i++) id = `${base}-${i}`;
  return id;
}

function ChartEditor({ dashboard, chart, onDone }: { dashboard: Dashboard; chart: Chart | null; onDone: () => void }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const isNew = chart === null;
  const start = chart ?? NEW_CHART;
  const [title, setTitle] = useState(start.title);
  const [query, setQuery] = useState(start.query);
  const [type, setType] = useState<ChartType>(start.spec.type);
  const [x, setX] = useState(start.spec.x ?? "");
  const [series, setSeries] = useState(start.spec.series.join(", "));
  const [units, setUnits] = useState(start.spec.units ?? "");
  const save = useMutation({
    mutationFn: () => {
      const next: Chart = {
        id: isNew ? slug(title, new Set(dashboard.charts.map((c) => c.id))) : start.id,
        title: title.trim(),
        query,
        description: start.description ?? "",
        spec: {
          ...start.spec,
          type,
          x: x.trim() || null,
          series: series
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
          units: units.trim() || null,
        },
      };
      return isNew ? api.addChart(dashboard.id, next) : api.replaceChart(dashboard.id, next);
    },
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["dashboard", dashboard.id] });
      void queryClient.invalidateQueries({ queryKey: ["dashboard-data", dashboard.id] });
      onDone();
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate();
  }
  const where = save.error instanceof ApiError && save.error.position ? ` (line ${save.error.position.line}, column ${save.error.position.column})` : "";
  return (
    <div className="modal-backdrop" onClick={onDone}>
      <form className="modal chart-editor" role="dialog" aria-label={isNew ? "New chart" : `Edit chart ${start.title}`} onSubmit={submit} onClick={(e) => e.stopPropagation()}>
        <h2>{isNew ? "New chart" : `Edit “${start.title}”`}</h2>
        <label>
          Title
          <input className="input" value={title} onChange={(e) => setTitle(e.target.value)} aria-label="Chart title" required />
        </label>
        <div className="field-label">Query (BTQL, without from: — the dashboard's project, view and filters are applied)</div>
        <BtqlEditor api={api} initial={query} onChange={setQuery} onRun={() => save.mutate()} toValidate={(t) => validationText(t, dashboard.project_id)} label="Chart query" />
        <div className="spec-fields">
          <label>
            Type
            <select className="input" value={type} onChange={(e) => setType(e.target.value as ChartType)} aria-label="Chart type">
              {CHART_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t.replace("_", " ")}
                </option>
              ))}
            </select>
          </label>
          <label>
            X axis
            <input className="input" value={x} onChange={(e) => setX(e.target.value)} aria-label="X axis" placeholder="time" />
          </label>
          <label>
            Series
            <input className="input" value={series} onChange={(e) => setSeries(e.target.value)} aria-label="Series" placeholder="calls, errors" />
          </label>
          <label>
            Units
            <input className="input" value={units} onChange={(e) => setUnits(e.target.value)} aria-label="Units" placeholder="count, ratio, s, USD" />
          </label>
        </div>
        {save.isError && (
          <div className="form-error" role="alert">
            {save.error.message}
            {where}
          </div>
        )}
        <div className="modal-actions">
          <button type="button" className="btn btn-ghost" onClick={onDone}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.isPending || !title.trim()}>
            {save.isPending ? "Saving…" : "Save chart"}
          </button>
        </div>
      </form>
    </div>
  );
}

export default function DashboardPage() {
  const project = useProject();
  const api = useApi();
  const canWrite = useCan("member");
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { dashboard: id } = useParams();
  const [params, setParams] = useSearchParams();
  const [editing, setEditing] = useState<Chart | null | "new">(null);
  const urlView = viewFromParams(params);
  usePageContext({ kind: "none", project_id: project.id });
  const d = useQuery({ queryKey: ["dashboard", id, project.id], queryFn: () => api.dashboard(id!, project.id) });
  const data = useQuery({
    queryKey: ["dashboard-data", id, project.id, urlView],
    queryFn: ({ signal }) => api.dashboardData(id!, project.id, urlView, signal),
    enabled: d.isSuccess,
    refetchOnMount: "always",
  });
  const copy = useMutation({
    mutationFn: (src: Dashboard) =>
      api.createDashboard({ project_id: project.id, name: `${src.name} (copy)`, description: src.description, charts: src.charts, view: src.view }),
    onSuccess: (c) => {
      void queryClient.invalidateQueries({ queryKey: ["dashboards", project.id] });
      navigate(`../dashboards/${dashboardPath(c)}${params.size ? `?${params}` : ""}`);
    },
  });
  const remove = useMutation({
    mutationFn: () => api.deleteDashboard(id!),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["dashboards", project.id] });
      navigate("../dashboards");
    },
  });
  const removeChart = useMutation({
    mutationFn: (chartId: string) => api.deleteChart(id!, chartId),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["dashboard", id] });
      void queryClient.invalidateQueries({ queryKey: ["dashboard-data", id] });
    },
  });
  const open = useMutation({
    mutationFn: (chartId: string) => api.chartQuery(id!, chartId, project.id, urlView),
    onSuccess: (q) => navigate(`../btql?q=${encodeURIComponent(q)}`),
  });

  if (d.isPending) return <Loading what="dashboard" />;
  if (d.isError)
    return (
      <div className="page">
        <ErrorState error={d.error} title="Could not load the dashboard" action={<Link to="../dashboards">All dashboards</Link>} />
      </div>
    );
  const dash = d.data;
  const served = data.data?.view;
  const view: View = {
    range: served ? served.range : (urlView?.range ?? dash.view?.range ?? null),
    granularity: served ? served.granularity : (urlView?.granularity ?? dash.view?.granularity ?? null),
    filters: served ? served.filters : (urlView?.filters ?? dash.view?.filters ?? []),
  };
  const results = new Map((data.data?.charts ?? []).map((c) => [c.id, c]));
  const editable = canWrite && !dash.builtin;
  const failure = data.error ?? copy.error ?? remove.error ?? removeChart.error ?? open.error;

  return (
    <div className="page dashboard">
      <PageHeader
        title={dash.name}
        subtitle={`${dash.builtin ? "built-in · " : ""}${dash.description || project.name}`}
        actions={
          <>
            {canWrite && dash.builtin && (
              <button className="btn" onClick={() => copy.mutate(dash)} disabled={copy.isPending}>
                Save a copy to edit
              </button>
            )}
            {editable && (
              <>
                <button className="btn btn-primary" onClick={() => setEditing("new")}>
                  Add chart
                </button>
                <button className="btn btn-ghost btn-danger" onClick={() => window.confirm(`Delete the dashboard “${dash.name}”?`) && remove.mutate()}>
                  Delete
                </button>
              </>
            )}
            <button className="btn" onClick={() => void data.refetch()} disabled={data.isFetching}>
              {data.isFetching ? "Refreshing…" : "Refresh"}
            </button>
          </>
        }
      />
      <ViewBar view={view} onChange={(v) => setParams(viewToParams(v, params))} />
      {failure && <ErrorState error={failure} title={data.error ? "The view could not be applied" : "That did not work"} />}
      {dash.charts.length === 0 ? (
        <Empty title="This dashboard has no charts yet">{editable && <button className="btn btn-primary" onClick={() => setEditing("new")}>Add chart</button>}</Empty>
      ) : (
        <div className="dash-grid">
          {dash.charts.map((c) => (
            <ChartCard
              key={c.id}
              chart={c}
              result={results.get(c.id)}
              loading={data.isFetching}
              granularity={view.granularity}
              onOpen={() => open.mutate(c.id)}
              onEdit={editable ? () => setEditing(c) : undefined}
              onDelete={editable ? () => window.confirm(`Delete the chart “${c.title}”?`) && removeChart.mutate(c.id) : undefined}
            />
          ))}
        </div>
      )}
      {editing !== null && <ChartEditor dashboard={dash} chart={editing === "new" ? null : editing} onDone={() => setEditing(null)} />}
    </div>
  );
}
