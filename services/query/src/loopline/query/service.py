"""The query service definition: fetch, summaries, comparisons, BTQL."""

from __future__ import annotations

from fastapi import APIRouter

from loopline.common.objects import ObjectResolver
from loopline.common.service import ServiceContext, ServiceDef, Worker
from loopline.query.catalog import Catalog
from loopline.query.reads import ObjectReader


def _router(ctx: ServiceContext) -> APIRouter:
    from loopline.query.routes import build_router

    return build_router(ctx)


async def _start(ctx: ServiceContext) -> list[Worker]:
    store = ctx.require_store()
    ctx.shared["object_reader"] = ObjectReader(store, ObjectResolver(store))
    ctx.shared["catalog"] = Catalog(store)
    return []


SERVICE = ServiceDef(
    name="query",
    router=_router,
    start=_start,
    needs_store=True,
    routes=(
        r"^/v1/(experiment|dataset|project_logs)/[^/]+/(fetch|summarize)$",
        r"^/experiment-comparison2$",
        r"^/dataset-summary$",
        r"^/btql$",
    ),
)
