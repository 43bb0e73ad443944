"""The writer's worker prepares the next bus batch while the writer inserts this one.

A backlog whose later batches merge onto rows of the batch just before them (and name them as
`_parent_id`) goes through the in-process bus to a writer with a worker process; the store then
holds exactly what a writer without a worker, handed the same batches one by one, writes. Each
batch is handed over only once the one before it is committed; an insert that fails, or a
worker that dies while it prepares ahead, commits nothing past the failed batch and loses
nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from loopline.common import stored_row
from loopline.common.bus import ConsumerOptions, Message, OutMessage, TopicSpec
from loopline.common.bus.memory import InProcessBus
from loopline.common.messages.rows import RowWrite
from loopline.common.store import Store, StoreError
from loopline.common.testing import RecordingBus
from loopline.common.topics import ROWS
from loopline.ingest.writer import Writer
from loopline.ingest.writer.offload import Offload, WorkerDied

from .test_writer_offload import _dataset_row, _span, _store

pytestmark = pytest.mark.timeout(120)

BATCH = 100


def _backlog() -> list[RowWrite]:
    """Four batches of `BATCH` (the last one smaller): each after the first merges onto rows of
    the batch before it, resolves a parent written there, and adds a dataset version."""
    b1 = [
        _span(10, f"a{i}", input=f"q{i}", tags=["t1"], span_id=f"sa{i}", root_span_id=f"ra{i}")
        for i in range(100)
    ]
    b2 = [_span(20, f"a{i}", _is_merge=True, output=f"o{i}", tags=["t2"]) for i in range(50)]
    b2 += [_span(20, "child-of-a2", input="c", _parent_id="a2"), _dataset_row(20, "d", input="v1")]
    b2 += [_span(20, f"b{i}", input=f"qb{i}") for i in range(48)]
    b3 = [_span(30, f"b{i}", _is_merge=True, metadata={"m": i}) for i in range(48)]
    b3 += [_span(30, f"a{i}", _is_merge=True, output=f"o3-{i}") for i in range(40, 90)]
    b3 += [_dataset_row(30, "d", _is_merge=True, expected="e"), _span(30, "c0", input="new")]
    b4 = [_span(40, f"a{i}", _is_merge=True, scores={"s": 1.0}) for i in range(50)]
    batches = [b1, b2, b3, b4]
    assert [len(b) for b in batches] == [BATCH, BATCH, BATCH, 50]
    return [w for b in batches for w in b]


async def _contents(store: Store) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table, final in (("spans", "FINAL"), ("dataset_rows", "")):
        cols = ", ".join(c for c in stored_row.WRITE_COLUMNS if c != "created")
        rows = await store.query_dicts(
            store.sql(f"SELECT {cols} FROM {{db}}.{table} {final} ORDER BY id, _xact_id")
        )
        out[table] = rows
    _, letters = await store.query(store.sql("SELECT key, reason FROM {db}.dead_letters ORDER BY key"))
    out["dead_letters"] = letters
    return out


async def _sequential(chdb_dsn: str, writes: Sequence[RowWrite]) -> dict[str, Any]:
    """What a writer without a worker writes, handed the batches one by one."""
    store = await _store(chdb_dsn)
    try:
        writer = Writer(store, RecordingBus())
        for lo in range(0, len(writes), BATCH):
            chunk = writes[lo : lo + BATCH]
            await writer.handle(
                [Message(ROWS, 0, lo + i, w.key.encode(), w.encode()) for i, w in enumerate(chunk)]
            )
        return await _contents(store)
    finally:
        await store.close()


async def _until(cond: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _consume(
    store: Store, offload: Offload, writes: Sequence[RowWrite], lookahead_min: int, **patch: Any
) -> tuple[Writer, list[tuple[int, int]]]:
    """The writes as a backlog on a one-partition topic, then a writer with `offload` consuming
    it in batches of `BATCH`; returns the writer, each handler call's (first offset, committed
    offset when it began)."""
    bus = InProcessBus()
    await bus.start()
    await bus.ensure_topics([TopicSpec(ROWS, 1)])
    await bus.publish(ROWS, [OutMessage(w.key.encode(), w.encode()) for w in writes])
    writer = Writer(store, bus, offload, lookahead_min)
    for name, fn in patch.items():
        setattr(store, name, fn(getattr(store, name)))
    calls: list[tuple[int, int]] = []

    async def handle(batch: list[Message]) -> None:
        calls.append((batch[0].offset, (await bus.committed_offsets(ROWS, "writer")).get(0, 0)))
        await writer.handle(batch)

    await bus.subscribe(
        ROWS, "writer", handle, ConsumerOptions(max_batch=BATCH, max_wait_s=0, retry_backoff_s=0.01)
    )
    await _until(lambda: bus._topics[ROWS].groups["writer"].committed.get(0, 0) == len(writes))
    await bus.stop()
    return writer, calls


async def _through_the_bus(
    chdb_dsn: str, offload: Offload, writes: Sequence[RowWrite], lookahead_min: int = 64, **patch: Any
) -> tuple[Writer, list[tuple[int, int]], dict[str, Any]]:
    """`_consume` into a fresh store; returns the writer, the handler calls and what the store
    then holds."""
    store = await _store(chdb_dsn)
    try:
        writer, calls = await _consume(store, offload, writes, lookahead_min, **patch)
        return writer, calls, await _contents(store)
    finally:
        await store.close()


async def test_the_next_batch_prepared_ahead_merges_onto_the_batch_before_it(
    chdb_dsn: str, offload: Offload
) -> None:
    writes = _backlog()
    want = await _sequential(chdb_dsn, writes)
    writer, calls, got = await _through_the_bus(chdb_dsn, offload, writes)
    assert writer.prepare is not None
    assert writer.prepare.started_ahead == writer.prepare.used_ahead == 2  # batches 2 and 3
    assert calls == [(0, 0), (100, 100), (200, 200), (300, 300)]
    a45 = next(r for r in got["spans"] if r["id"] == "a45")  # written in batches 1 to 4
    assert (a45["input"], a45["output"], a45["scores"]) == ('"q45"', '"o3-45"', '{"s":1.0}')  # stored as JSON
    child = next(r for r in got["spans"] if r["id"] == "child-of-a2")
    assert (child["root_span_id"], child["span_parents"]) == ("ra2", ["sa2"])
    assert got == want


async def test_a_failed_insert_commits_nothing_past_its_batch_and_loses_nothing(
    chdb_dsn: str, offload: Offload
) -> None:
    """Batch 2's insert fails once while batch 3 is prepared ahead: batch 2 is handed again
    (batch 3's prepare is dropped), batch 3 only after batch 2 is committed; nothing is lost."""
    writes = _backlog()
    want = await _sequential(chdb_dsn, writes)
    failed: list[bool] = []

    def fails_once(insert_body: Any) -> Any:
        async def insert(table: str, body: Any, *a: Any, **kw: Any) -> None:
            if not failed and b'"id":"b0"' in bytes(body):
                failed.append(True)
                raise StoreError("the store went away")
            await insert_body(table, body, *a, **kw)

        return insert

    def down_once(ping: Any) -> Any:
        pinged: list[bool] = []

        async def p() -> bool:
            if failed and not pinged:  # the insert's check: the store is down, so it raises
                pinged.append(True)
                return False
            return bool(await ping())

        return p

    writer, calls, got = await _through_the_bus(
        chdb_dsn, offload, writes, insert_body=fails_once, ping=down_once
    )
    assert failed == [True]
    assert calls == [(0, 0), (100, 100), (100, 100), (200, 200), (300, 300)]
    assert writer.prepare is not None and writer.prepare.started_ahead == 3
    assert writer.prepare.used_ahead == 2  # batch 3's first prepare was dropped with batch 2
    assert got == want


async def test_a_worker_that_dies_while_it_prepares_ahead_fails_only_that_batch(
    chdb_dsn: str, offload: Offload
) -> None:
    writes = _backlog()
    want = await _sequential(chdb_dsn, writes)
    real = offload.prepare
    calls_made: list[int] = []

    async def dies_on_the_second(values: list[bytes]) -> Any:
        calls_made.append(len(values))
        if len(calls_made) == 2:  # batch 2, prepared ahead while batch 1 is inserted
            raise WorkerDied("the worker process ended")
        return await real(values)

    offload.prepare = dies_on_the_second  # type: ignore[method-assign]
    writer, calls, got = await _through_the_bus(chdb_dsn, offload, writes)
    assert calls == [(0, 0), (100, 100), (100, 100), (200, 200), (300, 300)]
    assert writer.prepare is not None  # batch 2: ahead (died) then again; batch 3: ahead
    assert (writer.prepare.started_ahead, writer.prepare.used_ahead) == (2, 2)
    assert got == want


async def test_the_look_ahead_waits_for_its_minimum_and_a_minimum_above_the_batch_turns_it_off(
    chdb_dsn: str, offload: Offload
) -> None:
    writes = _backlog()
    want = await _sequential(chdb_dsn, writes)
    for minimum, ahead in ((BATCH, 2), (BATCH + 1, 0)):  # batches 2 and 3 hold BATCH, batch 4 50
        writer, _, got = await _through_the_bus(chdb_dsn, offload, writes, lookahead_min=minimum)
        assert writer.prepare is not None
        assert (writer.prepare.started_ahead, writer.prepare.used_ahead) == (ahead, ahead), minimum
        assert got == want, minimum
