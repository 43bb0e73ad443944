"""`POST /otel/v1/traces`: OTLP/HTTP in protobuf or JSON (gzip too), answered in the same format."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from loopline.common.auth import Principal, current_principal
from loopline.common.rows import EXPERIMENT, PROJECT_LOGS, ObjectRef
from loopline.common.service import ServiceContext
from loopline.ingest import otlp
from loopline.ingest.body import IngestError, read_body
from loopline.ingest.routes import error_response
from loopline.ingest.write_api import WriteAPI


async def resolve_parent(ctx: ServiceContext, org_id: str, parent: otlp.ParentRef) -> ObjectRef | None:
    api: WriteAPI = ctx.shared["write_api"]
    if parent.kind == "project_id":
        pid = await api.objects.project_of(org_id, PROJECT_LOGS, parent.value)
        return ObjectRef(PROJECT_LOGS, parent.value, parent.value) if pid else None
    if parent.kind == "experiment_id":
        pid = await api.objects.project_of(org_id, EXPERIMENT, parent.value)
        return ObjectRef(EXPERIMENT, parent.value, pid) if pid else None
    if parent.kind == "project_name":
        projects: Any = ctx.shared.get("projects_by_name")
        if projects is None:
            return None
        pid = await projects(org_id, parent.value)
        return ObjectRef(PROJECT_LOGS, pid, pid) if pid else None
    return None


def build_otlp_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()

    @router.post("/otel/v1/traces")
    async def traces(request: Request, principal: Principal = Depends(current_principal)) -> Response:
        ctype = request.headers.get("content-type")
        try:
            try:
                otlp.wire_format(ctype)
                body = await read_body(request, ctx.settings.max_request_bytes)
                spans = otlp.decode_request(body, ctype)
            except otlp.OtlpError as exc:
                raise IngestError(exc.status, exc.message) from exc
            batch = otlp.map_spans(spans, request.headers.get("x-bt-parent"))
            resolved = {p: await resolve_parent(ctx, principal.org_id, p) for p in batch.parents()}
            result = otlp.attach_targets(batch, resolved)
            api: WriteAPI = ctx.shared["write_api"]
            if result.validated:  # validated once, in attach_targets
                api.check_row_sizes(result.rows, len(body))
                await api.write_validated(principal, result.validated, path="spans")
        except IngestError as exc:
            return error_response(exc)
        payload, media = otlp.encode_response(result.rejected, result.error_message, ctype)
        return Response(payload, media_type=media)

    return router
