"""`POST /otel/v1/traces`: OTLP/HTTP in protobuf or JSON (gzip too), answered in the same format.

Errors: a body that is not a well-formed ExportTraceServiceRequest is a 400 naming where (415
for another Content-Type, 413 past the size limits); spans that cannot be stored (bad ids,
unknown parent, refused by the row contract, too big) are rejected one by one and counted in the
response's `partialSuccess`. Every published row has passed `validate_row` first, and the request
is acknowledged only after the bus took them all.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from loopline.common.auth import Principal
from loopline.common.control_plane import ControlPlane, ControlPlaneRefused
from loopline.common.errors import ServiceError
from loopline.common.rows import EXPERIMENT, PROJECT_LOGS, ObjectRef
from loopline.common.service import ServiceContext
from loopline.common.store import StoreError
from loopline.ingest import otlp
from loopline.ingest.body import THREAD_BODY_BYTES, read_body
from loopline.ingest.deps import Caller, ControlPlaneDep, Writes
from loopline.ingest.settings import IngestSettings


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
            raise ServiceError(503, f"cannot resolve {p.kind} now: {exc}", retry_after=1) from exc
        except ControlPlaneRefused as exc:
            resolved[p] = None
            reasons[p] = f"cannot be used: {exc.message}"
    return resolved, reasons


def build_otlp_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()
    max_request_bytes = ctx.settings.section(IngestSettings).max_request_bytes
    max_row_bytes = ctx.settings.section(IngestSettings).max_row_bytes
    max_total_bytes = 2 * max_request_bytes

    @router.post("/otel/v1/traces")
    async def traces(
        request: Request, principal: Caller, control_plane: ControlPlaneDep, api: Writes
    ) -> Response:
        """Malformed requests raise `otlp.OtlpError` kinds (ingest's error table answers them)."""
        ctype = request.headers.get("content-type")
        header_parent = request.headers.get("x-bt-parent")
        otlp.wire_format(ctype)
        body = await read_body(request, max_request_bytes)

        def decode_and_map() -> otlp.OtlpBatch:
            return otlp.map_spans(otlp.decode_request(body, ctype), header_parent)

        batch = await asyncio.to_thread(decode_and_map) if len(body) > THREAD_BODY_BYTES else decode_and_map()
        resolved, reasons = await resolve_parents(control_plane, principal, batch.parents())

        def attach() -> otlp.OtlpResult:
            return otlp.attach_targets(
                batch,
                resolved,
                reasons=reasons,
                max_row_bytes=max_row_bytes,
                max_total_bytes=max_total_bytes,
            )

        result = await asyncio.to_thread(attach) if len(body) > THREAD_BODY_BYTES else attach()
        if result.validated:  # validated (and size-checked) once, in attach_targets
            await api.write_validated(principal, result.validated, path="spans")
        payload, media = otlp.encode_response(result.rejected, result.error_message, ctype)
        return Response(payload, media_type=media)

    return router
