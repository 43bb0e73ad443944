"""Asynchronous BTQL (`/btql/async`): run a query in the background, then read its rows in pages.

For exports and long queries (the `bt sql` CLI's async mode). A job compiles and runs the query
like `/btql`, following its cursor through every page when the query sets no `limit` (at most
`MAX_ROWS` rows). Status: queued → running → succeeded | failed | canceled. Only the org that
created a job can see it; another org gets the same 404 as for an unknown id.

Jobs live in the store, not in the process, so any replica of the query service answers for
any job (the chart runs two):

- `btql_async_jobs`: the job's state, written only by the process running it (a newer
  `_version` replaces the row), with a heartbeat after every page.
- `btql_async_rows`: the result rows as JSON text, numbered from 0.
- `btql_async_cancels`: cancel requests, from any replica; the runner checks between pages
  (and a local job is cancelled at once).

A running job whose heartbeat is older than `STALE_S` reads as failed: its process ended.
Jobs expire after `TTL_S` (404); the tables' TTL drops their rows later.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.errors import Busy, Invalid, NotFound, Unavailable
from loopline.common.store import Store, StoreError
from loopline.query.cursor import CursorError, decode_cursor, encode_cursor

from loopline import btql

MAX_ROWS = 100_000
MAX_LOCAL_JOBS = 256  # queued or running in this process
TTL_S = 3600.0
STALE_S = 120.0  # > the longest page (max_execution_time 30 s) plus the store's write time
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000
RUNNING_AT_ONCE = 2
ACTIVE = ("queued", "running")
# how many cancel requests job {j} of org {o} has (SQL, after SELECT)
_CANCELS = "count() FROM {db}.btql_async_cancels WHERE org_id = {o:String} AND job_id = {j:String}"

# a parsed query (with the cursor of its page) -> (rows, the next page's cursor or None)
RunPage = Callable[[btql.Query], Awaitable[tuple[list[dict[str, Any]], str | None]]]


@dataclass
class JobState:
    """What the store holds for a job (and what the status and result calls return)."""

    id: str
    org_id: str
    status: str = "queued"
    error: str | None = None
    project_id: str | None = None
    object_id: str | None = None
    row_count: int = 0
    warnings: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    heartbeat: float = field(default_factory=time.time)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.project_id is not None:
            out["project_id"] = self.project_id
        if self.object_id is not None:
            out["object_id"] = self.object_id
        if self.status == "succeeded":
            out["row_count"] = self.row_count
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
        raise Invalid("'cursor' is not a cursor of this result", field="cursor")
    return offset


def _ts(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _page_size(limit: Any) -> int:
    try:
        n = DEFAULT_PAGE if limit is None or limit == "" else int(limit)
    except ValueError:
        raise Invalid(f"'limit' must be an integer, got {limit!r}", field="limit") from None
    if not 1 <= n <= MAX_PAGE:
        raise Invalid(f"'limit' must be between 1 and {MAX_PAGE}", field="limit")
    return n


class AsyncQueries:
    """Async BTQL jobs, kept in the store; this process runs the ones submitted to it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = asyncio.Semaphore(RUNNING_AT_ONCE)
        self._versions = itertools.count(time.time_ns() // 1000)  # increasing per process

    # ------------------------------------------------------------------------------ writes
    async def _save(self, job: JobState) -> None:
        job.heartbeat = time.time()
        info = {
            "project_id": job.project_id,
            "object_id": job.object_id,
            "row_count": job.row_count,
            "warnings": job.warnings,
        }
        row = {
            "org_id": job.org_id,
            "id": job.id,
            "status": job.status,
            "error": job.error or "",
            "info": orjson.dumps(info).decode(),
            "created": _ts(job.created),
            "heartbeat": _ts(job.heartbeat),
            "_version": next(self._versions),
        }
        await self.store.insert_json("btql_async_jobs", [row], list(row))

    async def _save_rows(self, job: JobState, rows: list[dict[str, Any]], first: int) -> None:
        created = _ts(job.created)
        out = [
            {
                "org_id": job.org_id,
                "job_id": job.id,
                "seq": first + i,
                "row": orjson.dumps(r, default=str).decode(),
                "created": created,
            }
            for i, r in enumerate(rows)
        ]
        await self.store.insert_json("btql_async_rows", out, ["org_id", "job_id", "seq", "row", "created"])

    async def _cancel_requested(self, job: JobState) -> bool:
        _, rows = await self.store.query(
            self.store.sql(f"SELECT {_CANCELS}"),
            {"o": job.org_id, "j": job.id},
        )
        return bool(rows and rows[0][0])

    # ------------------------------------------------------------------------------ running
    async def submit(self, org_id: str, query: btql.Query, run_page: RunPage) -> JobState:
        active = sum(1 for t in self._tasks.values() if not t.done())
        if active >= MAX_LOCAL_JOBS:
            raise Busy(f"too many async queries are running here ({MAX_LOCAL_JOBS}); retry later")
        src = btql.source_of(query)
        job = JobState(uuid.uuid4().hex, org_id)
        if src.object_type == "project_logs":
            job.project_id = src.object_ids[0] if src.object_ids else None
        elif src.object_ids:
            job.object_id = src.object_ids[0]
        try:
            await self._save(job)
        except StoreError as exc:
            raise Unavailable(f"cannot record the async query: {str(exc)[:200]}") from None
        task = asyncio.create_task(self._run(job, query, run_page), name=f"btql-async-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(functools.partial(self._forget, job.id))
        return job

    def _forget(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)

    async def _run(self, job: JobState, query: btql.Query, run_page: RunPage) -> None:
        try:
            async with self._running:
                if await self._cancel_requested(job):
                    job.status = "canceled"
                    await self._save(job)
                    return
                job.status = "running"
                await self._save(job)
                await self._pages(job, query, run_page)
            await self._save(job)
        except asyncio.CancelledError:
            job.status = "canceled"
            await asyncio.shield(self._save_quietly(job))
            raise
        except StoreError as exc:
            job.status, job.error = "failed", f"RuntimeError: {str(exc)[:500]}"
            await self._save_quietly(job)

    async def _pages(self, job: JobState, query: btql.Query, run_page: RunPage) -> None:
        follow = query.limit is None  # an explicit limit asks for that many rows, not all
        cursor = query.cursor
        try:
            while True:
                rows, cursor = await run_page(dataclasses.replace(query, cursor=cursor))
                room = MAX_ROWS - job.row_count
                kept = rows[:room]
                await self._save_rows(job, kept, job.row_count)
                job.row_count += len(kept)
                cut = len(rows) > room or (cursor and follow and job.row_count >= MAX_ROWS)
                if cut:
                    job.warnings.append(f"the result was cut at {MAX_ROWS} rows")
                if cut or not (follow and cursor and rows):
                    break
                if await self._cancel_requested(job):
                    job.status = "canceled"
                    return
                await self._save(job)  # heartbeat
        except btql.BtqlError as exc:
            err = exc.to_json().get("error", {})
            job.status, job.error = "failed", f"{err.get('class', 'Error')}: {err.get('message', exc)}"
            return
        job.status = "succeeded"

    async def _save_quietly(self, job: JobState) -> None:
        # the store may be gone (shutdown): then the stale heartbeat reports the job failed
        with contextlib.suppress(StoreError, RuntimeError):
            await self._save(job)

    async def stop(self) -> None:
        """On shutdown: cancel the jobs still queued or running here (they are marked canceled)."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------------------ reads
    async def get(self, org_id: str, job_id: str) -> JobState:
        try:
            _, rows = await self.store.query(
                self.store.sql(
                    "SELECT status, error, info, toUnixTimestamp64Micro(created), "
                    "toUnixTimestamp64Micro(heartbeat), "
                    f"(SELECT {_CANCELS}) "
                    "FROM {db}.btql_async_jobs FINAL WHERE org_id = {o:String} AND id = {j:String}"
                ),
                {"o": org_id, "j": job_id},
            )
        except StoreError as exc:
            raise Unavailable(f"cannot read the async query: {str(exc)[:200]}") from None
        if not rows:
            raise NotFound(f"no async query {job_id!r}")
        status, error, info_text, created_us, heartbeat_us, cancels = rows[0]
        info = orjson.loads(info_text) if info_text else {}
        job = JobState(
            job_id,
            org_id,
            status=status,
            error=error or None,
            project_id=info.get("project_id"),
            object_id=info.get("object_id"),
            row_count=int(info.get("row_count") or 0),
            warnings=list(info.get("warnings") or []),
            created=created_us / 1e6,
            heartbeat=heartbeat_us / 1e6,
        )
        now = time.time()
        if now - job.created > TTL_S:
            raise NotFound(f"no async query {job_id!r}")
        if job.status in ACTIVE and cancels:
            job.status = "canceled"
        elif job.status in ACTIVE and now - job.heartbeat > STALE_S:
            job.status = "failed"
            job.error = "RuntimeError: the query stopped: the process running it ended before it finished"
        return job

    async def cancel(self, org_id: str, job_id: str) -> JobState:
        job = await self.get(org_id, job_id)
        if job.status not in ACTIVE:
            return job
        row = {"org_id": org_id, "job_id": job_id, "created": _ts(job.created)}
        try:
            await self.store.insert_json("btql_async_cancels", [row], list(row))
        except StoreError as exc:
            raise Unavailable(f"cannot cancel the async query: {str(exc)[:200]}") from None
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()  # running here: stop now (another replica's job stops after its page)
        job.status = "canceled"
        return job

    async def result(self, org_id: str, job_id: str, *, limit: Any, cursor: str | None) -> dict[str, Any]:
        job = await self.get(org_id, job_id)
        out: dict[str, Any] = {"status": job.status}
        if job.error is not None:
            out["error"] = job.error
        if job.status != "succeeded":
            out["rows"] = []
            return out
        n = _page_size(limit)
        start = _decode_cursor(cursor) if cursor else 0
        try:
            _, rows = await self.store.query(
                self.store.sql(
                    "SELECT row FROM {db}.btql_async_rows WHERE org_id = {o:String} AND job_id = {j:String} "
                    "AND seq >= {s:UInt32} AND seq < {e:UInt32} ORDER BY seq"
                ),
                {"o": org_id, "j": job_id, "s": start, "e": min(start + n, job.row_count)},
            )
        except StoreError as exc:
            raise Unavailable(f"cannot read the async query's rows: {str(exc)[:200]}") from None
        out["rows"] = [orjson.loads(r[0]) for r in rows]
        if start + n < job.row_count:
            out["cursor"] = _encode_cursor(start + n)
        if job.warnings:
            out["warnings"] = list(job.warnings)
        return out
