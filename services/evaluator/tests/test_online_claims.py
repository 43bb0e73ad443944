"""Several engines over one store: pending work is leased, so each target is scored by exactly one
engine (no double model cost); a dead engine's work is taken once its lease expires, a stopped
engine's at once, and a live lease is never taken."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from loopline.common.auth import Principal
from loopline.common.service import ServiceStates
from loopline.evaluator.online.config import ScorerRef
from loopline.evaluator.online.engine import OnlineEngine
from loopline.evaluator.online.rules import RuleStore
from loopline.evaluator.online.scorers import ScoreFn, ScorerArgs, ScorerOutcome, runner_scorer
from loopline.evaluator.online.settings import OnlineScoringSettings
from loopline.evaluator.online.spans import SpanRows
from loopline.evaluator.online.work import WORK_COLUMNS, WorkItem, WorkLog
from loopline.evaluator.state import State

from tests.support.app import InProcess, in_process

from .test_online_engine import SERVICES, add_rule, events, log, scorer_spans, span

LEASE = {"lease_s": 2.0, "claim_settle_s": 0.3, "tick_s": 0.05, "flush_s": 0.2}


class Counted:
    """The real scorers, with a count of the targets each engine scored."""

    def __init__(self, inner: ScoreFn) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    async def __call__(self, principal: Principal, scorer: ScorerRef, args: ScorerArgs) -> ScorerOutcome:
        assert args.trace is not None
        self.calls[str(args.trace["root_span_id"])] += 1
        await asyncio.sleep(0.05)  # a scorer takes a moment: both engines are busy at once
        return await self.inner(principal, scorer, args)


def engine(ll: InProcess, owner: str, counted: Counted) -> OnlineEngine:
    store = ll.ctx.require_store()
    settings = OnlineScoringSettings(**LEASE)
    return OnlineEngine(
        RuleStore(store),
        WorkLog(store, owner=owner, lease_s=settings.lease_s, settle_s=settings.claim_settle_s),
        SpanRows(store),
        ll.ctx.bus,
        ll.ctx.xact,
        counted,
        settings,
    )


def runner_of(ll: InProcess) -> ScoreFn:
    states: ServiceStates = ll.app.state.services
    runner = states.get(State).runner
    assert runner is not None
    return runner_scorer(runner)


async def pending_traces(
    ll: InProcess, pid: str, rid: str, roots: list[str], owner: str, lease_until: float
) -> None:
    """Pending trace items as an engine left them (its lease until `lease_until`)."""
    items = [
        WorkItem(ll.org_id, pid, "project_logs", "g", rid, r, r, "trace", time.time() - 60, 0.0)
        for r in roots
    ]
    for i in items:
        i.owner, i.lease_until = owner, lease_until
    await ll.ctx.require_store().insert("online_work", [i.row() for i in items], WORK_COLUMNS)


async def wait_scored(ll: InProcess, pid: str, n: int, timeout_s: float = 60.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    while True:
        evs = await events(ll, pid)
        if (
            sum(1 for e in evs if e.get("scores") and e.get("span_attributes", {}).get("purpose") != "scorer")
            >= n
        ):
            return evs
        if time.monotonic() > deadline:
            return evs
        await asyncio.sleep(0.2)


async def test_two_engines_share_pending_work_and_score_each_trace_once(
    chdb_dsn: str, tmp_path: Path
) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring={"enabled": False}) as ll:
        pid = await ll.make_project()
        rid = await add_rule(ll, pid, "trace", scope={"type": "trace", "idle_seconds": 0})
        roots = [f"r{i}" for i in range(24)]
        await log(ll, [span(pid, r, r) for r in [*roots, "held"]])
        # a dead engine's work (lease long expired) and a live engine's (lease good for a minute)
        await pending_traces(ll, pid, rid, roots, "dead-engine", time.time() - 5)
        await pending_traces(ll, pid, rid, ["held"], "live-engine", time.time() + 60)
        a, b = Counted(runner_of(ll)), Counted(runner_of(ll))
        ea, eb = engine(ll, "engine-a", a), engine(ll, "engine-b", b)
        await asyncio.gather(ea.start(), eb.start())
        try:
            evs = await wait_scored(ll, pid, len(roots))
            await asyncio.sleep(1.0)  # a second round of claims takes nothing more
        finally:
            await asyncio.gather(ea.stop(), eb.stop())
        both = a.calls + b.calls
        assert set(both) == set(roots), both  # every dead engine's trace, never the held one
        assert all(n == 1 for n in both.values()), both  # each scored by exactly one engine
        assert not set(a.calls) & set(b.calls)
        scored = {e["id"] for e in evs if e.get("scores") and e["span_attributes"].get("purpose") != "scorer"}
        assert scored == {f"row-{r}" for r in roots}
        assert len(scorer_spans(await events(ll, pid))) == len(roots)


async def test_a_stopped_engine_releases_its_work_and_a_dead_ones_expires(
    chdb_dsn: str, tmp_path: Path
) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring={"enabled": False}) as ll:
        pid = await ll.make_project()
        rid = await add_rule(ll, pid, "trace", scope={"type": "trace", "idle_seconds": 0})
        await log(ll, [span(pid, r, r) for r in ("s1", "d1")])
        # engine A holds s1 (its lease good for a minute)
        await pending_traces(ll, pid, rid, ["s1"], "engine-a", time.time() + 60)
        a, b = Counted(runner_of(ll)), Counted(runner_of(ll))
        ea, eb = engine(ll, "engine-a", a), engine(ll, "engine-b", b)
        await eb.start()
        try:
            await asyncio.sleep(1.0)
            assert not b.calls  # A's lease is good: B does not take s1
            # A stops (releases what it holds): B takes s1 at its next round
            held = await WorkLog(ll.ctx.require_store()).existing(ll.org_id, rid, ["s1"])
            ea.pending.update({i.key: i for i in held.values()})
            await ea.stop()
            await wait_scored(ll, pid, 1)
            assert b.calls == Counter({"s1": 1})
            # a dead engine (no release): B takes its work once the lease expired
            await pending_traces(ll, pid, rid, ["d1"], "engine-dead", time.time() + 1.0)
            await wait_scored(ll, pid, 2)
            assert b.calls == Counter({"s1": 1, "d1": 1})
        finally:
            await eb.stop()
        assert not a.calls
