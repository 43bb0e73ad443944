"""The ingest service definition: the write API (the writer is `writer_service`).

`start` builds the `State` (state.py) the routes read through `deps`; `errors` answers OTLP's
domain errors (errors.py)."""

from __future__ import annotations

from fastapi import APIRouter
from loopline.common.service import ServiceContext, ServiceDef, Started
from loopline.ingest import tables
from loopline.ingest.blob_routes import build_blob_router
from loopline.ingest.blobs import UrlSigner, blob_store_from_url, load_or_create_secret
from loopline.ingest.dead_letters import DeadLetters
from loopline.ingest.errors import ERRORS
from loopline.ingest.otlp_routes import build_otlp_router
from loopline.ingest.routes import build_admin_router, build_router
from loopline.ingest.settings import IngestSettings
from loopline.ingest.state import State
from loopline.ingest.write_api import WriteAPI


def _router(ctx: ServiceContext) -> APIRouter:
    router = build_router(ctx)
    router.include_router(build_blob_router(ctx))
    router.include_router(build_admin_router())
    router.include_router(build_otlp_router(ctx))
    return router


async def _start(ctx: ServiceContext) -> Started:
    s = ctx.settings.section(IngestSettings)
    signer = UrlSigner(load_or_create_secret(ctx.settings.data_dir / "blob-signing.key"))
    state = State(
        write_api=WriteAPI(
            ctx.bus,
            ctx.require_control_plane(),
            ctx.xact,
            max_row_bytes=s.max_row_bytes,
            publish_timeout_s=s.publish_timeout_s,
        ),
        dead_letters=DeadLetters(ctx.require_store(), ctx.bus),
        blobs=blob_store_from_url(s.effective_blob_url(ctx.settings.data_dir), signer),
        signer=signer,
    )
    return Started(state)


SERVICE = ServiceDef(
    name="ingest",
    migrations=tables.MIGRATIONS,
    router=_router,
    start=_start,
    needs_store=True,
    routes=(
        r"^/logs3",
        r"^/otel/",
        r"^/attachment",
        r"^/blob/",
        r"^/api/admin/dlq",
        r"^/v1/(experiment|dataset|project_logs)/[^/]+/insert$",
        r"^/v1/dataset/[^/]+/restore$",
    ),
    errors=ERRORS,
    settings=IngestSettings,
)
