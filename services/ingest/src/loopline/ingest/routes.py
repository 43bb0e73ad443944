"""Ingest HTTP routes (thin): `/logs3`, REST inserts. Logic lives in write_api."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from loopline.common.auth import Principal, current_principal
from loopline.common.http import JSONResponse, error_body
from loopline.common.object_types import ID_FIELD, PROJECT_LOGS, PROJECT_LOGS_LOG_ID, READABLE
from loopline.common.service import ServiceContext
from loopline.ingest.body import THREAD_BODY_BYTES, IngestError, parse_json, read_body
from loopline.ingest.dead_letters import DeadLetters
from loopline.ingest.overflow import load_overflow
from loopline.ingest.write_api import WriteAPI


async def _parse(body: bytes) -> Any:
    """`parse_json`, on a worker thread for large bodies (see THREAD_BODY_BYTES)."""
    return await asyncio.to_thread(parse_json, body) if len(body) > THREAD_BODY_BYTES else parse_json(body)


def error_response(exc: IngestError) -> Response:
    """The error's JSON answer; `retry_after` becomes the Retry-After header (the error is left as
    it was, so rendering it twice gives the same answer)."""
    where = dict(exc.where)
    retry_after = where.pop("retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(error_body(exc.status, exc.message, **where), status_code=exc.status, headers=headers)


def build_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()
    limits = ctx.settings

    def api() -> WriteAPI:
        w = ctx.shared.get("write_api")
        assert isinstance(w, WriteAPI)
        return w

    @router.post("/logs3")
    async def logs3(request: Request, principal: Principal = Depends(current_principal)) -> Response:
        try:
            body = await read_body(request, limits.max_request_bytes)
            doc = await _parse(body)
            if not isinstance(doc, dict):
                raise IngestError(400, "body must be a JSON object with a 'rows' array")
            rows = doc.get("rows")
            if isinstance(rows, dict) and rows.get("type") == "logs3_overflow":
                rows, body_size = await _load_overflow(ctx, principal, rows)
            else:
                body_size = len(body)
            result = await api().write_rows(principal, rows, body_size=body_size)
        except IngestError as exc:
            return error_response(exc)
        return JSONResponse({"xact_id": result.xact_id, "row_ids": result.row_ids})

    @router.post("/v1/{object_type}/{object_id}/insert")
    async def rest_insert(
        object_type: str, object_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> Response:
        try:
            if object_type not in READABLE:
                raise IngestError(
                    404, f"unknown object type {object_type!r}: use experiment, dataset or project_logs"
                )
            body = await read_body(request, limits.max_request_bytes)
            doc = await _parse(body)
            events = doc.get("events") if isinstance(doc, dict) else None
            if not isinstance(events, list):
                raise IngestError(400, "body must be a JSON object with an 'events' array", field="events")
            id_field = ID_FIELD[object_type]
            rows: list[Any] = []
            for ev in events:
                if isinstance(ev, dict):
                    ev = {**ev, id_field: object_id}
                    if object_type == PROJECT_LOGS:
                        ev["log_id"] = PROJECT_LOGS_LOG_ID
                rows.append(ev)
            result = await api().write_rows(principal, rows, body_size=len(body), path="events")
        except IngestError as exc:
            return error_response(exc)
        return JSONResponse({"row_ids": result.row_ids})

    return router


async def _load_overflow(ctx: ServiceContext, principal: Principal, ref: dict[str, Any]) -> tuple[Any, int]:
    return await load_overflow(ctx, principal, ref)


def build_admin_router(ctx: ServiceContext) -> APIRouter:
    """Operator endpoints: dead letters of the caller's org."""
    router = APIRouter()

    def dl() -> DeadLetters:
        return ctx.shared["dead_letters"]

    @router.get("/api/admin/dlq")
    async def dlq_list(
        include_replayed: bool = False, limit: int = 100, principal: Principal = Depends(current_principal)
    ) -> Response:
        if not 1 <= limit <= 10_000:
            return JSONResponse(
                error_body(400, "'limit' must be between 1 and 10000", field="limit"), status_code=400
            )
        rows = await dl().pending(principal.org_id, include_replayed=include_replayed, limit=limit)
        return JSONResponse({"objects": rows})

    @router.post("/api/admin/dlq/replay")
    async def dlq_replay(request: Request, principal: Principal = Depends(current_principal)) -> Response:
        try:
            body = await read_body(request, 1024 * 1024)
            doc = parse_json(body) if body.strip() else {}
            ids = doc.get("ids") if isinstance(doc, dict) else None
            if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
                raise IngestError(400, "'ids' must be an array of dead-letter ids", field="ids")
            replayed = await dl().replay(principal.org_id, ids)
        except IngestError as exc:
            return error_response(exc)
        return JSONResponse({"replayed": replayed})

    return router
