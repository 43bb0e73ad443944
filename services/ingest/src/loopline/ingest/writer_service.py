"""The writer as a service: one consumer-group member on `loopline.rows`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from loopline.common.bus import Consumer, ConsumerOptions
from loopline.common.logging import get_logger
from loopline.common.progress import WRITER_GROUP
from loopline.common.schema import ROW_TABLES
from loopline.common.service import ServiceContext, ServiceDef, Started, Worker
from loopline.common.topics import ROWS
from loopline.ingest.writer import Writer
from loopline.ingest.writer.offload import Offload
from loopline.ingest.writer.settings import WriterSettings

log = get_logger(__name__)


class DrainingWriter:
    """Stops the writer only after it consumed everything already acknowledged.

    With the in-process bus, unconsumed messages live only in memory: stopping without draining
    would lose rows that clients were told were accepted.
    """

    def __init__(self, consumer: Consumer, drain_timeout_s: float) -> None:
        self.consumer = consumer
        self.drain_timeout_s = drain_timeout_s

    async def stop(self) -> None:
        deadline = time.monotonic() + self.drain_timeout_s
        while self.consumer.lag > 0 and time.monotonic() < deadline:  # noqa: ASYNC110 - lag has no event
            await asyncio.sleep(0.02)
        if self.consumer.lag > 0:
            log.error("writer stopped with rows not yet written", lag=self.consumer.lag)
        await self.consumer.stop()


@dataclass(frozen=True)
class WriterState:
    writer: Writer


class WorkerProcessCloser:
    """Stops the writer's worker process; listed before the members, so stopped after them
    (the runtime stops workers in reverse order)."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def stop(self) -> None:
        self.writer.close()


async def _start(ctx: ServiceContext) -> Started:
    cfg = ctx.settings.section(WriterSettings)
    offload = Offload() if cfg.offload else None
    if offload is not None:
        await offload.start()  # the worker's imports now, not in the first batch
    writer = Writer(ctx.require_store(), ctx.bus, offload, cfg.lookahead_min_messages)
    options = ConsumerOptions(
        max_batch=cfg.max_batch, max_batch_bytes=cfg.max_batch_bytes, max_wait_s=cfg.max_wait_s
    )
    members = [
        await ctx.bus.subscribe(ROWS, WRITER_GROUP, writer.handle, options) for _ in range(cfg.members)
    ]
    workers: list[Worker] = [
        WorkerProcessCloser(writer),
        *(DrainingWriter(c, drain_timeout_s=60.0) for c in members),
    ]
    return Started(WriterState(writer), workers)


SERVICE = ServiceDef(
    name="writer", start=_start, needs_store=True, migrations=ROW_TABLES, settings=WriterSettings
)
