""" "Test rule": a rule (saved or not) run over the project's most recent matching spans, writing
nothing — what Braintrust's UI shows before a rule is saved.

The spans a rule would score are read with the rule's own choice (root span / span names; trace
scope: root spans), its BTQL filter compiled as at scoring time (filters.py) and no scorer spans,
newest first. Each is scored by every scorer of the rule (no retries: a provider failure is shown
as it is), and reported with what live scoring would do with it: whether its trace is in the
sample and whether it has ended. The filter's outcome on the recent candidate spans (how many of
them it lets through) is reported beside them. No score, scorer span, work item or counter is
written; the model calls are paid and their cost is returned.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from loopline.btql import ast as A
from loopline.btql.parser import parse_expr
from loopline.common.auth import Principal
from loopline.common.errors import Invalid
from loopline.common.store import Store
from loopline.evaluator.online import sampling
from loopline.evaluator.online.config import OnlineConfig
from loopline.evaluator.online.engine import OnlineEngine
from loopline.evaluator.online.filters import matching_ids, run_ids
from loopline.evaluator.online.scorers import ScorerArgs
from loopline.evaluator.online.spans import is_ended, is_scorer_span

from loopline import btql

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
_PARALLEL = 8  # scorer runs of one preview at once
_NOT_SCORER = parse_expr("span_attributes.purpose IS NULL OR span_attributes.purpose != 'scorer'")
_BASE = btql.parse("select: id | from: project_logs('p') spans | sort: created desc | limit: 1")


def rule_selection(cfg: OnlineConfig, *, with_filter: bool = True) -> A.Expr:
    """The spans a rule looks at: trace scope the root spans; span scope root spans and/or spans
    of the named kinds (neither: every span); never a scorer's own span; then its filter."""
    base = _choice(cfg)
    if not with_filter or not cfg.btql_filter:
        return base
    return A.BoolOp(op="and", args=(base, parse_expr(cfg.btql_filter)))


def _choice(cfg: OnlineConfig) -> A.Expr:
    is_root: A.Expr = A.Ident(path=("is_root",))
    named: A.Expr = A.Binary(
        op="in",
        left=A.Ident(path=("span_attributes", "name")),
        right=A.Array(items=tuple(A.Literal(n) for n in cfg.apply_to_span_names)),
    )
    if cfg.scope == "trace":
        return A.BoolOp(op="and", args=(is_root, _NOT_SCORER))
    parts = ([is_root] if cfg.apply_to_root_span else []) + ([named] if cfg.apply_to_span_names else [])
    if not parts:
        return _NOT_SCORER
    pick = parts[0] if len(parts) == 1 else A.BoolOp(op="or", args=tuple(parts))
    return A.BoolOp(op="and", args=(pick, _NOT_SCORER))


def _time(t: float) -> A.Literal:
    return A.Literal(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z")


async def select_ids(
    store: Store,
    org_id: str,
    project_id: str,
    where: A.Expr,
    limit: int,
    *,
    since: float | None = None,
    until: float | None = None,
    before: tuple[str, str] | None = None,
) -> list[str]:
    """The ids of the project's newest spans matching `where`, optionally created in
    [since, until) and after the cursor `before` (created, id) in newest-first order."""
    created: A.Expr = A.Ident(path=("created",))
    parts = [where]
    if since is not None:
        parts.append(A.Binary(op="ge", left=created, right=_time(since)))
    if until is not None:
        parts.append(A.Binary(op="lt", left=created, right=_time(until)))
    if before is not None:
        at, last = A.Literal(before[0]), A.Literal(before[1])
        same = A.BoolOp(
            op="and",
            args=(
                A.Binary(op="eq", left=created, right=at),
                A.Binary(op="lt", left=A.Ident(path=("id",)), right=last),
            ),
        )
        parts.append(A.BoolOp(op="or", args=(A.Binary(op="lt", left=created, right=at), same)))
    expr = parts[0] if len(parts) == 1 else A.BoolOp(op="and", args=tuple(parts))
    source = A.Source(name="project_logs", args=(A.Literal(project_id),), shape="spans")
    q = dataclasses.replace(_BASE, from_=source, filter=expr, limit=limit)
    return await run_ids(store, org_id, project_id, q)


async def preview(
    engine: OnlineEngine, org_id: str, project_id: str, cfg: OnlineConfig, limit: int
) -> dict[str, Any]:
    if cfg.scope == "group":
        raise Invalid(
            "test previews of group-scope rules are not supported", field="config.online.scope.type"
        )
    store = engine.spans.store
    candidates = await select_ids(store, org_id, project_id, rule_selection(cfg, with_filter=False), limit)
    ids = candidates
    if cfg.btql_filter:
        ids = await select_ids(store, org_id, project_id, rule_selection(cfg), limit)
        passed = len(
            set(candidates) & set(await matching_ids(store, org_id, project_id, cfg.btql_filter, candidates))
        )
    else:
        passed = len(candidates)
    rows = await engine.spans.by_id(org_id, project_id, "project_logs", "g", ids)
    principal = Principal(org_id=org_id, user_id="", role="member")
    gate = asyncio.Semaphore(_PARALLEL)
    started = time.monotonic()
    out = await asyncio.gather(*(_one(engine, principal, cfg, rows[i], gate) for i in ids if i in rows))
    return {
        "project_id": project_id,
        "config": {"online": cfg.public()},
        "spans": out,
        "summary": {
            "spans": len(out),
            "filter": {
                "btql_filter": cfg.btql_filter,
                "recent_candidates": len(candidates),
                "passed": passed,
            },
            "sampled": sum(1 for s in out if s["sampled"]),
            "would_score": sum(1 for s in out if s["would_score"]),
            "scored": sum(1 for s in out if s["scores"]),
            "errors": sum(1 for s in out if s["errors"]),
            "cost_usd": sum(s["cost_usd"] for s in out),
            "duration_s": round(time.monotonic() - started, 3),
        },
    }


async def _one(
    engine: OnlineEngine,
    principal: Principal,
    cfg: OnlineConfig,
    row: Mapping[str, Any],
    gate: asyncio.Semaphore,
) -> dict[str, Any]:
    root = str(row.get("root_span_id") or row["id"])
    attrs = row.get("span_attributes") if isinstance(row.get("span_attributes"), Mapping) else {}
    sampled = sampling.sampled(root, cfg.sampling_rate)
    ended = is_ended(row) if cfg.scope == "span" else _root_ended(row)
    args = ScorerArgs(
        input=row.get("input"),
        output=row.get("output"),
        expected=row.get("expected"),
        metadata=row.get("metadata") if isinstance(row.get("metadata"), dict) else None,
        trace={"object_type": "project_logs", "object_id": row.get("project_id"), "root_span_id": root},
    )
    scores: dict[str, float | None] = {}
    errors: list[dict[str, Any]] = []
    cost = 0.0
    for s in cfg.scorers:
        async with gate:
            o = await engine.run_scorer(principal, s, args)
        cost += o.cost_usd
        for v in o.scores:
            scores[v.name] = v.score
        if o.error:
            errors.append({"scorer": s.public(), "error": o.error, "retryable": o.retryable})
    return {
        "id": row["id"],
        "span_id": row.get("span_id"),
        "root_span_id": root,
        "name": (attrs or {}).get("name"),
        "created": row.get("created"),
        "is_root": bool(row.get("is_root")) or not row.get("span_parents"),
        "sampled": sampled,
        "ended": ended,
        "would_score": sampled and ended and not is_scorer_span(row),
        "scores": scores,
        "errors": errors,
        "cost_usd": cost,
    }


def _root_ended(row: Mapping[str, Any]) -> bool:
    metrics = row.get("metrics")
    return isinstance(metrics, Mapping) and metrics.get("end") is not None
