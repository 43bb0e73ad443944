"""The classifier service definition: taxonomy routes and their store, and the consumer of
`loopline.rows.committed` that labels root spans of project logs (pipeline.py)."""

from __future__ import annotations

from loopline.classifier import tables
from loopline.classifier.pipeline import GROUP, OPTIONS, LabelTraces, SpanReader, build_pipeline
from loopline.classifier.routes import build_router
from loopline.classifier.state import State
from loopline.classifier.taxonomy import TaxonomyStore
from loopline.common.messages import committed
from loopline.common.service import ServiceContext, ServiceDef, Started


async def _start(ctx: ServiceContext) -> Started:
    store = ctx.require_store()
    state = State(taxonomies=TaxonomyStore(store), spans=SpanReader(store), bus=ctx.bus, xact=ctx.xact)
    step = LabelTraces(state.taxonomies, state.spans, state.heads, ctx.bus, ctx.xact)
    consumer = await ctx.bus.subscribe(committed.TOPIC, GROUP, build_pipeline(step), OPTIONS)
    return Started(state, workers=[consumer])


SERVICE = ServiceDef(
    name="classifier",
    router=build_router,
    start=_start,
    needs_store=True,
    migrations=tables.MIGRATIONS,
    routes=(r"^/v1/project/[^/]+/classifier(/[^/]+)?(/classify|/label)?$",),
)
