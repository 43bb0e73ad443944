"""The writer composed: which steps, in which order (see the package docstring for why)."""

from __future__ import annotations

from typing import Any

from loopline.common.bus import Bus, Message
from loopline.common.messages import rows
from loopline.common.pipeline import Pipeline, decode, run_task
from loopline.common.store import Store
from loopline.ingest.writer.bases import LoadBases
from loopline.ingest.writer.insert import Inserter, InsertRows
from loopline.ingest.writer.sink import DeadLetterSink
from loopline.ingest.writer.steps import Announce, group, merge_groups

PIPELINE = "writer"


class Writer:
    """One writer: its pipeline is the bus handler (`handle`). The steps run one after the other
    (an overlapped variant was measured slower: see the package docstring); one insert per table
    per bus batch also keeps ClickHouse parts few."""

    def __init__(self, store: Store, bus: Bus) -> None:
        self.store = store
        self.bus = bus
        self.inserter = Inserter(store)
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
            dead_letters=DeadLetterSink(store, bus),
        )

    @property
    def insert_settings(self) -> dict[str, dict[str, Any]]:
        return self.inserter.settings

    def drop_insert_setting(self, name: str | None, error: str) -> None:
        """See `Inserter.drop_setting`."""
        self.inserter.drop_setting(name, error)

    async def insert(self, table: str, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """The insert step's bisecting insert (see insert.py)."""
        return await self.inserter.insert(table, rows)

    async def handle(self, batch: list[Message]) -> None:
        """The bus handler: returns once the batch is written, announced and its rejects recorded."""
        await self.pipeline(batch)
