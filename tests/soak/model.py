"""The soak's own model of what it wrote: per object, the rows the server acknowledged.

A row the server acknowledged (200) is expected to be readable until the soak deletes it. A write
whose outcome is unknown (5xx, timeout, reset) makes its ids *uncertain*: the oracle accepts them
present or absent (the 5xx itself already fails the soak).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

PARENT_FIELD = {"project_logs": "project_id", "experiment": "experiment_id", "dataset": "dataset_id"}


@dataclass
class RowState:
    bucket: str | None  # metadata.bucket (None for OTLP spans, which carry no bucket)
    n: int | None  # metadata.n
    score: float | None  # scores.q (experiments)
    otlp: bool = False


@dataclass
class SoakObject:
    """An object the soak writes to; `lock` is held by a writer during a write and by the
    oracle during a check, so a check never races the object's own writes."""

    object_type: str
    object_id: str
    project_id: str
    rows: dict[str, RowState] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ref(self) -> str:
        return f"{self.object_type}('{self.object_id}')"

    def parent_fields(self) -> dict[str, str]:
        out = {PARENT_FIELD[self.object_type]: self.object_id}
        if self.object_type == "project_logs":
            out["log_id"] = "g"
        return out

    def live_ids(self) -> set[str]:
        return set(self.rows) - self.uncertain

    def ids_where(self, bucket: str) -> set[str]:
        return {i for i, r in self.rows.items() if r.bucket == bucket} - self.uncertain

    def mergeable(self) -> list[str]:
        return [i for i, r in self.rows.items() if not r.otlp and i not in self.uncertain]
