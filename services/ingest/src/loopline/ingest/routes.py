"""Ingest HTTP routes (thin): `/logs3`, REST inserts, the dead-letter admin API. Logic lives in
write_api; refusals are `ServiceError`s answered by the app's error table."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from loopline.common.errors import ServiceError
from loopline.common.http import JSONResponse
from loopline.common.object_types import ID_FIELD, PROJECT_LOGS, PROJECT_LOGS_LOG_ID, READABLE
from loopline.common.service import ServiceContext
from loopline.ingest.body import THREAD_BODY_BYTES, parse_json, read_body
from loopline.ingest.deps import Caller, IngestState, Letters, Writes
from loopline.ingest.overflow import load_overflow
from loopline.ingest.restore import restore_dataset
from loopline.ingest.settings import IngestSettings


async def _parse(body: bytes) -> Any:
    """`parse_json`, on a worker thread for large bodies (see THREAD_BODY_BYTES)."""
    return await asyncio.to_thread(parse_json, body) if len(body) > THREAD_BODY_BYTES else parse_json(body)


def build_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()
    max_bytes = ctx.settings.section(IngestSettings).max_request_bytes

    @router.post("/logs3")
    async def logs3(request: Request, principal: Caller, state: IngestState) -> Response:
        body = await read_body(request, max_bytes)
        doc = await _parse(body)
        if not isinstance(doc, dict):
            raise ServiceError(400, "body must be a JSON object with a 'rows' array")
        rows = doc.get("rows")
        if isinstance(rows, dict) and rows.get("type") == "logs3_overflow":
            rows, body_size = await load_overflow(state.blobs, max_bytes, principal, rows)
        else:
            body_size = len(body)
        result = await state.write_api.write_rows(principal, rows, body_size=body_size, from_json=True)
        return JSONResponse({"xact_id": result.xact_id, "row_ids": result.row_ids})

    @router.post("/v1/{object_type}/{object_id}/insert")
    async def rest_insert(
        object_type: str, object_id: str, request: Request, principal: Caller, api: Writes
    ) -> Response:
        if object_type not in READABLE:
            raise ServiceError(
                404, f"unknown object type {object_type!r}: use experiment, dataset or project_logs"
            )
        body = await read_body(request, max_bytes)
        doc = await _parse(body)
        events = doc.get("events") if isinstance(doc, dict) else None
        if not isinstance(events, list):
            raise ServiceError(400, "body must be a JSON object with an 'events' array", field="events")
        id_field = ID_FIELD[object_type]
        rows: list[Any] = []
        for ev in events:
            if isinstance(ev, dict):
                ev = {**ev, id_field: object_id}
                if object_type == PROJECT_LOGS:
                    ev["log_id"] = PROJECT_LOGS_LOG_ID
            rows.append(ev)
        result = await api.write_rows(principal, rows, body_size=len(body), path="events", from_json=True)
        return JSONResponse({"row_ids": result.row_ids})

    @router.post("/v1/dataset/{dataset_id}/restore")
    async def restore(dataset_id: str, request: Request, principal: Caller, api: Writes) -> Response:
        """Write the dataset as it was at `version` back as a new version (see restore.py)."""
        doc = await _parse(await read_body(request, 64 * 1024))
        if not isinstance(doc, dict):
            raise ServiceError(400, "body must be a JSON object with a 'version'", field="version")
        done = await restore_dataset(
            ctx.service_calls, api, principal, dataset_id, doc.get("version"), doc.get("head")
        )
        return JSONResponse(
            {
                "version": done.version,
                "xact_id": done.xact_id,
                "written": done.written,
                "deleted": done.deleted,
            }
        )

    return router


def build_admin_router() -> APIRouter:
    """Operator endpoints: dead letters of the caller's org."""
    router = APIRouter()

    @router.get("/api/admin/dlq")
    async def dlq_list(
        principal: Caller, letters: Letters, include_replayed: bool = False, limit: int = 100
    ) -> Response:
        if not 1 <= limit <= 10_000:
            raise ServiceError(400, "'limit' must be between 1 and 10000", field="limit")
        rows = await letters.pending(principal.org_id, include_replayed=include_replayed, limit=limit)
        return JSONResponse({"objects": rows})

    @router.post("/api/admin/dlq/replay")
    async def dlq_replay(request: Request, principal: Caller, letters: Letters) -> Response:
        body = await read_body(request, 1024 * 1024)
        doc = parse_json(body) if body.strip() else {}
        ids = doc.get("ids") if isinstance(doc, dict) else None
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ServiceError(400, "'ids' must be an array of dead-letter ids", field="ids")
        return JSONResponse({"replayed": await letters.replay(principal.org_id, ids)})

    return router
