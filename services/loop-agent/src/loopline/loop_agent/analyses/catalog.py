"""The pre-canned analyses by name: each runs its BTQL (queries.py) through the query service as
the caller and computes its answer (results.py). Used by the API, `loopline analyze`, and the
agent's analysis tool; no model involved."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from loopline.common.analyses import queries as q
from loopline.common.analyses import results
from loopline.loop_agent.btql_client import BtqlClient
from pydantic import BaseModel, ConfigDict, Field


class AnalysisParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(min_length=1, description="the project whose logs are analysed")
    days: int = Field(default=7, ge=1, le=365, description="the window: the last `days` days")
    limit: int = Field(default=10, ge=1, le=1000, description="at most this many items per list")
    factor: float = Field(
        default=3.0, gt=1, le=1000, description="outliers: values above `factor` x the window's mean"
    )
    metric: Literal["latency", "tokens", "both"] = Field(default="both", description="outliers: which metric")


class _Run:
    """The queries one analysis ran (shown with its answer, so it can be checked or re-run)."""

    def __init__(self, btql: BtqlClient) -> None:
        self.btql = btql
        self.queries: list[str] = []

    async def rows(self, query: str) -> list[dict[str, Any]]:
        self.queries.append(query)
        return await self.btql.rows(query)

    async def all(self, *queries: str) -> list[list[dict[str, Any]]]:
        """The rows of independent queries, run at once."""
        return list(await asyncio.gather(*(self.rows(q) for q in queries)))


async def _top_errors(run: _Run, p: AnalysisParams) -> dict[str, Any]:
    w = q.Window(p.project_id, p.days)
    by_name, traces, failed = await run.all(
        q.errors_by_span_name(w), q.traces_by_intent(w), q.failed_traces_by_intent(w)
    )
    return {
        "by_span_name": results.blast_radius(by_name, "name", "total", "errors", p.limit),
        "by_intent": results.blast_radius(
            results.intent_failures(traces, failed), "intent", "total", "errors", p.limit
        ),
    }


async def _tool_success(run: _Run, p: AnalysisParams) -> dict[str, Any]:
    return results.tool_success_change(await run.rows(q.tool_calls_by_week(q.Window(p.project_id, p.days))))


async def _context_overflow(run: _Run, p: AnalysisParams) -> dict[str, Any]:
    w = q.Window(p.project_id, p.days)
    by_model, incidents = await run.all(
        q.context_overflow_counts(w), q.context_overflow_incidents(w, p.limit)
    )
    return {
        "incidents": sum(int(r.get("incidents") or 0) for r in by_model),
        "by_model": by_model,
        "latest": incidents,
    }


async def _provider_errors(run: _Run, p: AnalysisParams) -> dict[str, Any]:
    w = q.Window(p.project_id, p.days)
    errors, calls = await run.all(q.provider_errors(w), q.llm_calls(w))
    return results.provider_error_split(errors, calls)


_STATS = ("n", "mean", "p50", "p95", "max")


async def _outliers(run: _Run, p: AnalysisParams) -> dict[str, Any]:
    """Two rounds: each metric's stats in one scan; then, for the metrics that have values, the
    count above `factor` x mean (one scan) and the top spans of each, at once."""
    w = q.Window(p.project_id, p.days)
    metrics = ("latency", "tokens") if p.metric == "both" else (p.metric,)
    row = (await run.rows(q.metric_stats(w, metrics)) or [{}])[0]
    stats = {m: {k: row.get(f"{m}_{k}") for k in _STATS} for m in metrics}
    thresholds = {
        m: p.factor * float(s["mean"]) for m, s in stats.items() if s["mean"] is not None and s["n"]
    }
    out: dict[str, Any] = {
        m: {"stats": stats[m], "threshold": None, "outliers": 0, "top": []} for m in metrics
    }
    if not thresholds:
        return out
    counts, *tops = await run.all(
        q.metric_outlier_count(w, thresholds),
        *(q.metric_outliers(w, m, t, p.limit) for m, t in thresholds.items()),
    )
    for (m, t), top in zip(thresholds.items(), tops, strict=True):
        n = (counts or [{}])[0].get(m)
        out[m] = {"stats": stats[m], "threshold": t, "outliers": int(n or 0), "top": top}
    return out


async def _intents(run: _Run, p: AnalysisParams) -> dict[str, Any]:
    return results.intent_change(await run.rows(q.intents_by_period(q.Window(p.project_id, p.days))))


@dataclass(frozen=True)
class Analysis:
    name: str
    description: str
    run: Callable[[_Run, AnalysisParams], Awaitable[dict[str, Any]]]


ANALYSES: dict[str, Analysis] = {
    a.name: a
    for a in (
        Analysis(
            "top_errors",
            "Errors by blast radius (error rate x share of traffic), per span/tool name and per intent "
            "(classifications.Intent[0].label; empty when no classifier ran)",
            _top_errors,
        ),
        Analysis(
            "tool_success",
            "Success rate of each tool call in this window and the one before (week over week with "
            "days=7), and the change",
            _tool_success,
        ),
        Analysis(
            "context_overflow",
            "Context-window overflow incidents, per model, and the latest ones",
            _context_overflow,
        ),
        Analysis(
            "provider_errors",
            "LLM-call errors split into quota, context overflow, rate limit, overload and other API "
            "failures, per provider and model with their error rate",
            _provider_errors,
        ),
        Analysis(
            "outliers",
            "Latency and token outliers: spans above `factor` x the window's mean, with the mean, p50 and p95",
            _outliers,
        ),
        Analysis(
            "intents",
            "Intent distribution in this window and the one before, and the change of each intent's share",
            _intents,
        ),
    )
}


async def run_analysis(btql: BtqlClient, name: str, params: AnalysisParams) -> dict[str, Any]:
    """The analysis `name`'s answer; `KeyError` for an unknown name, `BtqlFailed` if a query fails."""
    analysis = ANALYSES[name]
    run = _Run(btql)
    result = await analysis.run(run, params)
    return {
        "analysis": name,
        "project_id": params.project_id,
        "days": params.days,
        "result": result,
        "queries": run.queries,
    }
