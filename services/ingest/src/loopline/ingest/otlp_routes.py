"""`POST /otel/v1/traces`: OTLP/HTTP in protobuf or JSON (gzip too), answered in the same format.

Errors: a body that is not a well-formed ExportTraceServiceRequest is a 400 naming where (415
for another Content-Type, 413 past the size limits); spans that cannot be stored (bad ids,
unknown parent, refused by the row contract, too big) are rejected one by one and counted in the
response's `partialSuccess`. Every published row has passed `validate_row` first, and the request
is acknowledged only after the bus took them all.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response
from loopline.common.auth import Principal, current_principal
from loopline.common.control_plane import ControlPlane, ControlPlaneRefused
from loopline.common.rows import EXPERIMENT, PROJECT_LOGS, ObjectRef
from loopline.common.service import ServiceContext
from loopline.common.store import StoreError
from loopline.ingest import otlp
from loopline.ingest.body import THREAD_BODY_BYTES, IngestError, read_body
from loopline.ingest.routes import error_response
from loopline.ingest.write_api import WriteAPI

#: Bodies larger than this are decoded and mapped in a worker thread, so that one big request
#: does not hold the event loop (and every other request) for its whole CPU time.


async def resolve_parent(
    control_plane: ControlPlane, principal: Principal, parent: otlp.ParentRef
) -> ObjectRef | None:
    org_id = principal.org_id
    if parent.kind == "project_id":
        pid = await control_plane.project_of(org_id, PROJECT_LOGS, parent.value)
        return ObjectRef(PROJECT_LOGS, parent.value, parent.value) if pid else None
    if parent.kind == "experiment_id":
        pid = await control_plane.project_of(org_id, EXPERIMENT, parent.value)
        return ObjectRef(EXPERIMENT, parent.value, pid) if pid else None
    if parent.kind == "project_name":
        pid = await control_plane.project_id_by_name(principal, parent.value)
        return ObjectRef(PROJECT_LOGS, pid, pid) if pid else None
    return None


async def resolve_parents(
    control_plane: ControlPlane, principal: Principal, parents: set[otlp.ParentRef]
) -> tuple[dict[otlp.ParentRef, ObjectRef | None], dict[otlp.ParentRef, str]]:
    """Each parent's object (None: its spans are rejected, `reasons` may say why).

    A client error from the control plane (e.g. a project name it refuses) rejects that parent's
    spans; a store that cannot answer is a 503 (nothing was written, retry)."""
    resolved: dict[otlp.ParentRef, ObjectRef | None] = {}
    reasons: dict[otlp.ParentRef, str] = {}
    for p in parents:
        try:
            resolved[p] = await resolve_parent(control_plane, principal, p)
        except StoreError as exc:
            raise IngestError(503, f"cannot resolve {p.kind} now: {exc}", retry_after=1) from exc
        except ControlPlaneRefused as exc:
            resolved[p] = None
            reasons[p] = f"cannot be used: {exc.message}"
    return resolved, reasons


def build_otlp_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()

    @router.post("/otel/v1/traces")
    async def traces(request: Request, principal: Principal = Depends(current_principal)) -> Response:
        ctype = request.headers.get("content-type")
        header_parent = request.headers.get("x-bt-parent")
        max_row_bytes = ctx.settings.max_row_bytes
        max_total_bytes = 2 * ctx.settings.max_request_bytes
        try:
            try:
                otlp.wire_format(ctype)
                body = await read_body(request, ctx.settings.max_request_bytes)

                def decode_and_map() -> otlp.OtlpBatch:
                    return otlp.map_spans(otlp.decode_request(body, ctype), header_parent)

                if len(body) > THREAD_BODY_BYTES:
                    batch = await asyncio.to_thread(decode_and_map)
                else:
                    batch = decode_and_map()
                resolved, reasons = await resolve_parents(
                    ctx.require_control_plane(), principal, batch.parents()
                )

                def attach() -> otlp.OtlpResult:
                    return otlp.attach_targets(
                        batch,
                        resolved,
                        reasons=reasons,
                        max_row_bytes=max_row_bytes,
                        max_total_bytes=max_total_bytes,
                    )

                result = await asyncio.to_thread(attach) if len(body) > THREAD_BODY_BYTES else attach()
            except otlp.OtlpError as exc:
                raise IngestError(exc.status, exc.message) from exc
            if result.validated:  # validated (and size-checked) once, in attach_targets
                api: WriteAPI = ctx.shared["write_api"]
                await api.write_validated(principal, result.validated, path="spans")
        except IngestError as exc:
            return error_response(exc)
        payload, media = otlp.encode_response(result.rejected, result.error_message, ctype)
        return Response(payload, media_type=media)

    return router
