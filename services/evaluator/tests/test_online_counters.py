"""Per-rule counters while a flush is writing them: every delta is counted exactly once by
`counters` and `spent_today`, whenever they run. Before this, a read that overlapped a flush saw the
flushed deltas neither in memory nor in the store, so the spend cap read as not reached and a
scorer call went past it (found by test_online_judge's spend-cap test on a loaded machine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from loopline.common.store import Store
from loopline.common.store.migrations import apply_migrations
from loopline.common.testing import unique_database
from loopline.evaluator.online.tables import MIGRATIONS
from loopline.evaluator.online.work import WorkLog


class HeldInserts(Store):
    """A store whose inserts wait for `release` (once `hold` is set), so a test can read while one
    is in flight; `landed` is set once a held insert is in the store."""

    def __init__(self, dsn: str, database: str) -> None:
        super().__init__(dsn, database)
        self.hold = False
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.landed = asyncio.Event()
        self.fail = False

    async def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]) -> None:
        if self.hold:
            self.started.set()
            await self.release.wait()
        if self.fail:
            raise RuntimeError("the store is away")
        await super().insert(table, rows, column_names)
        self.landed.set()


@pytest.fixture
async def store(chdb_dsn: str) -> AsyncIterator[HeldInserts]:
    s = HeldInserts(chdb_dsn, unique_database("counters"))
    await s.open()
    await apply_migrations(s, MIGRATIONS)
    yield s
    await s.close()


async def test_a_read_during_a_flush_counts_the_flushed_deltas_once(store: HeldInserts) -> None:
    work = WorkLog(store)
    work.count("o", "r", "cost_usd", 0.5)
    work.count("o", "r", "scored")
    await work.flush()
    work.count("o", "r", "cost_usd", 0.25)
    store.hold = True
    flushing = asyncio.create_task(work.flush())
    await store.started.wait()  # the 0.25 left memory and is not in the store yet
    spent = asyncio.create_task(work.spent_today("o", "r"))
    counted = asyncio.create_task(work.counters("o", "r"))
    await asyncio.sleep(0.2)
    assert not spent.done() and not counted.done()  # they wait for the write, not guess around it
    work.count("o", "r", "cost_usd", 0.125)  # counted meanwhile: in memory, not in this flush
    store.release.set()
    await flushing
    assert await spent == pytest.approx(0.875)
    total, day = await counted
    assert total["cost_usd"] == pytest.approx(0.875) and day["cost_usd"] == pytest.approx(0.875)
    assert total["scored"] == 1
    await work.flush()
    assert await work.spent_today("o", "r") == pytest.approx(0.875)


async def test_a_failed_flush_keeps_its_deltas_and_readers_still_count_them(store: HeldInserts) -> None:
    work = WorkLog(store)
    work.count("o", "r", "cost_usd", 1.0)
    store.hold, store.fail = True, True
    flushing = asyncio.create_task(work.flush())
    await store.started.wait()
    spent = asyncio.create_task(work.spent_today("o", "r"))
    store.release.set()
    with pytest.raises(RuntimeError):
        await flushing
    assert await spent == pytest.approx(1.0)  # back in memory, not lost and not doubled
    store.hold, store.fail = False, False
    await work.flush()
    assert await work.spent_today("o", "r") == pytest.approx(1.0)
    assert (await work.counters("o", "r"))[0]["cost_usd"] == pytest.approx(1.0)


async def test_many_reads_racing_many_flushes_never_see_a_delta_missing_or_twice(store: HeldInserts) -> None:
    work = WorkLog(store)
    added = 0.0
    seen: list[tuple[float, float, float]] = []  # (counted before the read, read, counted after)

    async def counting() -> None:
        nonlocal added
        for _ in range(60):
            work.count("o", "r", "cost_usd", 1.0)
            added += 1.0
            await asyncio.sleep(0.002)

    async def flushing() -> None:
        for _ in range(30):
            await work.flush()
            await asyncio.sleep(0.003)

    async def reading() -> None:
        for _ in range(40):
            before = added
            got = await work.spent_today("o", "r")
            seen.append((before, got, added))

    await asyncio.gather(counting(), flushing(), reading(), reading())
    assert len(seen) == 80
    assert all(before <= got <= after for before, got, after in seen), seen
    await work.flush()
    assert await work.spent_today("o", "r") == 60.0
