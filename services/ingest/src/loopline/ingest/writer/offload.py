"""The writer's pure work in a worker process: decode → group → merge → columns → encode.

On one asyncio process the writer's Python work (about half of a span's CPU on the ingest path)
and the HTTP side share one core under the GIL. `prepare` runs in a worker process fed the
messages' bytes, and hands back, per logical row, the encoded JSONEachRow lines to insert and
the few fields the announcement needs; no row object crosses back.

The worker merges every row as if it had no stored state. That is the right answer exactly for
rows that were never written and name no parent to resolve, which is what steady ingest sends;
the writer checks which rows have a stored version (`bases.existing_ids`) and merges those (and
rows that name a `_parent_id` to resolve, or whose merge failed here) in its own process, as
before, so merge results, rejects and their reasons are unchanged.

A worker that dies fails the batch (the bus redelivers it; a new worker is started); a worker
whose writer died ends itself. The worker is started with "spawn" (the writer's process runs the
store's threads, which a fork must not copy), so it imports the main module as `__mp_main__`:
an entry point must guard its `main()` (`loopline.cli.__main__` does).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from loopline.common import stored_row
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.contract import MessageDecodeError
from loopline.common.messages.rows import RowWrite
from loopline.common.rows import RowValidationError
from loopline.ingest import merge
from loopline.ingest.writer.steps import GroupKey, merge_group

#: How often a worker checks that the writer's process is still its parent.
PARENT_CHECK_S = 1.0
#: The fields of a written row that the announcement (`committed.from_written`) reads.
ANNOUNCED = (
    "org_id",
    "project_id",
    "object_type",
    "object_id",
    "id",
    "root_span_id",
    "_xact_id",
    "_is_deleted",
)


@dataclass(slots=True)
class PreparedRow:
    """One logical row's writes, merged onto no stored state: `lines` to insert (one per stored
    version) with `announced` fields each; `writes` are the batch indexes of its writes."""

    writes: list[int]
    lines: list[bytes] = field(default_factory=list)
    announced: list[dict[str, Any]] = field(default_factory=list)
    #: False when the row must be merged by the writer itself (its group names a parent to
    #: resolve, or its merge failed here; the writer's merge then rejects it with the reason)
    ok: bool = True


@dataclass(slots=True)
class PreparedBatch:
    """A bus batch after `prepare`: messages that are not row writes (index, reason), and the
    rows by group, in bus order."""

    undecodable: list[tuple[int, str]] = field(default_factory=list)
    groups: dict[GroupKey, dict[str, PreparedRow]] = field(default_factory=dict)


def prepare(values: list[bytes]) -> PreparedBatch:
    """Decode, group, merge (no stored state) and encode a batch's message values."""
    out = PreparedBatch()
    writes: dict[GroupKey, dict[str, list[tuple[int, RowWrite]]]] = {}
    for i, value in enumerate(values):
        try:
            w = rows_topic.decode(value)
        except MessageDecodeError as exc:
            out.undecodable.append((i, str(exc)))
            continue
        key = (w.table, w.org_id, w.project_id, w.object_type, w.object_id)
        writes.setdefault(key, {}).setdefault(w.row_id, []).append((i, w))
    for key, by_id in writes.items():
        rows = out.groups[key] = {}
        # a `_parent_id` resolves to the parent's state, stored or earlier in the batch: such a
        # group is merged by the writer as a whole, the way it merges without a worker
        names_parent = any("_parent_id" in w.row for iws in by_id.values() for _, w in iws)
        for row_id, iws in by_id.items():
            row = rows[row_id] = PreparedRow([i for i, _ in iws])
            ws = [w for _, w in iws]
            if names_parent:
                row.ok = False
                continue
            try:
                cols = merge_group(key, {row_id: ws}, {})
            except (merge.MergeError, RowValidationError):
                row.ok = False
                continue
            row.lines = [stored_row.insert_line(c) for c in cols]
            row.announced = [{k: c[k] for k in ANNOUNCED} for c in cols]
    return out


def _warm() -> None:
    """Run in a new worker: imports done before the first batch needs them."""


def _exit_with_parent(parent: int) -> None:
    """The worker's initializer: end the worker when the writer's process is gone (even after a
    `kill -9`, which leaves the worker waiting for work that never comes); and the collector
    tuned as in the server's process (`runtime.app.tune_gc`): a batch decodes and merges
    hundreds of thousands of short-lived objects, freed by reference counting, which the default
    thresholds walked again and again (measured: parsing `bench_ingest`'s 3.8 KB rows took 10.4
    µs a row with the default collector, 6.2 µs with this)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class Offload:
    """A one-process pool for `prepare`; started on first use, restarted after a crash."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: the writer's process holds the store's threads, which a fork must not copy
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def prepare(self, values: list[bytes]) -> PreparedBatch:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), prepare, values)
        except BrokenProcessPool:
            self.close()  # the next batch (this one, redelivered) starts a new worker
            raise

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor(), _warm)

    def worker_pids(self) -> list[int]:
        """The worker's process id (tests)."""
        pool = self._pool
        return list(pool._processes) if pool is not None else []

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
