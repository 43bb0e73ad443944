"""The writer's pure work in a worker process: decode → group → merge → columns → encode.

On one asyncio process the writer's Python work (about half of a span's CPU on the ingest path)
and the HTTP side share one core under the GIL. `prepare` runs in a worker process fed the
messages' bytes, and hands back the encoded JSONEachRow lines to insert and the announcements
they make; no Python object crosses either way (wire.py: one frame of bytes each way over a
pipe).

The worker merges every row as if it had no stored state. That is the right answer exactly for
rows that were never written and name no parent to resolve, which is what steady ingest sends;
the writer checks which rows have a stored version (`bases.existing_ids`) and merges those (and
rows that name a `_parent_id` to resolve, or whose merge failed here) in its own process, as
before, so merge results, rejects and their reasons are unchanged. When every row of a batch is
new and merged there (steady ingest), the writer inserts the worker's body of each table as it
came and publishes the worker's announcements: no per-row Python work in the writer's process.

A worker that dies fails the batch (the bus redelivers it; a new worker is started); a worker
whose writer died ends itself (its request pipe closes; and it watches its parent). The worker
is started with "spawn" (the writer's process runs the store's threads, which a fork must not
copy), so it imports the main module as `__mp_main__`: an entry point must guard its `main()`
(`loopline.cli.__main__` does).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

from loopline.common import stored_row
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.contract import MessageDecodeError
from loopline.common.messages.rows import RowWrite
from loopline.common.os_threads import naming
from loopline.common.rows import RowValidationError
from loopline.ingest import merge
from loopline.ingest.writer import wire
from loopline.ingest.writer.steps import GroupKey, merge_group
from loopline.ingest.writer.wire import ANNOUNCED, PreparedBatch, PreparedRow

#: How often a worker checks that the writer's process is still its parent.
PARENT_CHECK_S = 1.0


class WorkerDied(Exception):
    """The worker process ended or failed mid-batch (the bus redelivers the batch)."""


def prepare(values: list[bytes] | list[memoryview]) -> PreparedBatch:
    """Decode, group, merge (no stored state) and encode a batch's message values."""
    out = PreparedBatch()
    writes: dict[GroupKey, dict[str, list[tuple[int, RowWrite]]]] = {}
    for i, value in enumerate(values):
        try:
            w = rows_topic.decode(value)  # type: ignore[arg-type]  # orjson reads a memoryview too
        except MessageDecodeError as exc:
            out.undecodable.append((i, str(exc)))
            continue
        key = (w.table, w.org_id, w.project_id, w.object_type, w.object_id)
        writes.setdefault(key, {}).setdefault(w.row_id, []).append((i, w))
    # each row's decoded writes are dropped once its lines are encoded (a batch's peak memory)
    for key in list(writes):
        by_id = writes.pop(key)
        rows = out.groups[key] = {}
        # a `_parent_id` resolves to the parent's state, stored or earlier in the batch: such a
        # group is merged by the writer as a whole, the way it merges without a worker
        names_parent = any("_parent_id" in w.row for iws in by_id.values() for _, w in iws)
        for row_id in list(by_id):
            iws = by_id.pop(row_id)
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


def _tune_and_watch(parent: int) -> None:
    """The worker's set-up: end the worker when the writer's process is gone (even after a
    `kill -9`); and the collector tuned as in the server's process (`runtime.app.tune_gc`): a
    batch decodes and merges hundreds of thousands of short-lived objects, freed by reference
    counting, which the default thresholds walked again and again (measured: parsing
    `bench_ingest`'s 3.8 KB rows took 10.4 µs a row with the default collector, 6.2 µs with
    this)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def serve(requests: Connection, responses: Connection, parent: int) -> None:
    """The worker process: answer each request frame (a batch's values) with its prepared batch;
    end when the request pipe closes (the writer closed it, or died)."""
    _tune_and_watch(parent)
    reader, wfd = wire.FrameReader(requests.fileno()), responses.fileno()
    while True:
        try:
            frame = reader.read()
        except EOFError:
            os._exit(0)
        try:
            parts = wire.encode_prepared(prepare(wire.split_values(frame)))
        except Exception:
            parts = wire.error_frame(traceback.format_exc())
        del frame
        wire.write_frame(wfd, parts)
        del parts


class _Process:
    """One worker process and the two pipes to it."""

    def __init__(self) -> None:
        # spawn: the writer's process holds the store's threads, which a fork must not copy
        mp = multiprocessing.get_context("spawn")
        req_r, self.requests = mp.Pipe(duplex=False)
        self.responses, res_w = mp.Pipe(duplex=False)
        self.proc = mp.Process(
            target=serve, args=(req_r, res_w, os.getpid()), name="loopline-writer-worker", daemon=True
        )
        self.proc.start()
        req_r.close()  # the worker's ends: its request pipe then closes when this process dies
        res_w.close()
        for conn in (self.requests, self.responses):
            wire.grow_pipe(conn.fileno())
        self.answers = wire.FrameReader(self.responses.fileno())

    def call(self, parts: list[bytes]) -> memoryview:
        """Send one request frame, wait for the answer (blocking: runs in the hand-off thread)."""
        try:
            wire.write_frame(self.requests.fileno(), parts)
            return self.answers.read()
        except (OSError, EOFError) as exc:
            raise WorkerDied(f"the writer's worker process ended: {exc!r}") from exc

    def close(self) -> None:
        self.requests.close()  # the worker ends at its next read
        self.responses.close()
        self.proc.join(timeout=1.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5.0)


class Offload:
    """A worker process for `prepare`; started on first use, restarted after a crash. Calls go
    through one hand-off thread (its pipe reads and writes release the GIL), one at a time."""

    def __init__(self) -> None:
        self._proc: _Process | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="offload", initializer=naming("ll-offload"))

    def _call(self, parts: list[bytes]) -> memoryview:
        if self._proc is None:
            self._proc = _Process()
        try:
            return self._proc.call(parts)
        except WorkerDied:
            proc, self._proc = self._proc, None
            proc.close()  # the next batch (this one, redelivered) starts a new worker
            raise

    async def prepare(self, values: list[bytes]) -> wire.Handed:
        loop = asyncio.get_running_loop()
        frame = await loop.run_in_executor(self._thread, self._call, wire.request(values))
        return wire.decode_prepared(frame)

    async def start(self) -> None:
        await self.prepare([])

    def worker_pids(self) -> list[int]:
        """The worker's process id (tests)."""
        proc = self._proc
        return [proc.proc.pid] if proc is not None and proc.proc.pid is not None else []

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.close()
