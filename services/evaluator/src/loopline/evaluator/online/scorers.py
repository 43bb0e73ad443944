"""The one seam between online scoring and whatever runs scorers.

`ScoreFn(principal, scorer, args) -> ScorerOutcome`: online scoring needs the scores, what they
cost, and whether a failure is worth retrying (a provider's 429/5xx/timeout) or final (the scorer
itself failed). `runner_scorer` is the one the service uses: fn-invoke's `FunctionRunner.score`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loopline.common.auth import Principal
from loopline.common.errors import Problem, Unavailable
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.evaluator.online.config import ScorerRef
from loopline.evaluator.org_models import CALL_TALLY
from loopline.evaluator.runtime.runner import FunctionRunner
from loopline.evaluator.runtime.types import Score
from loopline.evaluator.runtime.types import ScorerArgs as RunnerArgs
from loopline.providers import CallRecord, ProviderError
from loopline.providers.errors import RETRYABLE


@dataclass(frozen=True)
class ScorerArgs:
    input: Any
    output: Any
    expected: Any = None
    metadata: Mapping[str, Any] | None = None
    # the scored trace (object type/id, root span id) for scorers that read the whole trace
    trace: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ScoreValue:
    name: str
    score: float | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScorerOutcome:
    scores: list[ScoreValue] = field(default_factory=list)
    cost_usd: float = 0.0
    error: str | None = None
    retryable: bool = False  # the failure was the provider's and may pass later
    retry_after_s: float | None = None
    usage: dict[str, float] = field(default_factory=dict)


ScoreFn = Callable[[Principal, ScorerRef, ScorerArgs], Awaitable[ScorerOutcome]]
# (org id, scorer) -> None, or the reason it cannot run (no such function in the org, bad version)
ScorerCheck = Callable[[str, ScorerRef], Awaitable[str | None]]


def provider_failure(exc: ProviderError) -> ScorerOutcome:
    """A provider error as an outcome: retryable when the provider layer says so."""
    return ScorerOutcome(error=str(exc), retryable=exc.retryable, retry_after_s=exc.retry_after_s)


def _ref(scorer: ScorerRef) -> FunctionRef:
    if scorer.type == "global":
        return FunctionRef(global_function=scorer.name, function_type=scorer.function_type)
    return FunctionRef(function_id=scorer.id, version=scorer.version)


def _outcome(scores: list[Score], calls: list[CallRecord]) -> ScorerOutcome:
    cost = sum((c.usage.cost_usd or 0.0) for c in calls if c.usage is not None)
    usage: dict[str, float] = {}
    if any(c.usage is not None for c in calls):
        prompt = sum(c.usage.prompt_tokens for c in calls if c.usage is not None)
        completion = sum(c.usage.completion_tokens for c in calls if c.usage is not None)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "tokens": prompt + completion}
    ok = [ScoreValue(s.name, s.score, dict(s.metadata or {})) for s in scores if not s.error]
    errors = [s.error for s in scores if s.error]
    if not errors:
        return ScorerOutcome(scores=ok, cost_usd=cost, usage=usage)
    # the runner reports a provider failure as the score's error text; the calls it made say
    # whether the provider failed in a way that may pass (rate limit, 5xx, timeout, connection)
    failed = [c.outcome for c in calls if c.outcome != "ok"]
    retryable = bool(failed) and failed[-1] in RETRYABLE
    timed_out = any("timed out" in e for e in errors) and not failed
    return ScorerOutcome(
        scores=ok,
        cost_usd=cost,
        error="; ".join(errors)[:4000],
        retryable=retryable or timed_out,
        usage=usage,
    )


def runner_scorer(runner: FunctionRunner) -> ScoreFn:
    """Scorers run by the function runner (global autoevals by name, stored LLM-judge prompts,
    code scorers); the cost and failures of their model calls are collected from this context."""

    async def score(principal: Principal, scorer: ScorerRef, args: ScorerArgs) -> ScorerOutcome:
        calls: list[CallRecord] = []
        token = CALL_TALLY.set(calls)
        try:
            scores = await runner.score(
                principal,
                _ref(scorer),
                RunnerArgs(
                    input=args.input,
                    output=args.output,
                    expected=args.expected,
                    metadata=dict(args.metadata) if args.metadata else None,
                    trace=dict(args.trace) if args.trace else None,
                ),
            )
        except ProviderError as exc:
            return provider_failure(exc)
        except Unavailable as exc:
            return ScorerOutcome(error=exc.message, retryable=True, retry_after_s=exc.retry_after)
        except Problem as exc:  # the scorer is unknown, gone, or not a scorer: final
            return ScorerOutcome(error=f"scorer {scorer.key}: {exc.message}")
        finally:
            CALL_TALLY.reset(token)
        return _outcome(scores, calls)

    return score


def runner_check(runner: FunctionRunner) -> ScorerCheck:
    """A function scorer must name a function of the org (at that version) when the rule is saved;
    global scorers are checked by name when the body is parsed (config.py)."""

    async def check(org_id: str, scorer: ScorerRef) -> str | None:
        if scorer.type != "function":
            return None
        try:
            await runner.resolve(Principal(org_id=org_id, user_id="", role="member"), _ref(scorer))
        except Problem as exc:
            return exc.message
        return None

    return check
