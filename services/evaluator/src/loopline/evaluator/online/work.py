"""Scoring work and counters, persisted (owner of `online_work` and `online_counters`).

A `WorkItem` is one (rule, scored span or trace). It is written `pending` before the consumer's
offsets are committed, so a restart finds it again; it ends `done`, `error` or `skipped`, and that
final row is the dedupe record: a target with a final row is never scored again by that rule,
whatever is redelivered. `results` holds each scorer's outcome, so a retry runs only the scorers
that did not finish.

Pending work is leased: every item row carries its `owner` (one id per engine) and `lease_until`.
Whoever writes a pending item owns it for `lease_s`, renews the lease while it holds the item, and
releases it (lease 0) when it stops. Another engine takes a pending item only once its lease has
expired (`claim`): it writes itself as owner, waits `settle_s` (so every concurrent claim is
visible), reads the item back and keeps it only if its own claim is the one the table kept
(ReplacingMergeTree: the latest version). Of several engines over one store, exactly one scores an
item.

Counters are per rule and UTC day, added in memory and written as deltas (SummingMergeTree).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from loopline.common.store import Store

PENDING = "pending"
FINAL = ("done", "error", "skipped")
WORK_COLUMNS = [
    "org_id",
    "project_id",
    "object_type",
    "object_id",
    "rule_id",
    "target_id",
    "root_span_id",
    "scope",
    "state",
    "attempts",
    "committed_at",
    "due_at",
    "results",
    "error",
    "cost",
    "updated_at",
    "_version",
    "owner",
    "lease_until",
    "source",
]
READ_COLUMNS = [c for c in WORK_COLUMNS if c not in ("updated_at", "_version")]
_SELECT = f"SELECT {', '.join(READ_COLUMNS)} FROM {{db}}.online_work FINAL "
# counter names (status endpoint): scored targets, targets skipped by sampling / the filter /
# the spend cap, final errors, transient failures retried, scorer cost in USD
COUNTERS = ("scored", "skipped_sampling", "skipped_filter", "skipped_budget", "errors", "retries", "cost_usd")


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _ts(v: datetime) -> float:
    return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()


def today() -> date:
    return datetime.now(UTC).date()


@dataclass
class WorkItem:
    org_id: str
    project_id: str
    object_type: str
    object_id: str
    rule_id: str
    target_id: str  # the scored span's row id (span scope) or the root span id (trace scope)
    root_span_id: str
    scope: str
    committed_at: float  # unix s: when the row (span) or the trace's latest row was committed
    due_at: float
    state: str = PENDING
    attempts: int = 0
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""
    cost: float = 0.0
    owner: str = ""  # the engine that holds the item while it is pending
    lease_until: float = 0.0  # unix s; after it, another engine may take the pending item
    source: str = ""  # '' live scoring, else the id of the backfill job that queued it
    # the span as the consumer read it (span scope; in memory only, read again after a restart)
    span_row: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.org_id, self.rule_id, self.target_id)

    def row(self) -> list[Any]:
        now = time.time()
        return [
            self.org_id,
            self.project_id,
            self.object_type,
            self.object_id,
            self.rule_id,
            self.target_id,
            self.root_span_id,
            self.scope,
            self.state,
            self.attempts,
            _dt(self.committed_at),
            _dt(self.due_at),
            orjson.dumps(self.results).decode() if self.results else "",
            self.error,
            self.cost,
            _dt(now),
            time.time_ns(),
            self.owner,
            _dt(self.lease_until),
            self.source,
        ]


def _item(r: dict[str, Any]) -> WorkItem:
    return WorkItem(
        org_id=r["org_id"],
        project_id=r["project_id"],
        object_type=r["object_type"],
        object_id=r["object_id"],
        rule_id=r["rule_id"],
        target_id=r["target_id"],
        root_span_id=r["root_span_id"],
        scope=r["scope"],
        committed_at=_ts(r["committed_at"]),
        due_at=_ts(r["due_at"]),
        state=r["state"],
        attempts=int(r["attempts"]),
        results=orjson.loads(r["results"]) if r["results"] else {},
        error=r["error"],
        cost=float(r["cost"]),
        owner=str(r.get("owner") or ""),
        lease_until=_ts(r["lease_until"]) if r.get("lease_until") is not None else 0.0,
        source=str(r.get("source") or ""),
    )


class WorkLog:
    def __init__(
        self, store: Store, *, owner: str | None = None, lease_s: float = 60.0, settle_s: float = 1.0
    ) -> None:
        self.store = store
        self.owner = owner or f"engine-{uuid.uuid4().hex[:12]}"
        self.lease_s = lease_s
        self.settle_s = settle_s
        self._deltas: dict[tuple[str, str, date, str], float] = defaultdict(float)
        self._flushing: asyncio.Event | None = None  # set once the flush in flight has ended
        self._flushes = 0  # flushes ended (a reader that saw this change reads again)

    async def save(self, items: Iterable[WorkItem], *, release: bool = False) -> None:
        """Write the items' states; this engine owns each pending one for `lease_s` from now
        (`release`: gives them up at once, for whoever takes them next)."""
        until = 0.0 if release else time.time() + self.lease_s
        rows = []
        for i in items:
            i.owner = self.owner
            i.lease_until = until
            rows.append(i.row())
        if rows:
            await self.store.insert("online_work", rows, WORK_COLUMNS)

    def held(self, item: WorkItem, margin_s: float = 0.0) -> bool:
        """This engine's lease on the item is still good (for `margin_s` more)."""
        return item.owner == self.owner and item.lease_until > time.time() + margin_s

    async def claim(self, limit: int = 5000, exclude: Iterable[tuple[str, str, str]] = ()) -> list[WorkItem]:
        """Take pending items whose lease expired (a stopped or dead engine's): the ones this engine
        won, now leased to it (module docstring)."""
        skip = set(exclude)
        found = await self.store.query_dicts(
            self.store.sql(
                _SELECT + "WHERE state = 'pending' AND lease_until < {now:DateTime64(6, 'UTC')} "
                "ORDER BY due_at LIMIT {n:UInt32}"
            ),
            {"now": _dt(time.time()), "n": limit},
        )
        wanted = [i for i in (_item(r) for r in found) if i.key not in skip]
        if not wanted:
            return []
        await self.save(wanted)
        await asyncio.sleep(self.settle_s)  # every concurrent claim is visible after this
        by_rule: dict[tuple[str, str], list[str]] = defaultdict(list)
        for i in wanted:
            by_rule[(i.org_id, i.rule_id)].append(i.target_id)
        won = []
        for (org_id, rule_id), targets in by_rule.items():
            now = await self.existing(org_id, rule_id, targets)
            won += [i for i in now.values() if i.state == PENDING and i.owner == self.owner]
        return won

    async def existing(self, org_id: str, rule_id: str, target_ids: Sequence[str]) -> dict[str, WorkItem]:
        """The stored items of `target_ids` for one rule (pending or final)."""
        if not target_ids:
            return {}
        found = await self.store.query_dicts(
            self.store.sql(
                _SELECT
                + "WHERE org_id = {o:String} AND rule_id = {r:String} AND target_id IN {t:Array(String)}"
            ),
            {"o": org_id, "r": rule_id, "t": list(target_ids)},
        )
        return {str(r["target_id"]): _item(r) for r in found}

    async def oldest_pending(self, org_id: str, rule_id: str) -> tuple[int, float | None]:
        """How many of the rule's items are pending, and the earliest due time among them."""
        _, rows = await self.store.query(
            self.store.sql(
                "SELECT count(), min(due_at) FROM {db}.online_work FINAL "
                "WHERE org_id = {o:String} AND rule_id = {r:String} AND state = 'pending'"
            ),
            {"o": org_id, "r": rule_id},
        )
        n = int(rows[0][0]) if rows else 0
        return n, (_ts(rows[0][1]) if n else None)

    async def by_source(self, org_id: str, rule_id: str, source: str) -> dict[str, int]:
        """How many of a backfill job's items are in each state."""
        _, rows = await self.store.query(
            self.store.sql(
                "SELECT state, count() FROM {db}.online_work FINAL WHERE org_id = {o:String} "
                "AND rule_id = {r:String} AND source = {s:String} GROUP BY state"
            ),
            {"o": org_id, "r": rule_id, "s": source},
        )
        return {str(st): int(n) for st, n in rows}

    async def recent_errors(self, org_id: str, rule_id: str, limit: int = 20) -> list[dict[str, Any]]:
        found = await self.store.query_dicts(
            self.store.sql(
                "SELECT target_id, root_span_id, error, attempts, updated_at FROM {db}.online_work FINAL "
                "WHERE org_id = {o:String} AND rule_id = {r:String} AND state = 'error' "
                "ORDER BY updated_at DESC LIMIT {n:UInt32}"
            ),
            {"o": org_id, "r": rule_id, "n": limit},
        )
        return [
            {
                "target_id": r["target_id"],
                "root_span_id": r["root_span_id"],
                "error": r["error"],
                "attempts": int(r["attempts"]),
                "at": _dt(_ts(r["updated_at"])).isoformat().replace("+00:00", "Z"),
            }
            for r in found
        ]

    # -- counters ------------------------------------------------------------------------------

    def count(self, org_id: str, rule_id: str, name: str, value: float = 1.0) -> None:
        if value:
            self._deltas[(org_id, rule_id, today(), name)] += value

    def unflushed(self, org_id: str, rule_id: str, name: str, day: date | None = None) -> float:
        return self._deltas.get((org_id, rule_id, day or today(), name), 0.0)

    async def flush(self) -> None:
        """Write the deltas counted since the last flush. While the write is in flight its deltas
        are neither in `_deltas` nor surely in the store, so readers wait for it (`_read`)."""
        if self._flushing is not None:  # one flush at a time (the write loop, and stop)
            await self._flushing.wait()
        deltas, self._deltas = self._deltas, defaultdict(float)
        rows = [[o, r, d, n, v] for (o, r, d, n), v in deltas.items() if v]
        if not rows:
            return
        self._flushing = asyncio.Event()
        try:
            await self.store.insert("online_counters", rows, ["org_id", "rule_id", "day", "name", "value"])
        except Exception:
            for k, v in deltas.items():  # keep them for the next flush
                self._deltas[k] += v
            raise
        finally:
            self._flushes += 1
            self._flushing.set()
            self._flushing = None

    async def _read(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """A counters query whose answer plus `_deltas` (read right after it) counts every delta
        exactly once: it runs when no flush is in flight and is run again if a flush began or
        ended meanwhile (a flush moves deltas from memory to the store; a query overlapping it
        may see them in neither, or in both)."""
        while True:
            if self._flushing is not None:
                await self._flushing.wait()
                continue
            seen = self._flushes
            _, rows = await self.store.query(self.store.sql(sql), params)
            if self._flushing is None and self._flushes == seen:
                return rows

    async def counters(self, org_id: str, rule_id: str) -> tuple[dict[str, float], dict[str, float]]:
        """(all-time totals, today's) by counter name, this process's unflushed deltas included."""
        now = today()
        found = await self._read(
            "SELECT name, sum(value), sumIf(value, day = {d:Date}) FROM {db}.online_counters "
            "WHERE org_id = {o:String} AND rule_id = {r:String} GROUP BY name",
            {"o": org_id, "r": rule_id, "d": now},
        )
        total = dict.fromkeys(COUNTERS, 0.0)
        day = dict.fromkeys(COUNTERS, 0.0)
        for name, t, d in found:
            total[str(name)] = float(t)
            day[str(name)] = float(d)
        for (o, r, d, n), v in self._deltas.items():
            if o == org_id and r == rule_id:
                total[n] = total.get(n, 0.0) + v
                if d == now:
                    day[n] = day.get(n, 0.0) + v
        return total, day

    async def spent_today(self, org_id: str, rule_id: str) -> float:
        """Today's scorer cost of the rule: stored, plus this process's deltas not yet written
        (never missing the ones a flush is writing, which could let a call past the cap)."""
        now = today()
        rows = await self._read(
            "SELECT sum(value) FROM {db}.online_counters WHERE org_id = {o:String} "
            "AND rule_id = {r:String} AND day = {d:Date} AND name = 'cost_usd'",
            {"o": org_id, "r": rule_id, "d": now},
        )
        stored = float(rows[0][0] or 0.0) if rows else 0.0
        return stored + self.unflushed(org_id, rule_id, "cost_usd", now)
