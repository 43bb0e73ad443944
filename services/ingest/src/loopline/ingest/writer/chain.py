"""The writer composed: which steps, in which order (see the package docstring for why)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from loopline.common.bus import Bus, Message
from loopline.common.messages import rows
from loopline.common.pipeline import Collect, Pipeline, decode, run_task
from loopline.common.store import Store
from loopline.ingest.writer.bases import LoadBases
from loopline.ingest.writer.insert import Inserter, InsertRows, Row
from loopline.ingest.writer.offload import Offload
from loopline.ingest.writer.prepared import Prepare, SplitAndLoadBases, merge_split
from loopline.ingest.writer.sink import DeadLetterSink
from loopline.ingest.writer.steps import Announce, Written, group, merge_groups

PIPELINE = "writer"
#: Batches smaller than this are prepared in this process even when a worker process is there:
#: the hop to it costs more than their work, and small batches are the light-load case where
#: freshness matters.
OFFLOAD_MIN_MESSAGES = 64


@dataclass
class WriterStats:
    """This writer's totals since it started (tests read them; operators read /metrics)."""

    batches: int = 0
    messages: int = 0
    rows_written: int = 0
    dead_letters: int = 0
    last_batch_ms: float = 0.0


class Writer:
    """One writer: its pipeline is the bus handler (`handle`). The steps run one after the other
    (an overlapped variant was measured slower: see the package docstring); one insert per table
    per bus batch also keeps ClickHouse parts few.

    With `offload` (a worker process, offload.py), batches of `OFFLOAD_MIN_MESSAGES` or more are
    decoded, merged and encoded there (`offloaded` pipeline); smaller ones, here. While one such
    batch is inserted, the worker prepares the next (prepared.py), when the bus can tell it."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        offload: Offload | None = None,
        lookahead_min_messages: int = OFFLOAD_MIN_MESSAGES,
    ) -> None:
        self.store = store
        self.bus = bus
        self.inserter = Inserter(store)
        self.stats = WriterStats()
        self.offload = offload
        sink = DeadLetterSink(store, bus)
        self.offloaded: Pipeline[list[Message]] | None = None
        self.prepare: Prepare | None = None
        if offload is not None:
            self.prepare = Prepare(offload, ahead_min=max(OFFLOAD_MIN_MESSAGES, lookahead_min_messages))
            self.offloaded = Pipeline(
                PIPELINE,
                [
                    run_task("prepare", self.prepare),
                    run_task("load_bases", SplitAndLoadBases(store)),
                    run_task("merge", merge_split),
                    run_task("insert", InsertRows(self.inserter)),
                    run_task("announce", Announce(bus)),
                ],
                dead_letters=sink,
            )
        self.pipeline: Pipeline[list[Message]] = Pipeline(
            PIPELINE,
            [
                decode(rows.CONTRACT),
                run_task("group", group),
                run_task("load_bases", LoadBases(store)),
                run_task("merge", merge_groups),
                run_task("insert", InsertRows(self.inserter)),
                run_task("announce", Announce(bus)),
            ],
            dead_letters=sink,
        )

    @property
    def insert_settings(self) -> dict[str, dict[str, Any]]:
        return self.inserter.settings

    async def insert(self, table: str, rows: list[Row]) -> list[tuple[Row, str]]:
        """The insert step's bisecting insert (see insert.py)."""
        return await self.inserter.insert(table, rows)

    async def handle(self, batch: list[Message]) -> None:
        """The bus handler: returns once the batch is written, announced and its rejects recorded."""
        t0 = time.perf_counter()
        written: Collect[Written] = Collect()
        pipeline = self.pipeline
        if self.offloaded is not None and len(batch) >= OFFLOAD_MIN_MESSAGES:
            pipeline = self.offloaded
        invalid = await pipeline.handle(batch, last=written)
        self.stats.batches += 1
        self.stats.messages += len(batch)
        self.stats.rows_written += sum(w.count for w in written.values)
        self.stats.dead_letters += len(invalid)
        self.stats.last_batch_ms = (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        """Stop the worker process, if any (after the last batch)."""
        if self.prepare is not None:
            self.prepare.close()
        if self.offload is not None:
            self.offload.close()
