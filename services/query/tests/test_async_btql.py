"""Async BTQL jobs on a real embedded store: row cap, failures, cancel, shutdown, and two query
replicas sharing the jobs (any replica answers for any job)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from loopline.common.errors import Problem
from loopline.common.http import COMMON_ERRORS
from loopline.common.schema import ROW_TABLES
from loopline.common.store import Store, apply_migrations
from loopline.query import async_btql, tables
from loopline.query.async_btql import AsyncQueries

from loopline import btql

QUERY = btql.parse("select: id | from: project_logs('p1') | sort: id")


@pytest.fixture
async def store(chdb_dsn: str) -> AsyncIterator[Store]:
    s = Store(chdb_dsn, database=f"t_async_{uuid.uuid4().hex[:8]}")
    await s.open()
    await apply_migrations(s, ROW_TABLES + tables.MIGRATIONS)
    try:
        yield s
    finally:
        await s.command(f"DROP DATABASE IF EXISTS {s.database}")
        await s.close()


async def wait_done(jobs: AsyncQueries, job_id: str) -> str:
    for _ in range(1000):
        status = (await jobs.get("o1", job_id)).status
        if status not in ("queued", "running"):
            return status
        await asyncio.sleep(0.01)
    raise AssertionError("job did not finish")


async def test_pages_are_followed_and_cut_at_the_row_cap(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(async_btql, "MAX_ROWS", 25)
    seen: list[str | None] = []

    async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
        seen.append(q.cursor)
        n = len(seen)
        return [{"id": f"{n}-{i}", "v": {"n": i}} for i in range(10)], f"c{n}"  # endless pages

    jobs = AsyncQueries(store)
    job = await jobs.submit("o1", QUERY, run_page)
    assert job.describe() == {"id": job.id, "status": "queued", "project_id": "p1"}
    assert await wait_done(jobs, job.id) == "succeeded"
    assert seen == [None, "c1", "c2"]  # each page asked with the previous page's cursor
    res = await jobs.result("o1", job.id, limit=100, cursor=None)
    assert len(res["rows"]) == 25 and res["warnings"] == ["the result was cut at 25 rows"]
    assert res["rows"][0] == {"id": "1-0", "v": {"n": 0}} and res["rows"][24]["id"] == "3-4"
    assert "cursor" not in res
    first = await jobs.result("o1", job.id, limit=10, cursor=None)
    second = await jobs.result("o1", job.id, limit=10, cursor=first["cursor"])
    third = await jobs.result("o1", job.id, limit=10, cursor=second["cursor"])
    assert [r["id"] for r in first["rows"] + second["rows"] + third["rows"]] == [r["id"] for r in res["rows"]]
    assert "cursor" not in third
    with pytest.raises(Problem) as e:
        await jobs.result("o1", job.id, limit=0, cursor=None)
    assert COMMON_ERRORS.status_of(e.value) == 400


async def test_a_failing_query_reports_its_class(store: Store) -> None:
    async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
        raise btql.BindError("unknown field 'x'")

    jobs = AsyncQueries(store)
    job = await jobs.submit("o1", QUERY, run_page)
    assert await wait_done(jobs, job.id) == "failed"
    assert (await jobs.get("o1", job.id)).error == "BindError: unknown field 'x'"
    assert await jobs.result("o1", job.id, limit=None, cursor=None) == {
        "status": "failed",
        "error": "BindError: unknown field 'x'",
        "rows": [],
    }
    for org, jid in (("another-org", job.id), ("o1", "no-such-job")):
        with pytest.raises(Problem) as e:
            await jobs.get(org, jid)
        assert COMMON_ERRORS.status_of(e.value) == 404


async def test_cancel_and_shutdown_stop_running_jobs(store: Store) -> None:
    started = asyncio.Event()

    async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
        started.set()
        await asyncio.Event().wait()  # a query that never finishes
        raise AssertionError("unreachable")

    jobs = AsyncQueries(store)
    a = await jobs.submit("o1", QUERY, run_page)
    await started.wait()
    assert (await jobs.cancel("o1", a.id)).status == "canceled"
    assert await wait_done(jobs, a.id) == "canceled"
    b = await jobs.submit("o1", QUERY, run_page)
    await asyncio.sleep(0.05)
    await jobs.stop()
    assert await wait_done(jobs, b.id) == "canceled"


async def test_two_replicas_share_the_jobs(store: Store) -> None:
    """Submitted on one replica; status, rows and cancel work from the other."""
    release = asyncio.Event()
    pages: list[str | None] = []

    async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
        pages.append(q.cursor)
        if len(pages) == 2:
            await release.wait()  # the second page waits until the other replica cancels
        return [{"id": f"r{len(pages)}"}], f"c{len(pages)}"

    here, there = AsyncQueries(store), AsyncQueries(store)
    done = await here.submit("o1", btql.parse("select: id | from: project_logs('p1') | limit: 1"), run_page)
    assert await wait_done(there, done.id) == "succeeded"
    assert (await there.result("o1", done.id, limit=None, cursor=None))["rows"] == [{"id": "r1"}]

    pages.clear()
    job = await here.submit("o1", QUERY, run_page)
    for _ in range(500):
        if len(pages) == 2:
            break
        await asyncio.sleep(0.01)
    assert (await there.get("o1", job.id)).status == "running"
    assert (await there.cancel("o1", job.id)).status == "canceled"  # only a cancel request there
    release.set()  # the runner finishes its page, sees the request and stops
    assert await wait_done(here, job.id) == "canceled"
    await asyncio.sleep(0.1)
    assert len(pages) == 2  # no page after the cancel
    assert (await there.result("o1", job.id, limit=None, cursor=None)) == {"status": "canceled", "rows": []}


async def test_a_job_whose_process_died_reads_as_failed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    dead = AsyncQueries(store)
    job = await dead.submit("o1", QUERY, run_page)
    task = dead._tasks.pop(job.id)  # the process "ends": no stop(), so no final state is written
    try:
        monkeypatch.setattr(async_btql, "STALE_S", 0.0)
        await asyncio.sleep(0.01)
        got = await AsyncQueries(store).get("o1", job.id)
        assert got.status == "failed" and got.error is not None and "ended before it finished" in got.error
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
