"""The writer's settings section (`[loopline.writer]`, `LOOPLINE_WRITER__<F>` or the flat
`LOOPLINE_WRITER_<F>`)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class WriterSettings(SettingsSection):
    SECTION: ClassVar[str] = "writer"

    #: at most this many row writes per batch (one insert per table), and about this many bytes
    #: of them: a writer that keeps up takes what arrived while it wrote the previous batch
    #: (small batches, fresh rows); one that lags takes big ones, which are cheaper per row
    #: (measured on `bench_ingest`'s spans, saturated embedded server, 20,000 against 5,000:
    #: the store's part merges 18-24 against 28-45 us of CPU per span, its insert and existence
    #: reads 29-30 against 37-38; one part per batch and table, so fewer parts to merge)
    max_batch: int = Field(default=20_000, gt=0)
    max_batch_bytes: int = Field(default=48 << 20, ge=0)
    #: how long a batch waits to fill before it is written anyway
    max_wait_s: float = Field(default=0.05, ge=0)
    #: consumer-group members per process (measured: 2 did not help on 2 cores; try on bigger
    #: hosts): one's ClickHouse insert (GIL released) overlaps another's merge; partitions (so row
    #: keys) are split between members, so per-key order holds
    members: int = Field(default=1, ge=1, le=16)
    #: decode, merge and encode batches of 64+ rows in a worker process, so the HTTP side and the
    #: writer use two cores (writer/offload.py); off: all in the writer's process
    offload: bool = True
    #: with `offload`, the worker prepares the next batch while this one is inserted, once the bus
    #: holds at least this many row writes after it (in-process bus only; Kafka takes turns).
    #: Smaller: more overlap; larger: the next batch waits to grow, so bigger parts and fewer
    #: part merges. A value above `max_batch` turns the look-ahead off.
    lookahead_min_messages: int = Field(default=64, ge=1)
