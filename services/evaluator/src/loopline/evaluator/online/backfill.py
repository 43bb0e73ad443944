""" "Score past logs": a rule applied to spans already logged, as a job (owner of `online_backfills`
and `online_backfill_cancels`).

A job walks the project's logs newest first within its time range (`since`..`until`), choosing
spans as the rule does (root / span names, trace scope: root spans; its BTQL filter; no scorer
spans; preview.py), at most `max_spans` of them, a page at a time. Each chosen span (or trace)
that has ended and that the rule never took before becomes an ordinary work item (work.py) marked
with the job's id, which the engine scores like live work: same dedupe record per (rule, target),
so a target is scored once whether live scoring or any number of jobs reach it; same retries, same
daily spend cap. The job keeps at most `MAX_IN_FLIGHT` of its items waiting, and writes its cursor
(the last span examined) after every page, so a job whose engine stopped is resumed where it was
by another engine (the job is leased like work items are). Cancelling writes a cancel row: the job
stops at its next step and its items not yet scored end `skipped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loopline.common.errors import Invalid, NotFound
from loopline.common.logging import get_logger
from loopline.common.store import Store
from loopline.evaluator.online import sampling
from loopline.evaluator.online.config import OnlineConfig
from loopline.evaluator.online.engine import OnlineEngine
from loopline.evaluator.online.preview import rule_selection, select_ids
from loopline.evaluator.online.rules import ProjectScore
from loopline.evaluator.online.spans import is_ended
from loopline.evaluator.online.work import PENDING, WorkItem

log = get_logger(__name__)
DEFAULT_MAX_SPANS = 50  # Braintrust scores the 50 most recent matching logs
MAX_SPANS = 10_000
PAGE = 200
MAX_IN_FLIGHT = 256  # of one job's items waiting to be scored
MAX_FAILURES = 3  # runs of one job that failed (the store) before it is recorded as failed
FINAL = ("done", "cancelled", "budget_exhausted", "failed")
COLUMNS = [
    "org_id",
    "project_id",
    "rule_id",
    "id",
    "state",
    "since",
    "until",
    "max_spans",
    "respect_sampling",
    "cursor_created",
    "cursor_id",
    "examined",
    "enqueued",
    "already",
    "unfinished",
    "unsampled",
    "error",
    "owner",
    "lease_until",
    "user_id",
    "created",
    "updated_at",
    "_version",
]
_COUNTS = ("examined", "enqueued", "already", "unfinished", "unsampled")


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _ts(v: datetime) -> float:
    return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()


def _iso(t: float | None) -> str | None:
    return None if t is None else _dt(t).isoformat().replace("+00:00", "Z")


@dataclass
class Job:
    org_id: str
    project_id: str
    rule_id: str
    id: str
    since: float | None
    until: float | None
    max_spans: int
    respect_sampling: bool
    user_id: str = ""
    state: str = "running"
    cursor_created: str = ""
    cursor_id: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))
    error: str = ""
    owner: str = ""
    lease_until: float = 0.0
    created: float = field(default_factory=time.time)

    def row(self) -> list[Any]:
        return [
            self.org_id,
            self.project_id,
            self.rule_id,
            self.id,
            self.state,
            None if self.since is None else _dt(self.since),
            None if self.until is None else _dt(self.until),
            self.max_spans,
            int(self.respect_sampling),
            self.cursor_created,
            self.cursor_id,
            *(self.counts[k] for k in _COUNTS),
            self.error[:4000],
            self.owner,
            _dt(self.lease_until),
            self.user_id,
            _dt(self.created),
            _dt(time.time()),
            time.time_ns(),
        ]

    def public(self, items: Mapping[str, int] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "project_score_id": self.rule_id,
            "project_id": self.project_id,
            "state": self.state,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "max_spans": self.max_spans,
            "respect_sampling": self.respect_sampling,
            "created": _iso(self.created),
            "error": self.error or None,
            "progress": {
                "examined": self.counts["examined"],  # spans looked at (at most max_spans)
                "queued": self.counts["enqueued"],  # new work items for the rule
                "already_taken": self.counts["already"],  # the rule had taken them before
                "not_finished": self.counts["unfinished"],  # spans (traces) still open
                "not_sampled": self.counts["unsampled"],  # out of the rule's sample
            },
        }
        if items is not None:
            out["items"] = {k: int(items.get(k, 0)) for k in ("pending", "done", "error", "skipped")}
        return out


def _job(r: Mapping[str, Any]) -> Job:
    return Job(
        org_id=r["org_id"],
        project_id=r["project_id"],
        rule_id=r["rule_id"],
        id=r["id"],
        since=None if r["since"] is None else _ts(r["since"]),
        until=None if r["until"] is None else _ts(r["until"]),
        max_spans=int(r["max_spans"]),
        respect_sampling=bool(r["respect_sampling"]),
        user_id=r["user_id"],
        state=r["state"],
        cursor_created=r["cursor_created"],
        cursor_id=r["cursor_id"],
        counts={k: int(r[k]) for k in _COUNTS},
        error=r["error"],
        owner=r["owner"],
        lease_until=_ts(r["lease_until"]),
        created=_ts(r["created"]),
    )


def _when(v: Any, where: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            d = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return _ts(d)
    raise Invalid(f"{where} must be an ISO 8601 time or unix seconds", field=where)


def parse_request(body: Mapping[str, Any]) -> tuple[float | None, float | None, int, bool]:
    """(since, until, max_spans, respect_sampling) of a backfill request."""
    since, until = _when(body.get("since"), "since"), _when(body.get("until"), "until")
    if since is not None and until is not None and since >= until:
        raise Invalid("since must be before until", field="since")
    n = body.get("max_spans", DEFAULT_MAX_SPANS)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SPANS:
        raise Invalid(f"max_spans must be a whole number from 1 to {MAX_SPANS}", field="max_spans")
    rs = body.get("respect_sampling", False)
    if not isinstance(rs, bool):
        raise Invalid("respect_sampling must be true or false", field="respect_sampling")
    return since, until, n, rs


class Backfills:
    """Backfill jobs: stored, run, resumed and cancelled (by the engine's process)."""

    def __init__(self, store: Store, engine: OnlineEngine) -> None:
        self.store = store
        self.engine = engine
        self.running: dict[str, asyncio.Task[None]] = {}
        self.jobs: dict[str, Job] = {}  # the jobs this engine runs
        self._loop: asyncio.Task[None] | None = None
        self._cancel_cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._failures: dict[str, int] = {}
        engine.cancelled = self.cancelled

    # -- store ---------------------------------------------------------------------------------

    async def save(self, job: Job, *, release: bool = False) -> None:
        job.owner = self.engine.work.owner
        held = job.state not in FINAL and not release
        job.lease_until = time.time() + self.engine.work.lease_s if held else 0.0
        await self.store.insert("online_backfills", [job.row()], COLUMNS)

    async def _select(self, where: str, params: dict[str, Any]) -> list[Job]:
        rows = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {', '.join(COLUMNS[:-2])} FROM {{db}}.online_backfills FINAL WHERE {where} "
                "ORDER BY created DESC, id"
            ),
            params,
        )
        return [_job(r) for r in rows]

    async def get(self, org_id: str, rule_id: str, job_id: str) -> Job:
        found = await self._select(
            "org_id = {o:String} AND id = {i:String} AND rule_id = {r:String}",
            {"o": org_id, "i": job_id, "r": rule_id},
        )
        if not found:
            raise NotFound(f"no backfill {job_id!r} of this rule", field="backfill_id")
        return found[0]

    async def for_rule(self, org_id: str, rule_id: str) -> list[Job]:
        return await self._select("org_id = {o:String} AND rule_id = {r:String}", {"o": org_id, "r": rule_id})

    async def status(self, job: Job) -> dict[str, Any]:
        return job.public(await self.engine.work.by_source(job.org_id, job.rule_id, job.id))

    async def cancel(self, job: Job) -> None:
        await self.store.insert(
            "online_backfill_cancels", [[job.org_id, job.id, _dt(time.time())]], ["org_id", "id", "at"]
        )
        self._cancel_cache.pop((job.org_id, job.id), None)

    async def cancelled(self, org_id: str, job_id: str) -> bool:
        """The job was cancelled (asked once a second per job at most)."""
        key = (org_id, job_id)
        hit = self._cancel_cache.get(key)
        if hit is not None and (hit[1] or time.monotonic() - hit[0] < 1.0):
            return hit[1]
        _, rows = await self.store.query(
            self.store.sql(
                "SELECT count() FROM {db}.online_backfill_cancels WHERE org_id = {o:String} AND id = {i:String}"
            ),
            {"o": org_id, "i": job_id},
        )
        gone = bool(rows and int(rows[0][0]))
        if len(self._cancel_cache) > 10_000:
            self._cancel_cache.clear()
        self._cancel_cache[key] = (time.monotonic(), gone)
        return gone

    # -- running -------------------------------------------------------------------------------

    async def create(self, rule: ProjectScore, body: Mapping[str, Any], user_id: str) -> Job:
        if rule.online is None:
            raise Invalid(f"project score {rule.id!r} is not an online rule", field="project_score_id")
        if rule.online.scope == "group":
            raise Invalid(
                "score past logs is not supported for group-scope rules", field="config.online.scope.type"
            )
        if not rule.online.active:
            raise Invalid("the rule is paused: resume it to score past logs", field="config.online.status")
        since, until, n, rs = parse_request(body)
        job = Job(rule.org_id, rule.project_id, rule.id, str(uuid.uuid4()), since, until, n, rs, user_id)
        await self.save(job)
        self.start(job)
        return job

    def start(self, job: Job) -> None:
        if job.id not in self.running:
            task = asyncio.create_task(self._guarded(job), name=f"online-backfill-{job.id}")
            self.running[job.id] = task
            self.jobs[job.id] = job

            def gone(_: asyncio.Task[None]) -> None:
                self.running.pop(job.id, None)
                self.jobs.pop(job.id, None)

            task.add_done_callback(gone)

    async def _guarded(self, job: Job) -> None:
        try:
            await self.run(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store: the lease lapses and an engine resumes the job
            n = self._failures[job.id] = self._failures.get(job.id, 0) + 1
            log.warning("online_backfill_failed", job=job.id, error=str(exc), attempt=n)
            if n >= MAX_FAILURES:  # not a passing outage: the job ends with the reason
                job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):
                    await self.save(job)

    async def run(self, job: Job) -> None:
        eng = self.engine
        rule = await eng.rules.cached_rule(job.org_id, job.rule_id)
        if rule is None or rule.online is None:
            job.state, job.error = "failed", "the rule was deleted"
            await self.save(job)
            return
        cfg = rule.online
        while job.counts["examined"] < job.max_spans:
            if await self._stopped(job, cfg):
                return
            if sum(1 for i in eng.pending.values() if i.source == job.id) >= MAX_IN_FLIGHT:
                await asyncio.sleep(eng.settings.tick_s * 5)
                continue
            room = min(PAGE, job.max_spans - job.counts["examined"])
            ids = await select_ids(
                eng.spans.store,
                job.org_id,
                job.project_id,
                rule_selection(cfg),
                room,
                since=job.since,
                until=job.until,
                before=(job.cursor_created, job.cursor_id) if job.cursor_id else None,
            )
            if not ids:
                break
            await self._page(job, cfg, ids)
            await self.save(job)
        # every queued item scored (or skipped) before the job is done
        while (await eng.work.by_source(job.org_id, job.rule_id, job.id)).get(PENDING, 0):
            if await self._stopped(job, cfg):
                return
            await asyncio.sleep(max(0.1, eng.settings.tick_s * 5))
            if job.lease_until - time.time() < eng.work.lease_s / 2:
                await self.save(job)
        job.state = "done"
        await self.save(job)

    async def _stopped(self, job: Job, cfg: OnlineConfig) -> bool:
        """Cancelled, or the rule's spend cap reached: the job ends (saved) and its waiting items
        are skipped."""
        eng = self.engine
        reason = ""
        if await self.cancelled(job.org_id, job.id):
            job.state, reason = "cancelled", "the backfill was cancelled"
        elif (
            cfg.daily_spend_cap_usd is not None
            and await eng.work.spent_today(job.org_id, job.rule_id) >= cfg.daily_spend_cap_usd
        ):
            job.state = "budget_exhausted"
            job.error = reason = (
                f"the rule's daily spend cap (${cfg.daily_spend_cap_usd:g}) is reached for today"
            )
        if not reason:
            return False
        for item in [i for i in eng.pending.values() if i.source == job.id and i.key not in eng.running]:
            await eng.finish(item, "skipped", reason)
        await self.save(job)
        return True

    async def _page(self, job: Job, cfg: OnlineConfig, ids: list[str]) -> None:
        eng = self.engine
        rows = await eng.spans.by_id(job.org_id, job.project_id, "project_logs", "g", ids)
        chosen: dict[str, dict[str, Any]] = {}
        for i in ids:
            row = rows.get(i)
            job.counts["examined"] += 1
            if row is None:
                continue
            job.cursor_created, job.cursor_id = str(row.get("created") or ""), i
            root = str(row.get("root_span_id") or i)
            target = root if cfg.scope == "trace" else i
            if job.respect_sampling and not sampling.sampled(root, cfg.sampling_rate):
                job.counts["unsampled"] += 1
            elif not (is_ended(row) if cfg.scope == "span" else _has_end(row)):
                job.counts["unfinished"] += 1
            else:
                chosen[target] = row
        known = await eng.work.existing(job.org_id, job.rule_id, list(chosen))
        now = time.time()
        items = []
        for target, row in chosen.items():
            if target in known or (job.org_id, job.rule_id, target) in eng.pending:
                job.counts["already"] += 1
                continue
            item = WorkItem(
                job.org_id,
                job.project_id,
                "project_logs",
                "g",
                job.rule_id,
                target,
                str(row.get("root_span_id") or target),
                cfg.scope,
                committed_at=now - (cfg.idle_seconds if cfg.scope == "trace" else 0.0),
                due_at=0.0,
                source=job.id,
            )
            if cfg.scope == "span":
                item.span_row = row
            items.append(item)
        if items:
            await eng.work.save(items)
            for item in items:
                eng.pending[item.key] = item
            eng.wake()
        job.counts["enqueued"] += len(items)

    # -- resuming ------------------------------------------------------------------------------

    async def claim(self) -> int:
        """Resume running jobs whose engine is gone (lease expired): exactly one engine wins each."""
        expired = await self._select(
            "state = 'running' AND lease_until < {now:DateTime64(6, 'UTC')}", {"now": _dt(time.time())}
        )
        expired = [j for j in expired if j.id not in self.running]
        if not expired:
            return 0
        for j in expired:
            await self.save(j)
        await asyncio.sleep(self.engine.work.settle_s)
        won = 0
        for j in expired:
            now = await self.get(j.org_id, j.rule_id, j.id)
            if now.state == "running" and now.owner == self.engine.work.owner:
                self.start(now)
                won += 1
        if won:
            log.info("online_backfills_resumed", jobs=won)
        return won

    async def _keep(self) -> None:
        while True:
            try:
                await self.claim()
            except Exception as exc:
                log.warning("online_backfill_claim_failed", error=str(exc))
            await asyncio.sleep(max(0.05, self.engine.work.lease_s / 3))

    async def start_loop(self) -> None:
        self._loop = asyncio.create_task(self._keep(), name="online-backfills")

    async def stop(self) -> None:
        jobs = [j for j in self.jobs.values() if j.state not in FINAL]
        tasks = [t for t in (self._loop, *self.running.values()) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for j in jobs:  # still running: released, so another engine resumes them at once
            with contextlib.suppress(Exception):
                await self.save(j, release=True)


def _has_end(row: Mapping[str, Any]) -> bool:
    metrics = row.get("metrics")
    return isinstance(metrics, Mapping) and metrics.get("end") is not None
