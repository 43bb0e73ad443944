"""The async BTQL job manager on its own: cut-off at MAX_ROWS, failures, cancel and shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from loopline.query import async_btql
from loopline.query.async_btql import AsyncQueries
from loopline.query.reads import ReadError

from loopline import btql

QUERY = btql.parse("select: id | from: project_logs('p1') | sort: id")


async def wait_done(jobs: AsyncQueries, job_id: str) -> str:
    for _ in range(500):
        status = jobs.get("o1", job_id).status
        if status not in ("queued", "running"):
            return status
        await asyncio.sleep(0.01)
    raise AssertionError("job did not finish")


async def test_pages_are_followed_and_cut_at_the_row_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(async_btql, "MAX_ROWS", 25)
    seen: list[str | None] = []

    async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
        seen.append(q.cursor)
        n = len(seen)
        return [{"id": f"{n}-{i}"} for i in range(10)], f"c{n}"  # endless pages of 10

    jobs = AsyncQueries()
    job = jobs.submit("o1", QUERY, run_page)
    assert await wait_done(jobs, job.id) == "succeeded"
    assert seen == [None, "c1", "c2"]  # each page asked with the previous page's cursor
    res = jobs.result("o1", job.id, limit=100, cursor=None)
    assert len(res["rows"]) == 25 and res["warnings"] == ["the result was cut at 25 rows"]


async def test_a_failing_query_reports_its_class() -> None:
    async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
        raise btql.BindError("unknown field 'x'")

    jobs = AsyncQueries()
    job = jobs.submit("o1", QUERY, run_page)
    assert await wait_done(jobs, job.id) == "failed"
    assert jobs.get("o1", job.id).error == "BindError: unknown field 'x'"
    assert jobs.result("o1", job.id, limit=None, cursor=None) == {
        "status": "failed",
        "error": "BindError: unknown field 'x'",
        "rows": [],
    }
    with pytest.raises(ReadError) as e:
        jobs.get("another-org", job.id)
    assert e.value.status == 404


async def test_cancel_and_shutdown_stop_running_jobs() -> None:
    started = asyncio.Event()

    async def run_page(q: btql.Query) -> tuple[list[dict[str, Any]], str | None]:
        started.set()
        await asyncio.Event().wait()  # a query that never finishes
        raise AssertionError("unreachable")

    jobs = AsyncQueries()
    a = jobs.submit("o1", QUERY, run_page)
    await started.wait()
    assert jobs.cancel("o1", a.id).status == "canceled"
    b = jobs.submit("o1", QUERY, run_page)
    await asyncio.sleep(0.05)
    await jobs.stop()
    assert b.task is not None and b.task.done()
    assert jobs.get("o1", b.id).status == "canceled"
