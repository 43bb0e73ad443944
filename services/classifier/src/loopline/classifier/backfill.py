"""Backfill: label a project's existing root spans over a time range with one classifier version.

A job (`classifier_backfills`, one row per progress update, the newest wins) names the classifier
and the version that was current when it was created, and a range of span `created` times. A
runner in every classifier process takes jobs and works through them page by page:

- **bounded memory**: one page (`backfill_page_size` root spans, keyset-ordered by `(created,
  id)`) is read, classified, published and forgotten before the next;
- **resumable**: after each page its progress and cursor are written, with a heartbeat; a job
  whose owner fell silent for `backfill_lease_s` (a stopped or crashed process) is taken over by
  any runner from its cursor, in this process after a restart too;
- **exactly once**: labels are ordinary merge rows, written only where the span lacks this
  version's label and has no human label (`labels.should_write`). A page a previous owner
  published but did not record is read again only after the writer committed everything
  acknowledged (`wait_for_writer`), so its spans are then seen labelled and skipped; a second
  job over the same range labels nothing;
- **cancel**: a request is a row of its own (`classifier_backfill_cancels`), so a progress
  update racing with it cannot undo it; the runner stops at the next page.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from loopline.classifier.classify import BatchResult, HeadCache, classify_rows
from loopline.classifier.llm import LlmFallback
from loopline.classifier.pipeline import PROJECT_LOGS
from loopline.classifier.settings import ClassifierSettings
from loopline.classifier.taxonomy import Classifier, TaxonomyStore
from loopline.common import stored_row
from loopline.common.errors import Invalid, NotFound
from loopline.common.logging import get_logger
from loopline.common.object_types import stored_object_id
from loopline.common.store import Store

log = get_logger(__name__)

JobState = Literal["queued", "running", "done", "cancelled", "failed"]
ACTIVE: tuple[JobState, ...] = ("queued", "running")
MAX_RANGE = timedelta(days=3660)
COLUMNS = [
    "org_id",
    "project_id",
    "id",
    "classifier_id",
    "version",
    "facet",
    "since",
    "until",
    "state",
    "cursor",
    "total",
    "scanned",
    "labelled",
    "unchanged",
    "no_text",
    "error",
    "owner",
    "heartbeat",
    "created",
    "updated",
    "created_by",
    "_version",
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _iso(dt: datetime) -> str:
    return _utc(dt).isoformat().replace("+00:00", "Z")


def _ch(dt: datetime) -> str:
    """A DateTime64(6) literal for `toDateTime64({x:String}, 6, 'UTC')`."""
    return _utc(dt).strftime("%Y-%m-%d %H:%M:%S.%f")


def _now() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


def parse_time(value: Any, field: str) -> datetime | None:
    """An ISO-8601 time (a `Z` or an offset; none means UTC), or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid("must be an ISO-8601 time such as 2026-12-01T00:00:00Z", field=field)
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise Invalid(
            f"{value!r} is not an ISO-8601 time such as 2026-12-01T00:00:00Z", field=field
        ) from None


@dataclass(frozen=True)
class BackfillJob:
    org_id: str
    project_id: str
    id: str
    classifier_id: str
    version: int
    facet: str
    since: datetime
    until: datetime
    state: JobState
    cursor: str = ""
    total: int = 0
    scanned: int = 0
    labelled: int = 0
    unchanged: int = 0
    no_text: int = 0
    error: str = ""
    owner: str = ""
    heartbeat: datetime = EPOCH
    created: datetime = EPOCH
    updated: datetime = EPOCH
    created_by: str = ""

    @property
    def finished(self) -> bool:
        return self.state not in ACTIVE

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "classifier_id": self.classifier_id,
            "version": self.version,
            "facet": self.facet,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "state": self.state,
            "total": self.total,
            "scanned": self.scanned,
            "labelled": self.labelled,
            "unchanged": self.unchanged,
            "no_text": self.no_text,
            "progress": 1.0
            if self.state == "done"
            else round(min(self.scanned / self.total, 1.0), 4)
            if self.total
            else 0.0,
            "error": self.error or None,
            "created": _iso(self.created),
            "updated": _iso(self.updated),
            "created_by": self.created_by or None,
        }


class BackfillStore:
    """Owner of `classifier_backfills` and `classifier_backfill_cancels`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def write(self, job: BackfillJob) -> BackfillJob:
        job = replace(job, updated=_now())
        d = asdict(job)
        row = [
            *(_utc(d[c]) if isinstance(d[c], datetime) else d[c] for c in COLUMNS[:-1]),
            time.time_ns(),
        ]
        await self.store.insert("classifier_backfills", [row], COLUMNS)
        return job

    async def _select(self, where: str, **params: Any) -> list[BackfillJob]:
        rows = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {', '.join(COLUMNS[:-1])}, "
                "(org_id, id) IN (SELECT org_id, id FROM {db}.classifier_backfill_cancels) "
                "AS cancel_requested "
                f"FROM {{db}}.classifier_backfills FINAL WHERE {where} ORDER BY created DESC, id"
            ),
            params,
        )
        out = []
        for r in rows:
            cancel = bool(r.pop("cancel_requested"))
            for k in ("since", "until", "heartbeat", "created", "updated"):
                r[k] = _utc(r[k])
            r["version"], r["total"] = int(r["version"]), int(r["total"])
            for k in ("scanned", "labelled", "unchanged", "no_text"):
                r[k] = int(r[k])
            job = BackfillJob(**r)
            if cancel and not job.finished:
                job = replace(job, state="cancelled")  # the runner stops at its next page
            out.append(job)
        return out

    async def get(self, org_id: str, project_id: str, job_id: str) -> BackfillJob:
        found = await self._select(
            "org_id = {o:String} AND project_id = {p:String} AND id = {i:String}",
            o=org_id,
            p=project_id,
            i=job_id,
        )
        if not found:
            raise NotFound(f"no backfill job {job_id!r} in this project", field="job_id")
        return found[0]

    async def list(
        self, org_id: str, project_id: str, classifier_id: str | None = None, limit: int = 50
    ) -> list[BackfillJob]:
        where = "org_id = {o:String} AND project_id = {p:String}"
        if classifier_id is not None:
            where += " AND classifier_id = {c:String}"
        found = await self._select(where, o=org_id, p=project_id, c=classifier_id or "")
        return found[:limit]

    async def claimable(self, owner: str, lease_s: float) -> Sequence[BackfillJob]:
        """Active jobs this owner may run: its own, unowned ones, and ones whose owner is silent."""
        stale = _now() - timedelta(seconds=lease_s)
        found = await self._select(
            "state IN ('queued', 'running') AND (owner IN ('', {me:String}) OR "
            "heartbeat < toDateTime64({stale:String}, 6, 'UTC'))",
            me=owner,
            stale=_ch(stale),
        )
        return sorted(found, key=lambda j: j.created)

    async def request_cancel(self, job: BackfillJob) -> None:
        await self.store.insert(
            "classifier_backfill_cancels",
            [[job.org_id, job.project_id, job.id, _now()]],
            ["org_id", "project_id", "id", "created"],
        )


class RootSpans:
    """Root spans of a project's logs in a `created` range, in pages ordered by `(created, id)`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _where(self, cursor: str) -> str:
        where = (
            "org_id = {o:String} AND project_id = {p:String} AND object_type = {t:String} "
            "AND object_id = {i:String} AND is_root AND NOT _is_deleted "
            "AND created >= toDateTime64({since:String}, 6, 'UTC') "
            "AND created < toDateTime64({until:String}, 6, 'UTC')"
        )
        if cursor:
            where += " AND (created, id) > (toDateTime64({cc:String}, 6, 'UTC'), {ci:String})"
        return where

    def _params(self, job: BackfillJob, cursor: str) -> dict[str, Any]:
        cc, _, ci = cursor.partition("|")
        return {
            "o": job.org_id,
            "p": job.project_id,
            "t": PROJECT_LOGS,
            "i": stored_object_id(PROJECT_LOGS, job.project_id),
            "since": _ch(job.since),
            "until": _ch(job.until),
            "cc": cc,
            "ci": ci,
        }

    async def count(self, job: BackfillJob) -> int:
        rows = await self.store.query_dicts(
            self.store.sql(f"SELECT count() AS n FROM {{db}}.spans FINAL WHERE {self._where('')}"),
            self._params(job, ""),
        )
        return int(rows[0]["n"]) if rows else 0

    async def page(self, job: BackfillJob, cursor: str, limit: int) -> tuple[list[dict[str, Any]], str]:
        """The next page after `cursor` and the cursor after it (the same one when it is empty)."""
        found = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {', '.join(stored_row.READ_COLUMNS)} FROM {{db}}.spans FINAL "
                f"WHERE {self._where(cursor)} ORDER BY created, id LIMIT {int(limit)}"
            ),
            self._params(job, cursor),
        )
        if not found:
            return [], cursor
        last = found[-1]
        return [stored_row.to_read_row(r) for r in found], f"{_ch(last['created'])}|{last['id']}"


Publish = Callable[[str, str, str, Sequence[dict[str, Any]]], Awaitable[None]]


class BackfillRunner:
    """Takes and runs backfill jobs in this process (see the module doc)."""

    def __init__(
        self,
        jobs: BackfillStore,
        spans: RootSpans,
        taxonomies: TaxonomyStore,
        heads: Callable[[], HeadCache],
        publish: Publish,
        settings: ClassifierSettings,
        wait_for_writer: Callable[[], Awaitable[None]],
        llm: LlmFallback | None = None,
    ) -> None:
        self.jobs = jobs
        self.spans = spans
        self.taxonomies = taxonomies
        self.heads = heads
        self.publish = publish
        self.settings = settings
        self.wait_for_writer = wait_for_writer
        self.llm = llm
        self.owner = f"runner-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._cancelled: set[str] = set()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None

    # -- API side ------------------------------------------------------------------------------
    async def create(
        self,
        classifier: Classifier,
        since: datetime | None,
        until: datetime | None,
        user_id: str = "",
    ) -> BackfillJob:
        if not classifier.taxonomy.labels:
            raise Invalid("this classifier has no labels yet: there is nothing to label with", field="labels")
        now = _now()
        until = until or now
        since = since or (until - timedelta(days=30))
        if since >= until:
            raise Invalid("since must be before until", field="since")
        if until - since > MAX_RANGE:
            raise Invalid("a backfill covers at most 10 years", field="since")
        job = BackfillJob(
            org_id=classifier.org_id,
            project_id=classifier.project_id,
            id=str(uuid.uuid4()),
            classifier_id=classifier.id,
            version=classifier.version,
            facet=classifier.taxonomy.facet,
            since=since,
            until=until,
            state="queued",
            created=now,
            created_by=user_id,
        )
        job = await self.jobs.write(job)  # the runner counts its spans (a large range takes a while)
        self._wake.set()
        return job

    async def cancel(self, job: BackfillJob) -> BackfillJob:
        if job.finished:
            return job
        await self.jobs.request_cancel(job)
        self._cancelled.add(job.id)
        return replace(job, state="cancelled")

    # -- the runner ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run_loop(), name="classifier-backfill")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop, *self._running.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._loop = None
        self._running.clear()

    async def _run_loop(self) -> None:
        while True:
            try:
                await self._take_jobs()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down: try again at the next poll
                log.warning("classifier_backfill_poll_failed", error=str(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.backfill_poll_s)

    async def _take_jobs(self) -> None:
        for job in await self.jobs.claimable(self.owner, self.settings.backfill_lease_s):
            if len(self._running) >= self.settings.backfill_concurrency:
                return
            if job.id in self._running:
                continue
            task = asyncio.get_running_loop().create_task(self._run_job(job), name=f"backfill-{job.id}")
            self._running[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()  # room for the next job

    async def _run_job(self, job: BackfillJob) -> None:
        try:
            await self.run(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # transient (store, bus): left running, retried after the lease
            log.warning("classifier_backfill_interrupted", job_id=job.id, error=str(exc))

    async def run(self, job: BackfillJob) -> BackfillJob:
        """Work a job to its end (done, cancelled or failed) from its cursor."""
        try:
            classifier = await self.taxonomies.get(job.org_id, job.project_id, job.classifier_id, job.version)
        except NotFound as exc:
            return await self.jobs.write(replace(job, state="failed", error=exc.message, owner=self.owner))
        job = replace(job, state="running", owner=self.owner, heartbeat=_now())
        if not job.cursor and not job.total:
            job = replace(job, total=await self.spans.count(job))
        job = await self.jobs.write(job)
        if job.cursor:
            # a previous owner may have published the labels of a page it did not record
            await self.wait_for_writer()
        log.info("classifier_backfill_started", job_id=job.id, cursor=job.cursor, total=job.total)
        while True:
            if job.id in self._cancelled or await self._cancel_requested(job):
                self._cancelled.discard(job.id)
                return await self.jobs.write(replace(job, state="cancelled", heartbeat=_now()))
            rows, cursor = await self.spans.page(job, job.cursor, self.settings.backfill_page_size)
            if not rows:
                done = replace(job, state="done", heartbeat=_now(), total=max(job.total, job.scanned))
                log.info("classifier_backfill_done", job_id=job.id, labelled=job.labelled)
                return await self.jobs.write(done)
            result = await self._classify(job.org_id, rows, classifier)
            if result.writes:
                await self.publish(
                    job.org_id,
                    job.project_id,
                    stored_object_id(PROJECT_LOGS, job.project_id),
                    result.writes,
                )
            job = await self.jobs.write(
                replace(
                    job,
                    cursor=cursor,
                    scanned=job.scanned + len(rows),
                    labelled=job.labelled + len(result.writes),
                    unchanged=job.unchanged + result.unchanged,
                    no_text=job.no_text + result.no_text,
                    heartbeat=_now(),
                )
            )

    async def _classify(self, org_id: str, rows: list[dict[str, Any]], classifier: Classifier) -> BatchResult:
        heads = await asyncio.to_thread(self.heads)
        s = self.settings
        result = await asyncio.to_thread(
            classify_rows, rows, [classifier], heads, s.fast_threshold, s.max_text_chars
        )
        if self.llm is not None:
            await self.llm.apply(org_id, result, [classifier])
        return result

    async def _cancel_requested(self, job: BackfillJob) -> bool:
        current = await self.jobs.get(job.org_id, job.project_id, job.id)
        return current.state == "cancelled"
