"""The classifier service definition: taxonomy routes and their store (the rows.committed
consumer comes next; see classify.py for the work it will do per batch)."""

from __future__ import annotations

from loopline.classifier import tables
from loopline.classifier.routes import build_router
from loopline.classifier.state import State
from loopline.classifier.taxonomy import TaxonomyStore
from loopline.common.service import ServiceContext, ServiceDef, Started


async def _start(ctx: ServiceContext) -> Started:
    return Started(State(taxonomies=TaxonomyStore(ctx.require_store())))


SERVICE = ServiceDef(
    name="classifier",
    router=build_router,
    start=_start,
    needs_store=True,
    migrations=tables.MIGRATIONS,
    routes=(r"^/v1/project/[^/]+/classifier(/[^/]+)?(/classify)?$",),
)
