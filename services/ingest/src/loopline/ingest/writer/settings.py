"""The writer's settings section (`[loopline.writer]`, `LOOPLINE_WRITER__<F>` or the flat
`LOOPLINE_WRITER_<F>`)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class WriterSettings(SettingsSection):
    SECTION: ClassVar[str] = "writer"

    #: at most this many row writes per batch (one insert per table)
    max_batch: int = Field(default=5000, gt=0)
    #: how long a batch waits to fill before it is written anyway
    max_wait_s: float = Field(default=0.05, ge=0)
    #: consumer-group members per process (measured: 2 did not help on 2 cores; try on bigger
    #: hosts): one's ClickHouse insert (GIL released) overlaps another's merge; partitions (so row
    #: keys) are split between members, so per-key order holds
    members: int = Field(default=1, ge=1, le=16)
    #: decode, merge and encode batches of 64+ rows in a worker process, so the HTTP side and the
    #: writer use two cores (writer/offload.py); off: all in the writer's process
    offload: bool = True
