"""`/dashboards` routes: list (built-ins + saved), create, read, replace, delete; add, replace and
delete one chart; run the charts (`/data`); a chart as sandbox BTQL (`/charts/{id}/btql`).

Every route is scoped to the caller's org; a project or dashboard of another org is a 404. The
built-in dashboards (`builtin:*`) are read-only (a 400 to change them) and need `project_id`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request, Response
from loopline.common.auth import Principal
from loopline.common.errors import NotFound, ServiceError
from loopline.common.http import JSONResponse
from loopline.query.dashboards.builtin import BUILTIN, BUILTIN_PREFIX, builtin
from loopline.query.dashboards.compose import query_text
from loopline.query.dashboards.models import Chart, DashboardIn, DataRequest, View
from loopline.query.dashboards.run import check, composed, merged_view, run_charts
from loopline.query.dashboards.store import DashboardStore, Saved
from loopline.query.deps import Caller, Fresh, QueryState
from loopline.query.state import State
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


async def _body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        obj = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise ServiceError(
            400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(obj, dict):
        raise ServiceError(400, "body must be a JSON object")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        raise ServiceError(400, f"{loc}: {e['msg']}" if loc else str(e["msg"]), field=loc) from None


async def _project(state: State, principal: Principal, project_id: str | None) -> str:
    if not project_id:
        raise ServiceError(400, "'project_id' is required", field="project_id")
    info = await state.control_plane.object_info(principal.org_id, "project", project_id)
    if info is None:
        raise NotFound(f"project {project_id!r} does not exist in this organization")
    return project_id


def _store(state: State) -> DashboardStore:
    return DashboardStore(state.store)


async def _saved(state: State, principal: Principal, dashboard_id: str) -> Saved:
    if dashboard_id.startswith(BUILTIN_PREFIX):
        raise ServiceError(400, "built-in dashboards are read-only: save a copy to change it", field="id")
    saved = await _store(state).get(principal.org_id, dashboard_id)
    if saved is None:
        raise NotFound(f"dashboard {dashboard_id!r} does not exist in this organization")
    return saved


async def _any(state: State, principal: Principal, dashboard_id: str, project_id: str | None) -> DashboardIn:
    """A built-in (for `project_id`) or a saved dashboard of the caller's org."""
    if dashboard_id.startswith(BUILTIN_PREFIX):
        pid = await _project(state, principal, project_id)
        d = builtin(dashboard_id, pid)
        if d is None:
            raise NotFound(f"no built-in dashboard {dashboard_id!r}")
        return d
    saved = await _saved(state, principal, dashboard_id)
    if project_id and project_id != saved.dashboard.project_id:
        raise NotFound(f"dashboard {dashboard_id!r} does not belong to project {project_id!r}")
    return saved.dashboard


def _describe(dashboard_id: str, d: DashboardIn, saved: Saved | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": dashboard_id, "builtin": saved is None, **d.model_dump(mode="json")}
    if saved is not None:
        out["created"] = saved.created.isoformat()
        out["updated"] = saved.updated.isoformat()
    return out


async def _save(
    state: State, principal: Principal, dashboard_id: str, d: DashboardIn, created: datetime | None
) -> Saved:
    await _project(state, principal, d.project_id)
    check(d, datetime.now(UTC))
    return await _store(state).put(principal.org_id, dashboard_id, d, created)


def _chart_index(d: DashboardIn, chart_id: str) -> int:
    for i, c in enumerate(d.charts):
        if c.id == chart_id:
            return i
    raise NotFound(f"no chart {chart_id!r} in this dashboard")


def build_dashboards_router() -> APIRouter:
    router = APIRouter()

    @router.get("/dashboards")
    async def list_dashboards(
        principal: Caller, state: QueryState, project_id: str | None = None
    ) -> Response:
        pid = await _project(state, principal, project_id)
        out = [_describe(i, d.model_copy(update={"project_id": pid})) for i, d in BUILTIN.items()]
        out += [_describe(s.id, s.dashboard, s) for s in await _store(state).list(principal.org_id, pid)]
        return JSONResponse({"objects": out})

    @router.post("/dashboards")
    async def create_dashboard(request: Request, principal: Caller, state: QueryState) -> Response:
        d = await _body(request, DashboardIn)
        saved = await _save(state, principal, str(uuid.uuid4()), d, None)
        return JSONResponse(_describe(saved.id, d, saved))

    @router.get("/dashboards/{dashboard_id}")
    async def get_dashboard(
        dashboard_id: str, principal: Caller, state: QueryState, project_id: str | None = None
    ) -> Response:
        if dashboard_id.startswith(BUILTIN_PREFIX):
            return JSONResponse(
                _describe(dashboard_id, await _any(state, principal, dashboard_id, project_id))
            )
        saved = await _saved(state, principal, dashboard_id)
        return JSONResponse(_describe(saved.id, saved.dashboard, saved))

    @router.put("/dashboards/{dashboard_id}")
    async def replace_dashboard(
        dashboard_id: str, request: Request, principal: Caller, state: QueryState
    ) -> Response:
        old = await _saved(state, principal, dashboard_id)
        d = await _body(request, DashboardIn)
        if d.project_id != old.dashboard.project_id:
            raise ServiceError(400, "a dashboard cannot move to another project", field="project_id")
        saved = await _save(state, principal, dashboard_id, d, old.created)
        return JSONResponse(_describe(saved.id, d, saved))

    @router.delete("/dashboards/{dashboard_id}")
    async def delete_dashboard(dashboard_id: str, principal: Caller, state: QueryState) -> Response:
        old = await _saved(state, principal, dashboard_id)
        await _store(state).delete(principal.org_id, old)
        return JSONResponse({"id": dashboard_id, "deleted": True})

    @router.post("/dashboards/{dashboard_id}/charts")
    async def add_chart(
        dashboard_id: str, request: Request, principal: Caller, state: QueryState
    ) -> Response:
        old = await _saved(state, principal, dashboard_id)
        chart = await _body(request, Chart)
        if any(c.id == chart.id for c in old.dashboard.charts):
            raise ServiceError(400, f"the dashboard already has a chart {chart.id!r}", field="id")
        d = _with_charts(old.dashboard, (*old.dashboard.charts, chart))
        saved = await _save(state, principal, dashboard_id, d, old.created)
        return JSONResponse(_describe(saved.id, d, saved))

    @router.put("/dashboards/{dashboard_id}/charts/{chart_id}")
    async def replace_chart(
        dashboard_id: str, chart_id: str, request: Request, principal: Caller, state: QueryState
    ) -> Response:
        old = await _saved(state, principal, dashboard_id)
        i = _chart_index(old.dashboard, chart_id)
        chart = await _body(request, Chart)
        if chart.id != chart_id:
            raise ServiceError(400, "the chart's id must match the path", field="id")
        charts = list(old.dashboard.charts)
        charts[i] = chart
        d = _with_charts(old.dashboard, tuple(charts))
        saved = await _save(state, principal, dashboard_id, d, old.created)
        return JSONResponse(_describe(saved.id, d, saved))

    @router.delete("/dashboards/{dashboard_id}/charts/{chart_id}")
    async def delete_chart(
        dashboard_id: str, chart_id: str, principal: Caller, state: QueryState
    ) -> Response:
        old = await _saved(state, principal, dashboard_id)
        i = _chart_index(old.dashboard, chart_id)
        charts = old.dashboard.charts[:i] + old.dashboard.charts[i + 1 :]
        d = _with_charts(old.dashboard, charts)
        saved = await _save(state, principal, dashboard_id, d, old.created)
        return JSONResponse(_describe(saved.id, d, saved))

    @router.post("/dashboards/{dashboard_id}/data")
    async def dashboard_data(
        dashboard_id: str, request: Request, principal: Caller, state: QueryState, _: Fresh
    ) -> Response:
        req = await _body(request, DataRequest)
        d = await _any(state, principal, dashboard_id, req.project_id)
        return JSONResponse(
            {"id": dashboard_id, **await run_charts(state, principal, d, req.view, req.charts)}
        )

    @router.post("/dashboards/{dashboard_id}/charts/{chart_id}/btql")
    async def chart_btql(
        dashboard_id: str, chart_id: str, request: Request, principal: Caller, state: QueryState
    ) -> Response:
        """The chart as a sandbox query: its BTQL composed with the view (the request's, else the
        dashboard's), as text."""
        req = await _body(request, _BtqlRequest)
        d = await _any(state, principal, dashboard_id, req.project_id)
        chart = d.charts[_chart_index(d, chart_id)]
        v = merged_view(d, req.view)
        return JSONResponse(
            {"query": query_text(composed(d, chart, v, datetime.now(UTC))), "view": v.model_dump()}
        )

    return router


class _BtqlRequest(BaseModel):
    model_config = DataRequest.model_config
    project_id: str
    view: View | None = None


def _with_charts(d: DashboardIn, charts: tuple[Chart, ...]) -> DashboardIn:
    return DashboardIn.model_validate({**d.model_dump(), "charts": [c.model_dump() for c in charts]})
