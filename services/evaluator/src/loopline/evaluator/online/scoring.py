"""Online scoring's part of the evaluator's start-up: the rule store, the engine and its consumer."""

from __future__ import annotations

from dataclasses import dataclass

from loopline.common.messages import committed
from loopline.common.service import ServiceContext, Worker
from loopline.evaluator.online.backfill import Backfills
from loopline.evaluator.online.engine import GROUP, OPTIONS, OnlineEngine, build_pipeline
from loopline.evaluator.online.rules import RuleStore
from loopline.evaluator.online.scorers import ScoreFn, runner_check, runner_scorer
from loopline.evaluator.online.settings import OnlineScoringSettings
from loopline.evaluator.online.spans import SpanRows
from loopline.evaluator.online.work import WorkLog
from loopline.evaluator.runtime.runner import FunctionRunner


@dataclass(frozen=True)
class OnlineScoring:
    rules: RuleStore  # owner of project_scores
    engine: OnlineEngine  # owner of online_work, online_counters; runs only when enabled
    enabled: bool
    backfills: Backfills  # "score past logs" jobs (owner of online_backfills)


class _StopEngine:
    def __init__(self, engine: OnlineEngine, backfills: Backfills) -> None:
        self.engine = engine
        self.backfills = backfills

    async def stop(self) -> None:
        await self.backfills.stop()
        await self.engine.stop()


async def start_online(
    ctx: ServiceContext, runner: FunctionRunner, score_fn: ScoreFn | None = None
) -> tuple[OnlineScoring, list[Worker]]:
    """`score_fn`: how scorers run (default: through `runner`)."""
    store = ctx.require_store()
    cfg = ctx.settings.section(OnlineScoringSettings)
    rules = RuleStore(store, runner_check(runner))
    engine = OnlineEngine(
        rules,
        WorkLog(store, lease_s=cfg.lease_s, settle_s=cfg.claim_settle_s),
        SpanRows(store),
        ctx.bus,
        ctx.xact,
        score_fn or runner_scorer(runner),
        cfg,
    )
    backfills = Backfills(store, engine)
    online = OnlineScoring(rules, engine, cfg.enabled, backfills)
    if not cfg.enabled:
        return online, []
    await engine.start()
    await backfills.start_loop()
    consumer = await ctx.bus.subscribe(committed.TOPIC, GROUP, build_pipeline(engine), OPTIONS)
    engine.consumer_lag = lambda: consumer.lag
    # stopped in reverse order: the consumer first, then the engine (its items stay pending)
    return online, [_StopEngine(engine, backfills), consumer]
