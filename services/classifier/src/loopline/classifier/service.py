"""The classifier service definition: taxonomy routes and their store, the consumer of
`loopline.rows.committed` that labels root spans of project logs (pipeline.py, consumer.py),
backfill jobs (backfill.py) and, when a facet asks for it, the LLM fallback (llm.py) through the
model gateway as the span's org."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopline.classifier import tables
from loopline.classifier.backfill import BackfillRunner, BackfillStore, RootSpans
from loopline.classifier.consumer import LabelConsumer
from loopline.classifier.corrections import CorrectionStore
from loopline.classifier.llm import LlmFallback
from loopline.classifier.pipeline import LabelTraces, SpanReader, publish_labels
from loopline.classifier.routes import build_router
from loopline.classifier.settings import ClassifierSettings
from loopline.classifier.state import State
from loopline.classifier.taxonomy import TaxonomyStore
from loopline.common.progress import wait_for_writer
from loopline.common.service import ServiceContext, ServiceDef, Started

WRITER_WAIT_S = 60.0


async def _start(ctx: ServiceContext) -> Started:
    store = ctx.require_store()
    settings = ctx.settings.section(ClassifierSettings)
    llm = LlmFallback(lambda: ctx.service_calls, settings) if settings.llm_fallback else None
    taxonomies = TaxonomyStore(store, default_threshold=settings.default_threshold)
    spans = SpanReader(store)
    corrections = CorrectionStore(store)
    heads_of: list[Any] = []

    async def publish(org_id: str, project_id: str, object_id: str, writes: Sequence[dict[str, Any]]) -> None:
        await publish_labels(ctx.bus, ctx.xact, org_id, project_id, object_id, writes)

    async def writer_caught_up() -> None:
        await wait_for_writer(ctx.bus, WRITER_WAIT_S)

    runner = BackfillRunner(
        BackfillStore(store),
        RootSpans(store),
        taxonomies,
        lambda: heads_of[0](),
        publish,
        settings,
        writer_caught_up,
        llm,
    )
    step = LabelTraces(
        taxonomies, spans, lambda: heads_of[0](), ctx.bus, ctx.xact, settings, llm, corrections
    )
    consumer = LabelConsumer(ctx.bus, step, settings)
    state = State(
        taxonomies=taxonomies,
        spans=spans,
        bus=ctx.bus,
        xact=ctx.xact,
        corrections=corrections,
        settings=settings,
        backfills=runner.jobs,
        runner=runner,
        consumer=consumer,
        llm=llm,
    )
    heads_of.append(state.heads)
    await consumer.start()
    runner.start()
    return Started(state, workers=[consumer, runner])


SERVICE = ServiceDef(
    name="classifier",
    router=build_router,
    start=_start,
    needs_store=True,
    migrations=tables.MIGRATIONS,
    routes=(
        r"^/v1/project/[^/]+/classifier(/[^/]+)?(/classify|/label)?$",
        r"^/v1/project/[^/]+/classifier/[^/]+/backfill(/[^/]+)?(/cancel)?$",
        r"^/v1/classifier/status$",
        r"^/v1/project/[^/]+/classifier/[^/]+/(dataset|retrain|evaluate|discover|accept|stats)$",
    ),
    settings=ClassifierSettings,
)
