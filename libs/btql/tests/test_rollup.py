"""Pre-aggregated hours (`rollup.py`): the same answer with and without them.

A seeded project of random spans over two days (names, types, errors, models, metrics, scores,
several versions of a row, merges, deletions) is rolled up hour by hour; then every query below
runs twice — raw, and with the clean hours — and the answers must match. Rows changed after the
rollup make their hour dirty, and the answers must still match.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from loopline.btql import Scope, compile_query, rollup

SCOPE = Scope.project_logs("o1", "p1")
FROM = "from: project_logs('p1') | "
T0 = dt.datetime(2026, 11, 20, 0, 0, 0)  # the seed's first hour (UTC)
HOURS = 48
NAMES = ["search", "fetch", "answer", "plan", ""]
TYPES = ["tool", "llm", "task", "function", ""]
MODELS = ["gpt-4o", "claude", None, 7]
ERRORS = [None, None, None, "rate limit exceeded (429)", "context length exceeded", {"code": 500}]


def _span(rng: random.Random, i: int, version: int = 0) -> dict[str, Any]:
    created = T0 + dt.timedelta(seconds=rng.randrange(HOURS * 3600), microseconds=rng.randrange(10**6))
    metrics: dict[str, Any] = {}
    if rng.random() < 0.8:
        start = created.replace(tzinfo=dt.UTC).timestamp()
        metrics |= {"start": start, "end": start + rng.choice([0.1, 0.5, 1.5, 3.0]) * (1 + rng.random())}
    if rng.random() < 0.5:
        metrics |= {"prompt_tokens": rng.randrange(0, 500), "completion_tokens": rng.randrange(0, 200)}
    if rng.random() < 0.3:
        metrics["estimated_cost"] = round(rng.random() / 100, 6)
    md: dict[str, Any] = {"user": f"u{rng.randrange(50)}"}
    model = rng.choice(MODELS)
    if model is not None:
        md["model"] = model
    extra: dict[str, Any] | None = None
    label = rng.choice(["refund", "login", "upgrade"])
    form = rng.random()
    if form < 0.4:  # what the classifier writes: items in an array
        item = {"id": f"c{i}", "label": label, "confidence": rng.random(), "source": {"type": "model"}}
        extra = {"classifications": {"Intent": [item], "Sentiment": [{"label": "ok", "confidence": 0.5}]}}
    elif form < 0.6:  # one object per facet
        extra = {"classifications": {"Intent": {"confidence": rng.random(), "label": label}}}
    elif form < 0.7:  # items without a label, a scalar facet
        extra = {"classifications": {"Intent": [{"confidence": rng.random()}], "Other": 3}}
    return {
        "extra": extra,
        "id": f"r{i}",
        "created": created,
        "span_attributes": {"name": rng.choice(NAMES), "type": rng.choice(TYPES)},
        "error": rng.choice(ERRORS),
        "metadata": md,
        "metrics": metrics,
        "scores": {"acc": rng.choice([0, 0.5, 1])} if rng.random() < 0.4 else None,
        "parent": None if rng.random() < 0.5 else "s_parent",
        "input": {"q": rng.random()},
    }


Row = Callable[..., list[Any]]


def _rows(row: Row, spans: list[dict[str, Any]], xact: int) -> list[list[Any]]:
    return [
        row(
            id=s["id"],
            xact=xact,
            created=s["created"],
            span_attributes=s["span_attributes"],
            error=s["error"],
            metadata=s["metadata"],
            metrics=s["metrics"],
            scores=s["scores"],
            parent=s["parent"],
            input=s["input"],
            extra=s["extra"],
            deleted=s.get("deleted", 0),
        )
        for s in spans
    ]


@dataclass
class Seed:
    e: Any  # conftest.Engine
    rng: random.Random
    spans: list[dict[str, Any]]
    row: Row

    def write(self, spans: list[dict[str, Any]], xact: int) -> None:
        self.e.insert("spans", _rows(self.row, spans, xact))


@pytest.fixture(scope="module")
def rolled(empty_engine: Any, make_row: Row) -> Seed:
    e = empty_engine
    for stmt in rollup.migration_statements():
        e.client.command(stmt.replace("{db}", e.db))
    rng = random.Random(15)
    seed = Seed(e, rng, [_span(rng, i) for i in range(3000)], make_row)
    seed.write(seed.spans, 1000)
    # later versions: updates of 300 rows (same created), deletion of 100
    changed: list[dict[str, Any]] = []
    for s in rng.sample(seed.spans, 400):
        s2 = dict(_span(rng, int(s["id"][1:])), created=s["created"])
        if len(changed) < 100:
            s2["deleted"] = 1
        changed.append(s2)
    seed.write(changed, 2000)
    # another org's rows in the same hours (never in o1's answers)
    e.insert(
        "spans",
        [
            make_row(org="o2", id=f"x{i}", created=T0 + dt.timedelta(minutes=7 * i), error="SECRET")
            for i in range(200)
        ],
    )
    refresh_all(e)
    return seed


def refresh_all(e: Any) -> None:
    """Recompute every dirty complete hour (margin 0: the test writes nothing meanwhile)."""
    rows = e.client.query(rollup.dirty_hours_sql(e.db), parameters={"margin": 0, "n": 1000}).result_rows
    groups, mark = rollup.refresh_sql(e.db)
    for (org, project, otype, oid), hours in rollup.refresh_batches(rows):
        at = int(e.client.query("SELECT toUnixTimestamp64Micro(now64(6, 'UTC'))").result_rows[0][0])
        p = {"org": org, "project": project, "otype": otype, "oid": oid, "hours": hours, "at": at}
        e.client.command(groups, parameters=p)
        e.client.command(mark, parameters=p)


def clean_hours(e: Any) -> tuple[rollup.CleanHour, ...]:
    res = e.client.query(rollup.clean_hours_sql(e.db), parameters={"org": "o1", "project": "p1", "margin": 0})
    return rollup.hours_from_rows(res.result_rows)


def _run(e: Any, q: str, hours: Any, tz: int = 0) -> tuple[list[dict[str, Any]], bool, bool]:
    cq = compile_query(FROM + q, SCOPE, db=e.db, tz_offset=tz, rollup_hours=hours)
    res = e.client.query(cq.sql, parameters=cq.params, settings=cq.settings)
    return cq.finish(list(res.column_names), list(res.result_rows)).data, cq.rollup_eligible, cq.rollup_used


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


WINDOW = "created >= '2026-11-20T03:17:00Z' AND created < '2026-11-21T19:42:30Z'"
ALIGNED = "created >= '2026-11-20T00:00:00Z' AND created <= '2026-11-22T00:00:00Z'"
ERR = "(error IS NOT NULL ? 1 : 0)"

COVERED = [
    f"dimensions: hour(created) AS t | measures: count(1) AS n | filter: {WINDOW} | sort: t",
    f"dimensions: span_attributes.name AS name | measures: count(1) AS calls, sum({ERR}) AS errors, "
    f"sum({ERR}) / count(1) AS error_rate, sum({ERR}) / count(1) * count(1) AS blast | filter: {WINDOW} "
    "| sort: blast desc, calls desc | limit: 25",
    f"dimensions: day(created) AS d, span_attributes.type AS type | measures: count(1) AS n, "
    f"sum(error IS NULL ? 1 : 0) / count(1) AS ok | filter: span_attributes.type = 'tool' AND {ALIGNED} | sort: d, type",
    "dimensions: hour(created) AS t | measures: percentile(latency, 0.5) AS p50, percentile(latency, 0.95) AS p95, "
    f"percentile(latency, 0.99) AS p99 | filter: latency IS NOT NULL AND {WINDOW} | sort: t",
    "dimensions: hour(created) AS t, metadata.model AS model | measures: sum(metrics.prompt_tokens) AS pt, "
    "sum(metrics.completion_tokens) AS ct, sum(metrics.prompt_tokens + metrics.completion_tokens) AS total, "
    f"avg(metrics.prompt_tokens) AS apt, count(metrics.prompt_tokens) AS n | filter: span_attributes.type = 'llm' AND {WINDOW} "
    "| sort: t, model",
    f"dimensions: metadata.model AS model | measures: sum(metrics.estimated_cost) AS cost, count(1) AS calls, "
    f"min(metrics.estimated_cost) AS lo, max(metrics.estimated_cost) AS hi | filter: {WINDOW} | sort: cost desc | limit: 50",
    "dimensions: hour(created) AS t | measures: count(1) AS incidents | filter: (error ILIKE '%context%length%' "
    f"OR error ILIKE '%too many tokens%') AND {WINDOW} | sort: t",
    "measures: count(1) AS n, avg(latency) AS lat, sum(latency) AS total_lat, avg(scores.acc) AS acc, "
    f"max(scores.acc) AS best | filter: {WINDOW}",
    f"dimensions: week(created) AS w, is_root AS root | measures: count(1) AS n, avg(metrics.end - metrics.start) AS d "
    f"| filter: {ALIGNED} | sort: w, root",
    "dimensions: month(created) AS m | measures: count(1) AS n | filter: error IS NOT NULL",
    f"dimensions: span_attributes.name AS name | measures: count(1) AS n | filter: {WINDOW} AND "
    "span_attributes.name IN ['search', 'fetch'] AND metrics.prompt_tokens IS NOT NULL | sort: name",
    "dimensions: hour(created) AS t | measures: count(1) AS n | filter: created > '2026-11-20T05:00:00Z' AND "
    "created <= '2026-11-20T09:00:00Z' | sort: t",
    "dimensions: span_attributes.name AS name | measures: count(1) AS n, sum(metrics.prompt_tokens) AS pt "
    "| sort: n desc, name",
    f"dimensions: classifications.Intent[0].label AS intent | measures: count(1) AS n, sum({ERR}) AS errs "
    f"| filter: {WINDOW} | sort: intent",
    f"dimensions: classifications.Intent.label AS intent, classifications.Sentiment[0].label AS s "
    f"| measures: count(1) AS n | filter: {WINDOW} | sort: intent, s",
    f"dimensions: day(created) AS d | measures: count(1) AS n | filter: classifications.Intent[0].label = 'refund' "
    f"AND {ALIGNED} | sort: d",
    "dimensions: hour(created) AS t | measures: count(1) AS n | filter: created >= '2026-11-20T10:00:00Z' "
    "AND created <= '2026-11-20T13:59:59.999999Z' | sort: t",
    "dimensions: intent AS i | measures: count(1) AS n",
]

NOT_COVERED = [
    f"dimensions: metadata.user AS u | measures: count(1) AS n | filter: {WINDOW}",
    f"dimensions: hour(created) AS t | measures: count_distinct(root_span_id) AS n | filter: {WINDOW}",
    f"dimensions: minute(created) AS t | measures: count(1) AS n | filter: {WINDOW}",
    f"dimensions: hour(created) AS t | measures: percentile(metrics.prompt_tokens, 0.5) AS n | filter: {WINDOW}",
    f"dimensions: hour(created) AS t | measures: count(1) AS n | filter: metrics.prompt_tokens > 100 AND {WINDOW}",
    f"dimensions: hour(created) AS t | measures: max(latency) AS n | filter: {WINDOW}",
    "dimensions: hour(created) AS t | measures: count(1) AS n | filter: created > now() - interval 1 day OR is_root",
    f"dimensions: hour(created) AS t | measures: count(1) AS n | filter: input MATCH 'x' AND {WINDOW}",
    f"select: id | filter: {WINDOW}",
    f"dimensions: classifications.Intent[0].confidence AS c | measures: count(1) AS n | filter: {WINDOW}",
    f"dimensions: classifications.Intent AS c | measures: count(1) AS n | filter: {WINDOW}",
]


def _queries() -> list[str]:
    return COVERED


@pytest.mark.parametrize("q", _queries())
def test_covered_queries_answer_the_same_from_the_rollup(rolled: Any, q: str) -> None:
    e = rolled.e
    hours = clean_hours(e)
    assert len(hours) == HOURS
    raw, eligible, used = _run(e, q, None)
    assert eligible and not used
    fast, eligible, used = _run(e, q, hours)
    assert eligible and used
    assert raw, q
    assert _same(raw, fast), (q, raw[:3], fast[:3])


@pytest.mark.parametrize("q", NOT_COVERED)
def test_queries_the_rollup_cannot_answer_read_raw_rows(rolled: Any, q: str) -> None:
    e = rolled.e
    _, eligible, used = _run(e, q, clean_hours(e))
    assert not eligible and not used


@pytest.mark.parametrize("tz", [0, -120, 300])
def test_whole_hour_time_zones_bucket_the_same(rolled: Any, tz: int) -> None:
    e = rolled.e
    q = f"dimensions: day(created) AS d | measures: count(1) AS n, sum({ERR}) AS errs | filter: {WINDOW} | sort: d"
    raw, _, _ = _run(e, q, None, tz)
    fast, eligible, used = _run(e, q, clean_hours(e), tz)
    assert eligible and used and _same(raw, fast)
    _, eligible, _ = _run(e, q, clean_hours(e), 90)  # a half-hour offset splits hours
    assert not eligible


def test_rows_changed_after_the_rollup_make_their_hour_dirty(rolled: Any) -> None:
    e, rng, spans = rolled.e, rolled.rng, rolled.spans
    before = clean_hours(e)
    victims = rng.sample(spans, 20)
    rolled.write([dict(_span(rng, int(s["id"][1:])), created=s["created"]) for s in victims], 3000)
    dirty_hours = {
        int(s["created"].replace(minute=0, second=0, microsecond=0, tzinfo=dt.UTC).timestamp())
        for s in victims
    }
    after = clean_hours(e)
    assert {h.hour_us // 1_000_000 for h in after} == {h.hour_us // 1_000_000 for h in before} - dirty_hours
    for q in _queries():
        raw, _, _ = _run(e, q, None)
        fast, _, used = _run(e, q, after)
        assert used and _same(raw, fast), q
    refresh_all(e)
    assert len(clean_hours(e)) == HOURS
    for q in _queries()[:4]:
        raw, _, _ = _run(e, q, None)
        fast, _, _ = _run(e, q, clean_hours(e))
        assert _same(raw, fast), q


def test_a_stale_list_of_hours_reads_each_listed_computation_once(rolled: Any) -> None:
    """An hour recomputed after the list was fetched is read as of the listed computation (the
    newer one is not added to it), so nothing is counted twice."""
    e, rng, spans = rolled.e, rolled.rng, rolled.spans
    q = _queries()[0]
    raw_before, _, _ = _run(e, q, None)
    listed = clean_hours(e)
    victims = rng.sample(spans, 5)
    rolled.write([dict(s, span_attributes={"name": "moved", "type": "tool"}) for s in victims], 4000)
    refresh_all(e)
    fast, _, used = _run(e, q, listed)
    assert used and _same(raw_before, fast)


def test_the_rollup_is_scoped_to_the_org_and_project(rolled: Any) -> None:
    e = rolled.e
    q = f"dimensions: error AS e | measures: count(1) AS n | filter: {WINDOW} | sort: e"
    data, _, used = _run(e, q, clean_hours(e))
    assert used and not any("SECRET" in str(r) for r in data)
    other = Scope.project_logs("o2", "p1")
    cq = compile_query(FROM + q, other, db=e.db, rollup_hours=clean_hours(e))
    assert "org_id = {s_org:String}" in cq.sql and cq.params["s_org"] == "o2"


def test_an_hour_aligned_range_within_clean_hours_reads_no_raw_rows(rolled: Any) -> None:
    e = rolled.e
    q = (
        "dimensions: hour(created) AS t | measures: count(1) AS n, sum(metrics.prompt_tokens) AS pt "
        "| filter: created >= '2026-11-20T02:00:00Z' AND created < '2026-11-21T05:00:00Z' | sort: t"
    )
    cq = compile_query(FROM + q, SCOPE, db=e.db, rollup_hours=clean_hours(e))
    assert cq.rollup_used and ".spans" not in cq.sql  # the whole range is pre-aggregated
    raw, _, _ = _run(e, q, None)
    fast, _, _ = _run(e, q, clean_hours(e))
    assert len(raw) == 27 and _same(raw, fast)
    # one minute past an hour at the end: that hour's rows are read raw
    partial = q.replace("05:00:00Z", "05:01:00Z")
    cq = compile_query(FROM + partial, SCOPE, db=e.db, rollup_hours=clean_hours(e))
    assert ".spans" in cq.sql
    raw, _, _ = _run(e, partial, None)
    fast, _, _ = _run(e, partial, clean_hours(e))
    assert len(raw) == 28 and _same(raw, fast)
