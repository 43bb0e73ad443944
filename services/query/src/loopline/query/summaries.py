"""Experiment and dataset summaries, shaped exactly as the SDK's dataclasses expect (spec §7).

Score for name s = mean over traces of the trace's value of s, where a trace's value is the mean
of s over its spans. The comparison experiment is the explicit one, else the experiment's base,
else the latest other experiment of the project created before it. Rows of the two experiments
are matched by the JSON of their root span's input; improvements/regressions count matched
traces whose score went up/down.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.store import Store
from loopline.common.xact import xact_time
from loopline.query.reads import ObjectReader, ObjectScope


@dataclass
class TraceStats:
    input_key: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


_METRICS = {
    "duration": ("s", None),
    "llm_duration": ("s", None),
    "prompt_tokens": ("tok", "prompt_tokens"),
    "completion_tokens": ("tok", "completion_tokens"),
    "total_tokens": ("tok", "tokens"),
    "estimated_cost": ("$", "estimated_cost"),
}


def _input_key(raw_input: str) -> str:
    if not raw_input:
        return ""
    try:
        return orjson.dumps(orjson.loads(raw_input), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return raw_input


async def trace_stats(reader: ObjectReader, scope: ObjectScope) -> dict[str, TraceStats]:
    """Per-trace score means and root metrics of an experiment."""
    store: Store = reader.store
    inner, params = reader.current_rows_sql(
        scope, None, "root_span_id, is_root, input, scores_map, metrics_map, span_type"
    )
    score_sql = (
        f"SELECT root_span_id, k, avg(v) FROM ({inner}) "
        "ARRAY JOIN mapKeys(scores_map) AS k, mapValues(scores_map) AS v GROUP BY root_span_id, k"
    )
    root_sql = f"SELECT root_span_id, input, metrics_map FROM ({inner}) WHERE is_root"
    llm_sql = (
        f"SELECT root_span_id, sum(metrics_map['end'] - metrics_map['start']), "
        "sum(metrics_map['prompt_tokens']), sum(metrics_map['completion_tokens']), sum(metrics_map['tokens']), "
        "sumIf(metrics_map['estimated_cost'], mapContains(metrics_map, 'estimated_cost')), "
        "countIf(mapContains(metrics_map, 'estimated_cost')) "
        f"FROM ({inner}) WHERE span_type = 'llm' GROUP BY root_span_id"
    )
    _, score_rows = await store.query(score_sql, params)
    _, root_rows = await store.query(root_sql, params)
    _, llm_rows = await store.query(llm_sql, params)
    traces: dict[str, TraceStats] = defaultdict(TraceStats)
    for root, raw_input, metrics in root_rows:
        t = traces[root]
        t.input_key = _input_key(raw_input)
        if "start" in metrics and "end" in metrics:
            t.metrics["duration"] = metrics["end"] - metrics["start"]
        for name, (_, src) in _METRICS.items():
            if src and src in metrics:
                t.metrics[name] = metrics[src]
    for root, llm_dur, pt, ct, tt, cost, priced in llm_rows:
        t = traces[root]
        t.metrics["llm_duration"] = llm_dur
        # token totals of the trace: llm spans carry them in evals; keep the root's if it had them
        t.metrics.setdefault("prompt_tokens", pt)
        t.metrics.setdefault("completion_tokens", ct)
        t.metrics.setdefault("total_tokens", tt or pt + ct)
        if priced:  # only calls of a model with a price carry a cost
            t.metrics.setdefault("estimated_cost", cost)
    for root, name, value in score_rows:
        traces[root].scores[name] = float(value)
    return dict(traces)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize_scores(
    cur: dict[str, TraceStats], base: dict[str, TraceStats] | None
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    names = sorted({n for t in cur.values() for n in t.scores})
    base_by_input: dict[str, TraceStats] = {}
    if base is not None:
        for t in base.values():
            base_by_input.setdefault(t.input_key, t)
    scores: dict[str, dict[str, Any]] = {}
    for name in names:
        value = _mean([t.scores[name] for t in cur.values() if name in t.scores])
        item: dict[str, Any] = {"name": name, "score": value, "improvements": None, "regressions": None}
        if base is not None:
            base_value = _mean([t.scores[name] for t in base.values() if name in t.scores])
            item["diff"] = value - base_value if value is not None and base_value is not None else None
            up = down = 0
            for t in cur.values():
                b = base_by_input.get(t.input_key)
                if b is None or name not in t.scores or name not in b.scores:
                    continue
                if t.scores[name] > b.scores[name]:
                    up += 1
                elif t.scores[name] < b.scores[name]:
                    down += 1
            item["improvements"], item["regressions"] = up, down
        scores[name] = item
    metrics: dict[str, dict[str, Any]] = {}
    for name, (unit, _) in _METRICS.items():
        vals = [t.metrics[name] for t in cur.values() if name in t.metrics]
        if not vals:
            continue
        value = _mean(vals)
        m: dict[str, Any] = {
            "name": name,
            "metric": value,
            "unit": unit,
            "improvements": None,
            "regressions": None,
        }
        if base is not None:
            bvals = [t.metrics[name] for t in base.values() if name in t.metrics]
            base_value = _mean(bvals)
            m["diff"] = value - base_value if value is not None and base_value is not None else None
            up = down = 0
            for t in cur.values():
                b = base_by_input.get(t.input_key)
                if b is None or name not in t.metrics or name not in b.metrics:
                    continue
                # lower duration / tokens is an improvement
                if t.metrics[name] < b.metrics[name]:
                    up += 1
                elif t.metrics[name] > b.metrics[name]:
                    down += 1
            m["improvements"], m["regressions"] = up, down
        metrics[name] = m
    return scores, metrics


async def dataset_total_records(reader: ObjectReader, scope: ObjectScope) -> int:
    inner, params = reader.current_rows_sql(scope, None, "id, _is_deleted")
    _, rows = await reader.store.query(f"SELECT count() FROM ({inner})", params)
    return int(rows[0][0])


async def dataset_versions(reader: ObjectReader, scope: ObjectScope, limit: int) -> list[dict[str, Any]]:
    """The dataset's versions, newest first: each transaction that wrote it, when (the time its id
    encodes), how many records it wrote and how many of those were deletions. A version's id is
    what `/btql`'s `version` and fetch's `version` read the dataset as of."""
    sql = reader.store.sql(
        "SELECT _xact_id, count(), countIf(_is_deleted) FROM {db}.dataset_rows "
        "WHERE org_id = {o:String} AND project_id = {p:String} AND object_id = {i:String} "
        "GROUP BY _xact_id ORDER BY _xact_id DESC LIMIT {n:UInt32}"
    )
    params = {"o": scope.org_id, "p": scope.project_id, "i": scope.object_id, "n": limit}
    _, rows = await reader.store.query(sql, params)
    return [
        {
            "version": str(x),
            "created": datetime.fromtimestamp(xact_time(x), UTC).isoformat(),
            "rows": int(n),
            "deleted": int(d),
        }
        for x, n, d in rows
    ]
