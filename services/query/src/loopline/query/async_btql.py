"""Asynchronous BTQL (`/btql/async`): run a query in the background, then read its rows in pages.

For exports and long queries (the `bt sql` CLI's async mode). A job compiles and runs the query
like `/btql`, following its cursor through every page when the query sets no `limit`, and keeps
the rows in memory (bounded: `MAX_ROWS` per job, `MAX_JOBS` per process, jobs expire after
`TTL_S`). Status: queued → running → succeeded | failed | canceled. Only the org that created a
job can see it; another org gets the same 404 as for an unknown id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loopline.common.store import StoreError
from loopline.query.cursor import CursorError, decode_cursor, encode_cursor
from loopline.query.reads import ReadError

from loopline import btql

MAX_ROWS = 100_000
MAX_JOBS = 256
TTL_S = 3600.0
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000
RUNNING_AT_ONCE = 2

# a parsed query (with the cursor of its page) -> (rows, the next page's cursor or None)
RunPage = Callable[[btql.Query], Awaitable[tuple[list[dict[str, Any]], str | None]]]


@dataclass
class Job:
    id: str
    org_id: str
    source: btql.SourceRef
    status: str = "queued"
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.source.object_type == "project_logs":
            out["project_id"] = self.source.object_ids[0] if self.source.object_ids else None
        elif self.source.object_ids:
            out["object_id"] = self.source.object_ids[0]
        if self.status == "succeeded":
            out["row_count"] = len(self.rows)
        if self.error is not None:
            out["error"] = self.error
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def _encode_cursor(offset: int) -> str:
    return encode_cursor({"async": offset})


def _decode_cursor(cursor: str) -> int:
    try:
        offset = decode_cursor(cursor).get("async")
    except CursorError:
        offset = None
    if type(offset) is not int or offset < 0:
        raise ReadError(400, "'cursor' is not a cursor of this result", field="cursor")
    return offset


class AsyncQueries:
    """The jobs of this process."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._running = asyncio.Semaphore(RUNNING_AT_ONCE)

    def _expire(self) -> None:
        now = time.monotonic()
        for jid, job in list(self.jobs.items()):
            if now - job.created > TTL_S and job.status not in ("queued", "running"):
                del self.jobs[jid]

    def submit(self, org_id: str, query: btql.Query, run_page: RunPage) -> Job:
        self._expire()
        if len(self.jobs) >= MAX_JOBS:
            raise ReadError(429, f"too many async queries are kept ({MAX_JOBS}); retry later")
        job = Job(uuid.uuid4().hex, org_id, btql.source_of(query))
        self.jobs[job.id] = job
        job.task = asyncio.create_task(self._run(job, query, run_page), name=f"btql-async-{job.id}")
        return job

    async def _run(self, job: Job, query: btql.Query, run_page: RunPage) -> None:
        async with self._running:
            if job.status == "canceled":
                return
            job.status = "running"
            follow = query.limit is None  # an explicit limit asks for that many rows, not all
            cursor = query.cursor
            try:
                while True:
                    rows, cursor = await run_page(dataclasses.replace(query, cursor=cursor))
                    room = MAX_ROWS - len(job.rows)
                    job.rows.extend(rows[:room])
                    if len(rows) > room or (cursor and follow and len(job.rows) >= MAX_ROWS):
                        job.warnings.append(f"the result was cut at {MAX_ROWS} rows")
                        break
                    if not (follow and cursor and rows):
                        break
            except asyncio.CancelledError:
                job.status = "canceled"
                job.rows = []
                raise
            except btql.BtqlError as exc:
                err = exc.to_json().get("error", {})
                job.status, job.error = "failed", f"{err.get('class', 'Error')}: {err.get('message', exc)}"
                job.rows = []
                return
            except StoreError as exc:
                job.status, job.error = "failed", f"RuntimeError: {str(exc)[:500]}"
                job.rows = []
                return
            job.status = "succeeded"

    async def stop(self) -> None:
        """On shutdown: cancel the jobs still queued or running (their results would be lost)."""
        tasks = [j.task for j in self.jobs.values() if j.task is not None and not j.task.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def get(self, org_id: str, job_id: str) -> Job:
        self._expire()
        job = self.jobs.get(job_id)
        if job is None or job.org_id != org_id:
            raise ReadError(404, f"no async query {job_id!r}")
        return job

    def cancel(self, org_id: str, job_id: str) -> Job:
        job = self.get(org_id, job_id)
        if job.status in ("queued", "running"):
            job.status = "canceled"
            if job.task is not None:
                job.task.cancel()
        return job

    def result(self, org_id: str, job_id: str, *, limit: Any, cursor: str | None) -> dict[str, Any]:
        job = self.get(org_id, job_id)
        out: dict[str, Any] = {"status": job.status}
        if job.error is not None:
            out["error"] = job.error
        if job.status != "succeeded":
            out["rows"] = []
            return out
        try:
            n = DEFAULT_PAGE if limit is None or limit == "" else int(limit)
        except ValueError:
            raise ReadError(400, f"'limit' must be an integer, got {limit!r}", field="limit") from None
        if not 1 <= n <= MAX_PAGE:
            raise ReadError(400, f"'limit' must be between 1 and {MAX_PAGE}", field="limit")
        start = _decode_cursor(cursor) if cursor else 0
        out["rows"] = job.rows[start : start + n]
        if start + n < len(job.rows):
            out["cursor"] = _encode_cursor(start + n)
        if job.warnings:
            out["warnings"] = list(job.warnings)
        return out
