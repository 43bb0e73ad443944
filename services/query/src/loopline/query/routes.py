"""Query service routes (thin): object fetch, summaries, comparisons (`build_router`) and BTQL,
sync and async (`build_btql_router`; compiling, running and shaping a query is in btql_http).

What the routes need comes through `deps` (state, read-your-writes, bodies, scopes); refusals are
`ServiceError`s or domain errors, answered by the app's error table (query's rows: errors.py)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from loopline.common.auth import Principal
from loopline.common.control_plane import ObjectInfo
from loopline.common.errors import NotFound, ServiceError, malformed_json
from loopline.common.http import JSONResponse
from loopline.query.btql_http import compile_request, execute, parse, run_btql
from loopline.query.deps import Caller, Fresh, Jobs, QueryBody, QueryState, Reader, Scoped, wait_fresh
from loopline.query.reads import ObjectScope
from loopline.query.schema_inference import infer_schema
from loopline.query.sdk_fetch import as_object_fetch
from loopline.query.state import State
from loopline.query.summaries import (
    dataset_total_records,
    dataset_versions,
    summarize_scores,
    trace_stats,
)

from loopline import btql


async def _fetch_params(request: Request) -> dict[str, Any]:
    """The optional JSON object body of `POST .../fetch` (`limit`, `cursor`, `version`)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        params = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed_json(exc) from None
    if not isinstance(params, dict):
        raise ServiceError(400, "body must be a JSON object")
    return params


FetchParams = Annotated[dict[str, Any], Depends(_fetch_params)]


async def _fetch(state: State, scope: ObjectScope, params: dict[str, Any]) -> Response:
    cursor = params.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ServiceError(400, "'cursor' must be a string", field="cursor")
    result = await state.reader.fetch(
        scope, limit=params.get("limit"), cursor=cursor, version=params.get("version")
    )
    return JSONResponse(result)


async def _must(
    state: State, principal: Principal, object_type: str, object_id: str, what: str
) -> ObjectInfo:
    info = await state.control_plane.object_info(principal.org_id, object_type, object_id)
    if info is None:
        raise NotFound(f"{what} {object_id!r} does not exist in this organization")
    return info


async def _project_name(state: State, principal: Principal, project_id: str) -> str:
    project = await state.control_plane.object_info(principal.org_id, "project", project_id)
    return project.name if project else ""


async def experiment_summary(
    state: State, principal: Principal, experiment_id: str, comparison_id: str | None, summarize: bool = True
) -> dict[str, Any]:
    cp = state.control_plane
    exp = await _must(state, principal, "experiment", experiment_id, "experiment")
    project_name = await _project_name(state, principal, exp.project_id)
    base_id: str | None = None
    base_name: str | None = None
    if comparison_id:
        base = await _must(state, principal, "experiment", comparison_id, "comparison experiment")
        base_id, base_name = base.id, base.name
    else:
        default = await cp.base_experiment(principal.org_id, exp.id)
        if default is not None:
            base_id, base_name = default.id, default.name
    out: dict[str, Any] = {
        "project_name": project_name,
        "experiment_name": exp.name,
        "project_id": exp.project_id,
        "experiment_id": exp.id,
        "comparison_experiment_name": base_name,
        "scores": {},
        "metrics": {},
    }
    if not summarize:
        return out
    await wait_fresh(state)
    reader = state.reader
    cur = await trace_stats(reader, await reader.scope(principal.org_id, "experiment", exp.id))
    base_stats = None
    if base_id is not None:
        base_stats = await trace_stats(reader, await reader.scope(principal.org_id, "experiment", base_id))
    out["scores"], out["metrics"] = summarize_scores(cur, base_stats)
    return out


async def dataset_summary(state: State, principal: Principal, dataset_id: str) -> tuple[ObjectInfo, int]:
    ds = await _must(state, principal, "dataset", dataset_id, "dataset")
    await wait_fresh(state)
    scope = await state.reader.scope(principal.org_id, "dataset", dataset_id)
    return ds, await dataset_total_records(state.reader, scope)


def build_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/{object_type}/{object_id}/fetch")
    async def fetch_post(
        principal: Caller, params: FetchParams, scope: Scoped, _: Fresh, state: QueryState
    ) -> Response:
        return await _fetch(state, scope, params)

    @router.get("/v1/{object_type}/{object_id}/fetch")
    async def fetch_get(
        scope: Scoped,
        _: Fresh,
        state: QueryState,
        limit: str | None = None,
        cursor: str | None = None,
        version: str | None = None,
    ) -> Response:
        return await _fetch(state, scope, {"limit": limit, "cursor": cursor, "version": version})

    @router.get("/v1/experiment/{experiment_id}/summarize")
    async def summarize_experiment(
        experiment_id: str,
        principal: Caller,
        state: QueryState,
        summarize_scores: str = "true",
        comparison_experiment_id: str | None = None,
    ) -> Response:
        return JSONResponse(
            await experiment_summary(
                state, principal, experiment_id, comparison_experiment_id, summarize_scores.lower() != "false"
            )
        )

    @router.get("/experiment-comparison2")
    async def experiment_comparison2(
        experiment_id: str, principal: Caller, state: QueryState, base_experiment_id: str | None = None
    ) -> Response:
        out = await experiment_summary(state, principal, experiment_id, base_experiment_id)
        return JSONResponse({"scores": out["scores"], "metrics": out["metrics"]})

    @router.get("/v1/dataset/{dataset_id}/summarize")
    async def summarize_dataset(
        dataset_id: str, principal: Caller, state: QueryState, summarize_data: str = "true"
    ) -> Response:
        ds, total = await dataset_summary(state, principal, dataset_id)
        out: dict[str, Any] = {
            "project_name": await _project_name(state, principal, ds.project_id),
            "dataset_name": ds.name,
            "project_id": ds.project_id,
            "dataset_id": ds.id,
        }
        if summarize_data.lower() != "false":
            out["data_summary"] = {"total_records": total}
        return JSONResponse(out)

    @router.get("/v1/dataset/{dataset_id}/versions")
    async def list_dataset_versions(
        dataset_id: str, principal: Caller, state: QueryState, _: Fresh, limit: int = 100
    ) -> Response:
        if not 1 <= limit <= 1000:
            raise ServiceError(400, "'limit' must be between 1 and 1000", field="limit")
        await _must(state, principal, "dataset", dataset_id, "dataset")
        scope = await state.reader.scope(principal.org_id, "dataset", dataset_id)
        return JSONResponse({"versions": await dataset_versions(state.reader, scope, limit)})

    @router.get("/dataset-summary")
    async def legacy_dataset_summary(dataset_id: str, principal: Caller, state: QueryState) -> Response:
        _, total = await dataset_summary(state, principal, dataset_id)
        return JSONResponse({"total_records": total})

    return router


async def _async_body(body: QueryBody) -> dict[str, Any]:
    fmt = body.get("format", "jsonl")
    if fmt not in ("jsonl", "json"):
        raise ServiceError(400, f"unsupported format {fmt!r}: use 'jsonl'", field="format")
    return body


AsyncBody = Annotated[dict[str, Any], Depends(_async_body)]


def build_btql_router() -> APIRouter:
    """`/btql` (the SDK's object fetches take a fast path; other queries are compiled),
    `/btql/schema`, and `/btql/async` (submit a query, poll it, page through its rows, cancel it)."""
    router = APIRouter()

    @router.get("/btql/schema")
    async def btql_schema(scope: Scoped, _: Fresh, reader: Reader) -> Response:
        """JSON paths, types and frequencies of an object's rows (for the Loop agent and users)."""
        return JSONResponse(await infer_schema(reader, scope))

    @router.post("/btql")
    async def btql_query(principal: Caller, body: QueryBody, _: Fresh, state: QueryState) -> Response:
        fetch = as_object_fetch(body)
        if fetch is None:
            return await run_btql(state, principal, body)
        scope = await state.reader.scope(principal.org_id, fetch.object_type, fetch.object_id)
        page = await state.reader.fetch(
            scope,
            limit=fetch.limit,
            cursor=fetch.cursor,
            version=fetch.version,
            audit_log=body.get("audit_log") is True,
        )
        return JSONResponse({"data": page["events"], "cursor": page["cursor"]})

    @router.post("/btql/async")
    async def btql_async(principal: Caller, body: AsyncBody, _: Fresh, state: QueryState) -> Response:
        query = await parse(body["query"])
        await compile_request(state, principal, body, query)  # bad queries fail now, with a 4xx

        async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
            page = await execute(state, await compile_request(state, principal, body, q))
            return page.data, page.cursor

        job = await state.jobs.submit(principal.org_id, query, run_page)
        return JSONResponse(job.describe())

    @router.get("/btql/async/{job_id}")
    async def btql_async_status(job_id: str, principal: Caller, jobs: Jobs) -> Response:
        return JSONResponse((await jobs.get(principal.org_id, job_id)).describe())

    @router.delete("/btql/async/{job_id}")
    async def btql_async_cancel(job_id: str, principal: Caller, jobs: Jobs) -> Response:
        return JSONResponse((await jobs.cancel(principal.org_id, job_id)).describe())

    @router.get("/btql/async/{job_id}/result")
    async def btql_async_result(
        job_id: str, principal: Caller, jobs: Jobs, limit: str | None = None, cursor: str | None = None
    ) -> Response:
        return JSONResponse(await jobs.result(principal.org_id, job_id, limit=limit, cursor=cursor))

    return router
