"""Query service routes (thin): object fetch, summaries, comparisons (`build_router`) and BTQL,
sync and async (`build_btql_router`; compiling and running is in btql_service)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from loopline.common.auth import Principal, current_principal
from loopline.common.http import JSONResponse, error_body
from loopline.common.progress import NotCaughtUp, wait_for_writer
from loopline.common.service import ServiceContext
from loopline.gateway.catalog import Catalog
from loopline.query.async_btql import AsyncQueries
from loopline.query.btql_service import btql_error, compile_request, execute, off_loop, parse, run_btql
from loopline.query.reads import ObjectReader, ReadError
from loopline.query.schema_inference import infer_schema
from loopline.query.sdk_fetch import as_object_fetch
from loopline.query.summaries import dataset_total_records, summarize_scores, trace_stats

from loopline import btql


def read_error(exc: ReadError) -> Response:
    return JSONResponse(error_body(exc.status, exc.message, **exc.where), status_code=exc.status)


def build_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()

    def reader() -> ObjectReader:
        return ctx.shared["object_reader"]

    def catalog() -> Catalog:
        return ctx.shared["query_catalog"]

    async def fresh() -> None:
        """Read-your-writes: everything acknowledged before this read is visible to it."""
        try:
            await wait_for_writer(ctx.bus, ctx.settings.read_your_writes_timeout_s)
        except NotCaughtUp as exc:
            raise ReadError(503, str(exc)) from exc

    async def fetch(
        principal: Principal, object_type: str, object_id: str, params: dict[str, Any]
    ) -> Response:
        try:
            scope = await reader().scope(principal.org_id, object_type, object_id)
            await fresh()
            cursor = params.get("cursor")
            if cursor is not None and not isinstance(cursor, str):
                raise ReadError(400, "'cursor' must be a string", field="cursor")
            result = await reader().fetch(
                scope, limit=params.get("limit"), cursor=cursor, version=params.get("version")
            )
        except ReadError as exc:
            return read_error(exc)
        return JSONResponse(result)

    @router.post("/v1/{object_type}/{object_id}/fetch")
    async def fetch_post(
        object_type: str, object_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> Response:
        body = await request.body()
        params: Any = {}
        if body.strip():
            import orjson

            try:
                params = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return read_error(
                    ReadError(400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
                )
            if not isinstance(params, dict):
                return read_error(ReadError(400, "body must be a JSON object"))
        return await fetch(principal, object_type, object_id, params)

    @router.get("/v1/{object_type}/{object_id}/fetch")
    async def fetch_get(
        object_type: str,
        object_id: str,
        limit: str | None = None,
        cursor: str | None = None,
        version: str | None = None,
        principal: Principal = Depends(current_principal),
    ) -> Response:
        return await fetch(
            principal, object_type, object_id, {"limit": limit, "cursor": cursor, "version": version}
        )

    async def experiment_summary(
        principal: Principal, experiment_id: str, comparison_id: str | None, summarize: bool = True
    ) -> dict[str, Any]:
        exp = await catalog().get_experiment(principal.org_id, experiment_id)
        if exp is None:
            raise ReadError(404, f"experiment {experiment_id!r} does not exist in this organization")
        project = await catalog().get_project(principal.org_id, exp["project_id"])
        base = None
        if comparison_id:
            base = await catalog().get_experiment(principal.org_id, comparison_id)
            if base is None:
                raise ReadError(
                    404, f"comparison experiment {comparison_id!r} does not exist in this organization"
                )
        else:
            base = await catalog().default_base(principal.org_id, exp)
        out: dict[str, Any] = {
            "project_name": project["name"] if project else "",
            "experiment_name": exp["name"],
            "project_id": exp["project_id"],
            "experiment_id": exp["id"],
            "comparison_experiment_name": base["name"] if base else None,
            "scores": {},
            "metrics": {},
        }
        if not summarize:
            return out
        await fresh()
        cur = await trace_stats(reader(), await reader().scope(principal.org_id, "experiment", exp["id"]))
        base_stats = None
        if base is not None:
            base_stats = await trace_stats(
                reader(), await reader().scope(principal.org_id, "experiment", base["id"])
            )
        out["scores"], out["metrics"] = summarize_scores(cur, base_stats)
        return out

    @router.get("/v1/experiment/{experiment_id}/summarize")
    async def summarize_experiment(
        experiment_id: str,
        summarize_scores: str = "true",
        comparison_experiment_id: str | None = None,
        principal: Principal = Depends(current_principal),
    ) -> Response:
        try:
            out = await experiment_summary(
                principal, experiment_id, comparison_experiment_id, summarize_scores.lower() != "false"
            )
        except ReadError as exc:
            return read_error(exc)
        return JSONResponse(out)

    @router.get("/experiment-comparison2")
    async def experiment_comparison2(
        experiment_id: str,
        base_experiment_id: str | None = None,
        principal: Principal = Depends(current_principal),
    ) -> Response:
        try:
            out = await experiment_summary(principal, experiment_id, base_experiment_id)
        except ReadError as exc:
            return read_error(exc)
        return JSONResponse({"scores": out["scores"], "metrics": out["metrics"]})

    async def dataset_summary(principal: Principal, dataset_id: str) -> tuple[dict[str, Any], int]:
        ds = await catalog().get_dataset(principal.org_id, dataset_id)
        if ds is None:
            raise ReadError(404, f"dataset {dataset_id!r} does not exist in this organization")
        await fresh()
        total = await dataset_total_records(
            reader(), await reader().scope(principal.org_id, "dataset", dataset_id)
        )
        return ds, total

    @router.get("/v1/dataset/{dataset_id}/summarize")
    async def summarize_dataset(
        dataset_id: str, summarize_data: str = "true", principal: Principal = Depends(current_principal)
    ) -> Response:
        try:
            ds, total = await dataset_summary(principal, dataset_id)
            project = await catalog().get_project(principal.org_id, ds["project_id"])
        except ReadError as exc:
            return read_error(exc)
        out: dict[str, Any] = {
            "project_name": project["name"] if project else "",
            "dataset_name": ds["name"],
            "project_id": ds["project_id"],
            "dataset_id": ds["id"],
        }
        if summarize_data.lower() != "false":
            out["data_summary"] = {"total_records": total}
        return JSONResponse(out)

    @router.get("/dataset-summary")
    async def legacy_dataset_summary(
        dataset_id: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        try:
            _, total = await dataset_summary(principal, dataset_id)
        except ReadError as exc:
            return read_error(exc)
        return JSONResponse({"total_records": total})

    return router


def query_body(raw: bytes) -> dict[str, Any]:
    """A BTQL request body: a JSON object with a `query` (text or JSON AST); else ReadError 400."""
    import orjson

    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise ReadError(400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(body, dict) or "query" not in body:
        raise ReadError(400, "body must be a JSON object with a 'query' (text or JSON AST)", field="query")
    return body


# bodies larger than this are decoded on the BTQL worker threads (a body may be up to the request
# limit, tens of MB: decoding it would hold the event loop for tens of milliseconds)
_BIG_BODY = 64 * 1024


async def read_query_body(raw: bytes) -> dict[str, Any]:
    """`query_body`, off the event loop for big bodies."""
    if len(raw) <= _BIG_BODY:
        return query_body(raw)
    return await off_loop(query_body, raw)


def build_btql_router(ctx: ServiceContext) -> APIRouter:
    """`POST /btql`: the SDK's object fetches take a fast path; other queries are compiled."""
    router = APIRouter()

    def reader_of() -> ObjectReader:
        return ctx.shared["object_reader"]

    @router.get("/btql/schema")
    async def btql_schema(
        object_type: str, object_id: str, principal: Principal = Depends(current_principal)
    ) -> Response:
        """JSON paths, types and frequencies of an object's rows (for the Loop agent and users)."""
        try:
            scope = await reader_of().scope(principal.org_id, object_type, object_id)
            await wait_for_writer(ctx.bus, ctx.settings.read_your_writes_timeout_s)
        except ReadError as exc:
            return read_error(exc)
        except NotCaughtUp as exc:
            return read_error(ReadError(503, str(exc)))
        return JSONResponse(await infer_schema(reader_of(), scope))

    @router.post("/btql")
    async def btql(request: Request, principal: Principal = Depends(current_principal)) -> Response:
        try:
            body = await read_query_body(await request.body())
        except ReadError as exc:
            return read_error(exc)
        reader: ObjectReader = ctx.shared["object_reader"]
        try:
            await wait_for_writer(ctx.bus, ctx.settings.read_your_writes_timeout_s)
        except NotCaughtUp as exc:
            return read_error(ReadError(503, str(exc)))
        fetch = as_object_fetch(body)
        if fetch is not None:
            try:
                scope = await reader.scope(principal.org_id, fetch.object_type, fetch.object_id)
                page = await reader.fetch(
                    scope,
                    limit=fetch.limit,
                    cursor=fetch.cursor,
                    version=fetch.version,
                    audit_log=body.get("audit_log") is True,
                )
            except ReadError as exc:
                return read_error(exc)
            return JSONResponse({"data": page["events"], "cursor": page["cursor"]})
        return await run_btql(ctx, principal, body)

    _register_async_routes(router, ctx)
    return router


def _register_async_routes(router: APIRouter, ctx: ServiceContext) -> None:
    """`/btql/async`: submit a query, poll its status, page through its rows, cancel it."""
    jobs = AsyncQueries(ctx.require_store())
    ctx.shared["async_queries"] = jobs  # the service stops it (cancels running jobs) on shutdown

    @router.post("/btql/async")
    async def btql_async(request: Request, principal: Principal = Depends(current_principal)) -> Response:
        try:
            body = await read_query_body(await request.body())
        except ReadError as exc:
            return read_error(exc)
        fmt = body.get("format", "jsonl")
        if fmt not in ("jsonl", "json"):
            return read_error(ReadError(400, f"unsupported format {fmt!r}: use 'jsonl'", field="format"))
        try:
            await wait_for_writer(ctx.bus, ctx.settings.read_your_writes_timeout_s)
        except NotCaughtUp as exc:
            return read_error(ReadError(503, str(exc)))
        try:
            query = await parse(body["query"])
            await compile_request(ctx, principal, body, query)  # bad queries fail now, with a 4xx
        except btql.BtqlError as exc:
            return btql_error(exc)

        async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
            page = await execute(ctx, await compile_request(ctx, principal, body, q))
            return page.data, page.cursor

        try:
            job = await jobs.submit(principal.org_id, query, run_page)
        except ReadError as exc:
            return read_error(exc)
        return JSONResponse(job.describe())

    @router.get("/btql/async/{job_id}")
    async def btql_async_status(job_id: str, principal: Principal = Depends(current_principal)) -> Response:
        try:
            return JSONResponse((await jobs.get(principal.org_id, job_id)).describe())
        except ReadError as exc:
            return read_error(exc)

    @router.delete("/btql/async/{job_id}")
    async def btql_async_cancel(job_id: str, principal: Principal = Depends(current_principal)) -> Response:
        try:
            return JSONResponse((await jobs.cancel(principal.org_id, job_id)).describe())
        except ReadError as exc:
            return read_error(exc)

    @router.get("/btql/async/{job_id}/result")
    async def btql_async_result(
        job_id: str,
        limit: str | None = None,
        cursor: str | None = None,
        principal: Principal = Depends(current_principal),
    ) -> Response:
        try:
            return JSONResponse(await jobs.result(principal.org_id, job_id, limit=limit, cursor=cursor))
        except ReadError as exc:
            return read_error(exc)
