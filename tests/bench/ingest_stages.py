"""What each stage of the ingest path costs per span, measured alone in this process on the rows
`bench_ingest` sends, and the store's raw insert ceiling for those rows.

Stages, in path order: validate (JSON parse + `rows.validate_row`), publish (ownership, transaction
ids, envelopes, the journaled in-process bus), consume (envelope decode + grouping), bases (the
writer's lookup of stored rows), merge (merge + columns), encode (the JSONEachRow insert body),
insert (the store's insert of that body). Python-only stages are timed with this thread's CPU
clock, with the collector tuned as in the server (`runtime.app.tune_gc`); stages that run in the
store's threads (bases, insert) with the process's CPU clock.

What the server pays around them on the writer's side, measured on the same batches: handoff (the
writer's process: sending a batch to the worker process and reading its answer, this thread and
the hand-off thread), worker pipe (the worker process's CPU for the same batches beyond consume +
merge + encode: its ends of the pipes, the answer's framing; 10 ms ticks, so rough), announce
(the `loopline.rows.committed` messages and their publish on the journaled bus).

The ceiling is the same encoded bodies inserted straight into a fresh copy of `spans` with the
writer's insert settings: no Python in the loop, wall time, best of five passes per form, the
forms alternating.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from loopline.common import stored_row
from loopline.common.auth import Principal
from loopline.common.bus import Message
from loopline.common.bus.factory import bus_from_url
from loopline.common.messages import rows as rows_topic
from loopline.common.pipeline import Batch
from loopline.common.schema import ROW_TABLES
from loopline.common.store import Store
from loopline.common.store.migrations import apply_migrations
from loopline.common.xact import XactIdGenerator
from loopline.ingest.body import parse_json
from loopline.ingest.write_api import WriteAPI
from loopline.ingest.writer import INSERT_SETTINGS, group_writes, merge_group
from loopline.ingest.writer.bases import load_bases
from loopline.ingest.writer.offload import Offload
from loopline.ingest.writer.steps import Announce, Written

from loopline.runtime.app import tune_gc
from tests.bench.thread_cpu import process_cpu_s

STAGES = ("validate", "publish", "consume", "bases", "merge", "encode", "insert")
#: the writer's costs around the stages (see the module docstring)
AROUND = ("handoff", "worker pipe", "announce")
WRITER_BATCH = 2500


@dataclass
class StageCosts:
    spans: int = 0
    cpu_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES + AROUND, 0.0))
    ceiling_spans_s: float = 0.0
    #: the ceiling with the same rows' JSON fields as escaped text (the writer's form before)
    text_ceiling_spans_s: float = 0.0

    def us_per_span(self, stage: str) -> float:
        return self.cpu_s[stage] * 1e6 / max(self.spans, 1)


class _OneProject:
    """The control plane's answer for the bench's one project (the real one caches it too)."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id

    async def project_of(self, org_id: str, object_type: str, object_id: str) -> str | None:
        return self.project_id if object_id == self.project_id else None

    async def project_id_by_name(self, principal: Principal, name: str) -> str:
        return self.project_id


class _Clock:
    def __init__(self, costs: StageCosts, clock: Callable[[], float] = time.thread_time) -> None:
        self.costs = costs
        self.clock = clock

    def __call__(self, stage: str) -> _Timed:
        return _Timed(self.costs, stage, self.clock)


class _Timed:
    def __init__(self, costs: StageCosts, stage: str, clock: Callable[[], float]) -> None:
        self.costs, self.stage, self.clock = costs, stage, clock

    def __enter__(self) -> None:
        self.t0 = self.clock()

    def __exit__(self, *exc: object) -> None:
        self.costs.cpu_s[self.stage] += self.clock() - self.t0


async def measure(base: Path, bodies: list[bytes]) -> StageCosts:
    """Stage costs and the ceiling for `/logs3` bodies (each `{"rows": [...]}` of one project)."""
    tune_gc()  # the collector settings of the server and of the writer's worker process
    costs = StageCosts()
    thread = _Clock(costs)
    process = _Clock(costs, time.process_time)
    store = Store(f"chdb://{base / 'ch'}")
    bus = bus_from_url(
        "memory://", journal_dir=base / "bus", inproc_capacity=10**7, inproc_retain_bytes=1 << 40
    )
    await store.open()
    await bus.start()
    try:
        await apply_migrations(store, ROW_TABLES)
        project_id = orjson.loads(bodies[0])["rows"][0]["project_id"]
        xact = XactIdGenerator()
        api = WriteAPI(bus, _OneProject(project_id), xact, max_row_bytes=20 << 20, publish_timeout_s=60)
        principal = Principal(org_id="bench-org")
        envelopes: list[Message] = []
        for body in bodies:
            with thread("validate"):
                rows = parse_json(body)["rows"]
                validated = api.validate(rows, len(body), "rows", from_json=True)
            with thread("publish"):
                await api.write_validated(principal, validated)
            costs.spans += len(rows)
            x = xact.next()  # the same envelopes the publish wrote, for the writer's stages
            for v in validated:
                w = rows_topic.RowWrite("bench-org", project_id, v.object_type, v.object_id, x, v.row)
                envelopes.append(Message(rows_topic.TOPIC, 0, len(envelopes), w.key.encode(), w.encode()))
        encoded: list[list[bytes]] = []
        as_text: list[list[bytes]] = []  # the same rows with JSON fields as text (the old form)
        offload = Offload()
        await offload.start()
        handoff_thread = await asyncio.get_running_loop().run_in_executor(
            offload._thread, threading.get_ident
        )
        handoff_clock = time.pthread_getcpuclockid(handoff_thread)
        (worker,) = offload.worker_pids()
        worker_cpu0 = process_cpu_s(worker)
        announce = Announce(bus)
        for i in range(0, len(envelopes), WRITER_BATCH):
            batch = envelopes[i : i + WRITER_BATCH]
            with thread("consume"):
                groups = group_writes([rows_topic.decode(m.value) for m in batch])
            merged: list[dict[str, Any]] = []
            for key, by_id in groups.items():
                with process("bases"):
                    bases = await load_bases(store, key, list(by_id))
                with thread("merge"):
                    merged += merge_group(key, by_id, bases)
            with thread("encode"):
                lines = [stored_row.insert_line(r) for r in merged]
            with process("insert"):
                await _insert(store, "spans", lines)
            encoded.append(lines)
            as_text.append([orjson.dumps(_text_form(r)) for r in merged])
            h0 = time.clock_gettime(handoff_clock)
            with thread("handoff"):
                handed = await offload.prepare([m.value for m in batch])
            costs.cpu_s["handoff"] += time.clock_gettime(handoff_clock) - h0
            written = Written(count=sum(t.count for t in handed.tables))
            written.announcements = [a for t in handed.tables for a in t.announcements]
            with thread("announce"):
                await announce(Batch(written, []))
            del handed, written  # done with the batch, as the writer is before its next one
        worker_s = process_cpu_s(worker) - worker_cpu0
        offload.close()
        costs.cpu_s["worker pipe"] = worker_s - sum(costs.cpu_s[s] for s in ("consume", "merge", "encode"))
        costs.ceiling_spans_s, costs.text_ceiling_spans_s = await _ceilings(
            store, encoded, as_text, costs.spans
        )
    finally:
        await bus.stop()
        await store.close()
    return costs


#: passes per form: one pass of 10,000 spans is a third of a second of wall time, and a single
#: best-of-two moved by 1.7x between two quiet runs (40,003 then 24,047 spans/s)
CEILING_PASSES = 5


async def _ceilings(
    store: Store, encoded: list[list[bytes]], as_text: list[list[bytes]], spans: int
) -> tuple[float, float]:
    """Spans/s inserting each form straight into fresh copies of `spans`: the two forms alternate
    (which goes first alternates too), best of `CEILING_PASSES` each; each copy is dropped after its
    pass so no earlier pass's background merges run under a later one."""
    best = {"encoded": 0.0, "text": 0.0}
    forms = {"encoded": encoded, "text": as_text}
    for i in range(CEILING_PASSES):
        for name in ("encoded", "text") if i % 2 == 0 else ("text", "encoded"):
            best[name] = max(best[name], await _ceiling_pass(store, forms[name], spans))
    return best["encoded"], best["text"]


async def _ceiling_pass(store: Store, bodies: list[list[bytes]], spans: int) -> float:
    """One pass: spans/s of `bodies` inserted into a fresh copy of `spans` (wall time)."""
    table = f"spans_ceiling_{uuid.uuid4().hex[:8]}"
    await store.command(f"CREATE TABLE {store.database}.{table} AS {store.database}.spans")
    try:
        t0 = time.perf_counter()
        for lines in bodies:
            await _insert(store, table, lines)
        return spans / (time.perf_counter() - t0)
    finally:
        await store.command(f"DROP TABLE {store.database}.{table} SYNC")


def _text_form(cols: dict[str, Any]) -> dict[str, Any]:
    """A row of the writer's insert form with its objects and arrays as JSON text (the form the
    writer inserted before; the store keeps the same text either way)."""
    return {
        k: stored_row.dumps(v) if type(v) in (dict, list) and k not in _ARRAYS else v for k, v in cols.items()
    }


_ARRAYS = frozenset({"span_parents", "tags", "scores_map", "metrics_map"})


async def _insert(store: Store, table: str, lines: list[bytes]) -> None:
    """The writer's insert (`Store.insert_json` with its settings) of rows already encoded."""
    await store.insert_json(table, lines, stored_row.WRITE_COLUMNS, settings=INSERT_SETTINGS["spans"])


def table(
    costs: StageCosts, server_us_per_span: float | None, merges_us_per_span: float | None = None
) -> list[str]:
    """The per-stage CPU table, the writer's costs around the stages, the store's background
    merges (from the saturated server's threads), and the rest of the embedded server's CPU per
    span (HTTP, the event loop, announcements' consumers, what is not measured)."""
    lines = [f"{'stage':<12}{'CPU us/span':>12}{'spans/s per core':>18}"]
    total = 0.0
    for s in STAGES + AROUND:
        us = costs.us_per_span(s)
        total += us
        lines.append(f"{s:<12}{us:>12.1f}{1e6 / max(us, 1e-9):>18,.0f}")
    if merges_us_per_span is not None:
        total += merges_us_per_span
        lines.append(
            f"{'merges':<12}{merges_us_per_span:>12.1f}{1e6 / max(merges_us_per_span, 1e-9):>18,.0f}"
            "   (the saturated server's background merge threads)"
        )
    if server_us_per_span is not None:
        rest = server_us_per_span - total
        per_core = f"{1e6 / rest:>18,.0f}" if rest > 0 else f"{'-':>18}"
        lines.append(
            f"{'rest':<12}{rest:>12.1f}{per_core}   (server CPU/span - the rows above; the stages are"
            " measured apart, so within a few us of 0 it is noise)"
        )
        lines.append(f"{'server':<12}{server_us_per_span:>12.1f}{1e6 / server_us_per_span:>18,.0f}")
    lines.append(f"{'measured':<12}{total:>12.1f}{1e6 / total:>18,.0f}")
    return lines
