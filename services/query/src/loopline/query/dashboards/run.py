"""Running a dashboard: each chart composed with the view, authorized and compiled like a `/btql`
request, and run concurrently (at most `CONCURRENCY` at once per request). A chart that fails
(a bad saved query, a time limit) answers its own error; the others still answer. A chart whose
query the binder has a hint about (e.g. a key that is no field, read as an extra top-level key)
answers its data with `warnings`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from loopline.btql import ast as A
from loopline.common.auth import Principal
from loopline.common.errors import ServiceError
from loopline.common.store import StoreError
from loopline.query.btql_http import QueryFailed, compile_request, execute
from loopline.query.dashboards.compose import compose, parse_chart, query_text
from loopline.query.dashboards.models import Chart, DashboardIn, View
from loopline.query.state import State

from loopline import btql

CONCURRENCY = 4


def composed(d: DashboardIn, chart: Chart, view: View, now: datetime) -> A.Query:
    return compose(chart, parse_chart(chart), d.project_id, view, now)


def merged_view(d: DashboardIn, view: View | None) -> View:
    """The request's view, the dashboard's where the request leaves a field unset."""
    if view is None:
        return d.view
    given = view.model_dump(exclude_unset=True)
    base = d.view.model_dump()
    if "start" in given or "end" in given:
        base["range"] = None
    if "range" in given:
        base["start"] = base["end"] = None
    return View.model_validate({**base, **given})


def check(d: DashboardIn, now: datetime) -> None:
    """Every chart composes and binds with the dashboard's view (else a 400 naming the chart)."""
    for i, chart in enumerate(d.charts):
        q = compose(chart, parse_chart(chart, i), d.project_id, d.view, now)
        try:
            btql.bind(q)
        except btql.BtqlError as exc:
            raise ServiceError(
                400,
                f"chart {chart.id!r}: {exc.message}",
                chart=chart.id,
                field=f"charts[{i}].query",
                line=exc.line,
                column=exc.column,
                error_class=exc.error_class,
            ) from None


async def _one(
    state: State, principal: Principal, d: DashboardIn, chart: Chart, view: View, now: datetime
) -> dict[str, Any]:
    q = composed(d, chart, view, now)
    out: dict[str, Any] = {
        "id": chart.id,
        "title": chart.title,
        "spec": chart.spec.model_dump(),
        "btql": query_text(q),
    }
    try:
        cq = await compile_request(state, principal, {"query": None}, q)
        page = await execute(state, cq)
    except btql.ScopeError:
        raise
    except btql.BtqlError as exc:
        out["error"] = exc.to_json()["error"]
        return out
    except StoreError as exc:
        status, message = QueryFailed(exc).classify()
        out["error"] = {"class": "RuntimeError", "status": status, "message": message}
        return out
    out["data"] = page.data
    out["schema"] = cq.response_schema()
    hints = [w for w in cq.warnings if w.get("stage") == "binder"]  # e.g. an unknown key read from extra
    if hints:
        out["warnings"] = hints
    return out


async def run_charts(
    state: State, principal: Principal, d: DashboardIn, view: View | None, chart_ids: tuple[str, ...] | None
) -> dict[str, Any]:
    v = merged_view(d, view)
    charts = list(d.charts)
    if chart_ids is not None:
        by_id = {c.id: c for c in charts}
        missing = [c for c in chart_ids if c not in by_id]
        if missing:
            raise ServiceError(400, f"no chart {missing[0]!r} in this dashboard", field="charts")
        charts = [by_id[c] for c in chart_ids]
    now = datetime.now(UTC)
    for i, c in enumerate(charts):  # bad compositions (a filter of the view) fail the request, before running
        compose(c, parse_chart(c, i), d.project_id, v, now)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def bounded(c: Chart) -> dict[str, Any]:
        async with gate:
            return await _one(state, principal, d, c, v, now)

    results = await asyncio.gather(*(bounded(c) for c in charts))
    return {"view": v.model_dump(), "charts": list(results)}
