"""Eval jobs' status, progress and lease (owner of `eval_jobs`, `eval_job_cancels`).

A job row is written whole each time (ReplacingMergeTree, latest `_version` wins): `queued` by
the launch, then by the worker running it (`running` with its progress and heartbeat, at last
`succeeded` / `failed` / `cancelled`). A cancellation is a row of `eval_job_cancels`, which
only the API writes, so no progress write can undo it. Every read is scoped by the org.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from loopline.common.store import Store

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
#: cell errors kept on the job row (the rows themselves carry every error)
MAX_ERRORS = 20

COLUMNS = (
    "org_id",
    "id",
    "project_id",
    "experiment_id",
    "experiment_name",
    "status",
    "total",
    "done",
    "errored",
    "errors",
    "error",
    "job",
    "owner",
    "heartbeat",
    "created",
    "started",
    "finished",
    "requested_by",
    "_version",
)


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JobRecord:
    org_id: str
    id: str
    project_id: str
    experiment_id: str
    experiment_name: str
    status: Status
    job: str  # the EvalJob's JSON, as published
    created: datetime
    total: int = 0
    done: int = 0
    errored: int = 0
    errors: tuple[str, ...] = ()
    error: str = ""
    owner: str = ""
    heartbeat: datetime = field(default_factory=now)
    started: datetime | None = None
    finished: datetime | None = None
    requested_by: str = ""
    cancel_requested: bool = False  # read from `eval_job_cancels`, never written here

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def public(self) -> dict[str, Any]:
        """The job object of `GET /v1/eval/{id}`."""
        return {
            "id": self.id,
            "object_type": "eval_job",
            "project_id": self.project_id,
            "experiment_id": self.experiment_id,
            "experiment_name": self.experiment_name,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "errored": self.errored,
            "errors": list(self.errors),
            "error": self.error or None,
            "cancel_requested": self.cancel_requested,
            "created": _iso(self.created),
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "user_id": self.requested_by or None,
        }

    def row(self, version: int) -> list[Any]:
        return [
            self.org_id,
            self.id,
            self.project_id,
            self.experiment_id,
            self.experiment_name,
            self.status,
            self.total,
            self.done,
            self.errored,
            orjson.dumps(list(self.errors)).decode(),
            self.error,
            self.job,
            self.owner,
            self.heartbeat,
            self.created,
            self.started,
            self.finished,
            self.requested_by,
            version,
        ]

    @staticmethod
    def from_columns(r: dict[str, Any], cancelled: bool = False) -> JobRecord:
        try:
            errors = tuple(str(e) for e in orjson.loads(r["errors"] or "[]"))
        except orjson.JSONDecodeError:
            errors = ()
        return JobRecord(
            org_id=r["org_id"],
            id=r["id"],
            project_id=r["project_id"],
            experiment_id=r["experiment_id"],
            experiment_name=r["experiment_name"],
            status=r["status"],
            job=r["job"],
            created=_utc(r["created"]) or now(),
            total=int(r["total"]),
            done=int(r["done"]),
            errored=int(r["errored"]),
            errors=errors,
            error=r["error"],
            owner=r["owner"],
            heartbeat=_utc(r["heartbeat"]) or now(),
            started=_utc(r["started"]),
            finished=_utc(r["finished"]),
            requested_by=r["requested_by"],
            cancel_requested=cancelled,
        )


class _Versions:
    """Strictly increasing versions from this process (wall-clock nanoseconds, never repeated)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        v = max(time.time_ns(), self._last + 1)
        self._last = v
        return v


class JobStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._versions = _Versions()

    async def save(self, rec: JobRecord) -> None:
        await self.store.insert("eval_jobs", [rec.row(self._versions.next())], COLUMNS)

    async def get(self, org_id: str, job_id: str) -> JobRecord | None:
        rows = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {', '.join(COLUMNS)}, (SELECT count() FROM {{db}}.eval_job_cancels "
                "WHERE org_id = {o:String} AND id = {i:String}) AS cancelled "
                "FROM {db}.eval_jobs FINAL WHERE org_id = {o:String} AND id = {i:String}"
            ),
            {"o": org_id, "i": job_id},
        )
        if not rows:
            return None
        return JobRecord.from_columns(rows[0], bool(rows[0]["cancelled"]))

    async def list(
        self, org_id: str, *, project_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        where = ["org_id = {o:String}"]
        params: dict[str, Any] = {"o": org_id, "n": limit}
        if project_id:
            where.append("project_id = {p:String}")
            params["p"] = project_id
        if status:
            where.append("status = {s:String}")
            params["s"] = status
        rows = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {', '.join(COLUMNS)}, id IN (SELECT id FROM {{db}}.eval_job_cancels "
                "WHERE org_id = {o:String}) AS cancelled "
                f"FROM {{db}}.eval_jobs FINAL WHERE {' AND '.join(where)} "
                "ORDER BY created DESC, id LIMIT {n:UInt32}"
            ),
            params,
        )
        return [JobRecord.from_columns(r, bool(r["cancelled"])) for r in rows]

    async def request_cancel(self, org_id: str, job_id: str, by: str) -> None:
        await self.store.insert(
            "eval_job_cancels", [[org_id, job_id, now(), by]], ("org_id", "id", "requested", "requested_by")
        )

    async def cancel_requested(self, org_id: str, job_id: str) -> bool:
        _, rows = await self.store.query(
            self.store.sql(
                "SELECT count() FROM {db}.eval_job_cancels WHERE org_id = {o:String} AND id = {i:String}"
            ),
            {"o": org_id, "i": job_id},
        )
        return bool(rows and rows[0][0])


def with_progress(rec: JobRecord, **changes: Any) -> JobRecord:
    """`rec` with `changes` and a fresh heartbeat."""
    return replace(rec, heartbeat=now(), **changes)
