"""Compiled queries executed on the embedded ClickHouse over the seeded data (see conftest)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from loopline.btql import Scope, compile_query

LOGS = Scope.project_logs("o1", "p1")
EXP = Scope.experiment("o1", "e1", "p1")
DS = Scope.dataset("o1", "d1", "p1")
P = "from: project_logs('p1')"


def ids(engine: Any, q: str | dict[str, Any], scope: Scope = LOGS, **kw: Any) -> list[str]:
    return [r["id"] for r in engine.run(q, scope, **kw).data]


def rows(engine: Any, q: str, scope: Scope = LOGS, **kw: Any) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = engine.run(q, scope, **kw).data
    return data


# ----------------------------------------------------------------------------------- basics


def test_select_star_shape_and_types(engine: Any) -> None:
    (r,) = rows(engine, f"select: * | {P} | filter: id = 'a1'")
    assert r["id"] == "a1" and r["log_id"] == "g" and r["project_id"] == "p1" and r["org_id"] == "o1"
    assert r["input"] == {"question": "How do I reset my password?"}
    assert r["output"] == "Click 'forgot password'"
    assert r["scores"] == {"Factuality": 0.9, "email sent": 1}
    assert r["tags"] == ["triage", "production"] and r["is_root"] is True and r["span_parents"] == []
    assert r["error"] is None and r["span_attributes"] == {"name": "chat", "type": "task"}
    assert isinstance(r["_xact_id"], str) and r["_xact_id"] == "1000"
    assert r["created"].endswith("Z") and dt.datetime.fromisoformat(r["created"][:-1])
    assert r["_pagination_key"].startswith("p") and r["_pagination_key"].endswith(":a1")
    assert "output" in r and "experiment_id" not in r


def test_dedup_final_and_deletes(engine: Any) -> None:
    # d1 was updated (env production → staging); d2 was deleted
    assert ids(engine, f"select: id | {P} | filter: id IN ['d1', 'd2']") == ["d1"]
    assert ids(engine, f"select: id | {P} | filter: metadata.env = 'production' | sort: id") == ["a1", "c1"]
    assert ids(engine, f"select: id | {P} | filter: metadata.env = 'staging' | sort: id") == ["b1", "d1"]


def test_tenant_and_project_isolation(engine: Any) -> None:
    got = rows(engine, f"select: * | {P} | filter: tags includes 'triage' or true | limit: 1000")
    assert got and all(r["org_id"] == "o1" and r["project_id"] == "p1" for r in got)
    assert "SECRET" not in repr(got)
    assert ids(engine, "select: id | from: project_logs('p2')", Scope.project_logs("o1", "p2")) == [
        "other-project"
    ]
    assert ids(engine, "select: id | from: project_logs('p1')", Scope.project_logs("o2", "p1"))[0].startswith(
        "SECRET"
    )


def test_json_paths(engine: Any) -> None:
    (r,) = rows(
        engine,
        f"select: metadata.user.name, metadata.models[0].name as m0, metadata.models[-1].name as mlast, "
        f'metadata.models[5].name as none, metadata."field name" as spaced, metadata."flue.instance_id" as flue, '
        f'input.question as q, tags[0] as t0, tags[-1] as tlast, tags[9] as t9, scores."email sent" as sent, '
        f"metrics.tokens as tok, span_attributes.type as type, facets.sentiment as sentiment, "
        f"classifications.Issues[1].label as issue | {P} | filter: id = 'a1'",
    )
    assert r == {
        "name": "ann",
        "m0": "m0",
        "mlast": "m1",
        "none": None,
        "spaced": "spaced",
        "flue": "f-1",
        "q": "How do I reset my password?",
        "t0": "triage",
        "tlast": "production",
        "t9": None,
        "sent": 1.0,
        "tok": 30.0,
        "type": "task",
        "sentiment": "positive",
        "issue": "login",
    }


def test_comparisons_and_predicates(engine: Any) -> None:
    def f(cond: str) -> list[str]:
        return ids(engine, f"select: id | {P} | filter: {cond} | sort: id")

    assert f("scores.Factuality > 0.5") == ["a1", "b2"]
    assert f("scores.Factuality >= 0.5 and scores.Factuality < 0.9") == ["a2", "b2"]
    assert f('metadata.model = "gpt-4"') == ["a1", "a2", "c1"]
    assert f("metadata.model != 'gpt-4'") == ["b1", "b2", "d1"]
    assert f("metadata.model IN ['gpt-3.5-turbo', 'claude']") == ["b1", "b2", "d1"]
    assert f("metadata.model NOT IN ['gpt-3.5-turbo', 'claude']") == ["a1", "a2", "c1"]
    assert f("error IS NOT NULL") == ["a3", "b1"]
    assert f("error IS NULL and is_root") == ["a1", "c1", "d1"]
    assert f("error.type = 'rate_limit'") == ["b1"]
    assert f("metadata.env <=> null") == ["a2", "a3", "b2"]
    assert f("metadata.env <!=> null and metadata.env != 'staging'") == ["a1", "c1"]
    assert f("span_parents != null") == ["a2", "a3", "b2"]
    assert f("metadata.version = 2") == ["a1", "b1"]  # number 2 and string "2" both coerce to 2
    assert f("metadata.version = '2'") == ["a1", "b1"]
    assert f("tags includes 'triage' and NOT tags includes 'triaged'") == ["a1"]
    assert f("tags contains 'feedback'") == ["b1"]
    assert f("contains(tags, 'feedback')") == f("INCLUDES(tags, 'feedback')") == ["b1"]  # function form
    assert f("input ILIKE '%PASSWORD%'") == ["a1", "a2"]
    assert f("input LIKE 'What%'") == ["b1"]
    assert f("metadata.description LIKE '%50\\% off%'") == ["c1"]
    assert f("metadata.description LIKE '%50\\%%' and not metadata.description LIKE '%60%'") == ["c1"]
    assert f("input = 'O''Brien said \"hi\"'") == ["d1"]
    assert f("span_attributes.type = 'llm' or span_attributes.name = 'lookup'") == ["a2", "a3", "b2"]
    # a null condition takes the else branch
    assert f("(scores.Factuality > 0.8 ? 'high' : 'low') = 'low'") == ["a2", "a3", "b1", "b2", "c1", "d1"]
    assert f("len(tags) = 2") == ["a1", "c1"]
    assert f("latency > 2") == ["a1", "b1", "b2"]
    assert f("coalesce(metadata.env, 'none') = 'none'") == ["a2", "a3", "b2"]
    assert f("created > now() - interval 1 day") == ["a1", "a2", "a3", "d1"]
    assert f("created < now() - interval 7 day and created > now() - interval 2 month") == ["c1"]
    assert f("created + interval 30 day < now()") == ["c1"]
    assert f("created > now() - to_interval('1 day')") == f("created > now() - to_interval('24 Hours')")
    assert f("created + to_interval(interval 30 day) < now()") == ["c1"]
    assert f("root_span_id IN ['s_b1']") == ["b1", "b2"]
    assert f("_xact_id >= '2000'") == ["d1"]
    assert f("_xact_id = 1000 and id = 'a1'") == ["a1"]


def test_match_and_search(engine: Any) -> None:
    def f(cond: str) -> list[str]:
        return ids(engine, f"select: id | {P} | filter: {cond} | sort: id")

    assert f("input MATCH 'recursion'") == ["c1"]
    assert f("input MATCH 'RESET Password'") == ["a1", "a2"]  # case-insensitive, all tokens
    assert f("input MATCH 'reset weather'") == []
    assert f("input MATCH 'recurs'") == []  # whole tokens only
    assert f("output MATCH 'forgot'") == ["a1", "a2"]
    assert f("metadata MATCH 'staging'") == ["b1", "d1"]
    assert f("tags MATCH 'feedback'") == ["b1"]
    assert f("input NOT MATCH 'password'") == ["a3", "b1", "b2", "c1", "d1"]
    assert f("search('weather')") == ["b1", "b2"]
    assert f("search('lookup')") == ["a3"]  # span_attributes
    assert f("input MATCH '!!!'") == []
    # SQL syntax: MATCH(columns) AGAINST (query) is a MATCH on any of the columns
    sql = "SELECT id FROM project_logs('p1') WHERE MATCH(input, metadata) AGAINST ('{}') ORDER BY id"
    assert [r["id"] for r in rows(engine, sql.format("staging"))] == ["b1", "d1"]
    assert [r["id"] for r in rows(engine, sql.format("recursion"))] == ["c1"]
    assert f("input MATCH 'recursion' or metadata MATCH 'recursion'") == ["c1"]


def test_functions(engine: Any) -> None:
    (r,) = rows(
        engine,
        "select: day(created) as d, hour(created) as h, date_trunc('month', created) as m, "
        "round(scores.Factuality * 3, 2) as r, lower(concat(metadata.model, '-', metadata.env)) as k, "
        "to_number(metadata.version) as v, to_string(scores.Factuality) as s, to_integer('42') as i, "
        "least(scores.Factuality, 0.5) as lo, greatest(scores.Factuality, 0.95) as hi, "
        "nullif(metadata.env, 'production') as n, json_extract(input, 'question') as jq, "
        "estimated_cost() as cost, upper(input.question) as up, to_boolean('true') as b, "
        "created - created as zero, len(metadata.models) as nm, len(input.question) as nq "
        f"| {P} | filter: id = 'a1'",
    )
    created = rows(engine, f"select: created | {P} | filter: id = 'a1'")[0]["created"]
    assert r["d"] == created[:10] + "T00:00:00.000000Z"
    assert r["h"] == created[:13] + ":00:00.000000Z"
    assert r["m"] == created[:8] + "01T00:00:00.000000Z"
    assert r["r"] == 2.7 and r["k"] == "gpt-4-production" and r["v"] == 2.0 and r["s"] == "0.9"
    assert r["i"] == 42 and r["lo"] == 0.5 and r["hi"] == 0.95 and r["n"] is None
    assert r["jq"] == "How do I reset my password?" and r["cost"] == 0.01
    assert r["up"] == "HOW DO I RESET MY PASSWORD?" and r["b"] is True and r["zero"] == 0
    assert r["nm"] == 2 and r["nq"] == 27  # len of a JSON string is its length in characters


def test_tz_offset_bucketing(engine: Any) -> None:
    q = f"select: day(created) as d | {P} | filter: id = 'a1'"
    utc = rows(engine, q)[0]["d"]
    pst = rows(engine, q, tz_offset=480)[0]["d"]  # 8 hours behind UTC
    assert utc.endswith("T00:00:00.000000Z") and pst.endswith("T08:00:00.000000Z")


# ----------------------------------------------------------------------------------- aggregates


def test_group_by_measures(engine: Any) -> None:
    got = rows(
        engine,
        f"dimensions: metadata.model as model | measures: count(1) as n, avg(scores.Factuality) as avg, "
        f"count(error) as errors, count_distinct(root_span_id) as traces, max(_xact_id) as head, "
        f"min(created) as first, sum(metrics.tokens) as tokens | {P} | sort: model asc",
    )
    by = {r["model"]: r for r in got}
    assert list(by) == ["claude", "gpt-3.5-turbo", "gpt-4", None]
    assert by["gpt-4"]["n"] == 3 and by["gpt-4"]["avg"] == pytest.approx((0.9 + 0.5 + 0.2) / 3)
    assert by["gpt-3.5-turbo"]["errors"] == 1 and by[None]["errors"] == 1
    assert by["gpt-4"]["traces"] == 2 and by["claude"]["head"] == "2000"
    assert by["gpt-4"]["tokens"] == 60.0 and by["claude"]["tokens"] is None
    assert by["gpt-4"]["first"].endswith("Z")


def test_global_aggregate_final_filter_and_arith(engine: Any) -> None:
    (r,) = rows(
        engine,
        f"measures: count(1) as n, count(error) / count(1) as rate, percentile(scores.Factuality, 0.5) as p50 | {P}",
    )
    assert r["n"] == 7 and r["rate"] == pytest.approx(2 / 7) and r["p50"] == pytest.approx(0.5)
    got = rows(
        engine,
        f"{P} | dimensions: metadata.model as model | measures: avg(scores.Factuality) as s, count(1) as n "
        "| final_filter: n > 1 and s > 0.5 | sort: s desc",
    )
    assert got == [{"model": "gpt-3.5-turbo", "s": pytest.approx(0.5), "n": 2}] or got[0]["model"] == "gpt-4"
    got = rows(
        engine,
        f"{P} | dimensions: metadata.model as model | measures: count(1) as n | final_filter: n >= 2 | sort: n desc, model asc",
    )
    assert [(r["model"], r["n"]) for r in got] == [("gpt-4", 3), ("gpt-3.5-turbo", 2)]
    # SQL syntax, the same query
    got2 = rows(
        engine,
        "SELECT metadata.model AS model, count(*) AS n FROM project_logs('p1') GROUP BY 1 HAVING count(*) >= 2 ORDER BY n DESC, model ASC",
    )
    assert got2 == got


def test_time_buckets_and_ternary_in_aggregate(engine: Any) -> None:
    got = rows(
        engine,
        f"dimensions: day(created) as day | measures: count(1) as n, avg(scores.Factuality > 0.8 ? 1 : 0) as hq "
        f"| {P} | filter: created > now() - interval 3 day | sort: day asc",
    )
    assert sum(r["n"] for r in got) == 6
    assert all(r["day"].endswith("T00:00:00.000000Z") for r in got)


def test_any_value_and_dims_on_arrays(engine: Any) -> None:
    got = rows(
        engine,
        f"dimensions: tags[0] as tag | measures: count(1) as n, any_value(input) as ex | {P} | filter: tags[0] IS NOT NULL | sort: tag",
    )
    assert [(r["tag"], r["n"]) for r in got] == [("feedback", 1), ("triage", 2)]
    assert got[0]["ex"] == "What is the weather in Paris?"


def test_unpivot_and_pivot(engine: Any) -> None:
    got = rows(
        engine,
        f"select: id, score, value | {P} | unpivot: scores as (score, value) | filter: id = 'a1' | sort: score",
    )
    assert got == [
        {"id": "a1", "score": "Factuality", "value": 0.9},
        {"id": "a1", "score": "email sent", "value": 1.0},
    ]
    got = rows(engine, f"select: id, tag | {P} | unpivot: tags as (tag) | filter: id = 'a1'")
    assert sorted(r["tag"] for r in got) == ["production", "triage"]
    got = rows(
        engine,
        f"select: score, tag | {P} | unpivot: scores as (score, value), tags as (tag) | filter: id = 'a1'",
    )
    assert len(got) == 4
    got = rows(
        engine,
        f"dimensions: score | measures: avg(value) as v, count(1) as n | {P} | unpivot: scores as (score, value) | sort: score",
    )
    assert got[0]["score"] == "Factuality" and got[0]["n"] == 5
    got = rows(
        engine,
        f"dimensions: c.label as topic | measures: count(1) as n | {P} | unpivot: classifications.Issues as (c) | sort: topic",
    )
    assert got == [{"topic": "billing", "n": 1}, {"topic": "login", "n": 1}]
    got = rows(
        engine, f"select: id, k, v | {P} | unpivot: metadata as (k, v) | filter: id = 'a1' and k = 'user'"
    )
    assert got == [{"id": "a1", "k": "user", "v": {"name": "ann"}}]
    # pivot: one column per value of the last dimension
    got = rows(
        engine,
        f"dimensions: metadata.env as env, metadata.model as model | measures: count(1) as n | {P} | filter: metadata.env IS NOT NULL | pivot: n",
    )
    assert {r["env"]: {k: v for k, v in r.items() if k != "env"} for r in got} == {
        "production": {"gpt-4_n": 2},
        "staging": {"gpt-3.5-turbo_n": 1, "claude_n": 1},
    }
    got = rows(
        engine,
        f"dimensions: score | measures: sum(value) as s | {P} | unpivot: scores as (score, value) | pivot: s",
    )
    assert got == [{"Factuality_s": pytest.approx(2.6), "email sent_s": 1.0}]


# ----------------------------------------------------------------------------------- shapes


def test_traces_window_from_the_filters_time_bounds(engine: Any) -> None:
    base = "select: id | from: project_logs('p1') traces | filter: error IS NOT NULL and "
    both = base + "created > now() - interval 30 day and now() + interval 1 day > created"
    lower = base + "created > now() - interval 30 day"
    # constant bounds on both sides: the read window follows from them (no second trace search)
    assert "_win" not in compile_query(both, LOGS).sql and "_win" in compile_query(lower, LOGS).sql
    assert ids(engine, both) == ids(engine, lower) == ["a1", "a2", "a3", "b1", "b2"]
    assert ids(engine, base + "created > now() - interval 30 day and created < now() - interval 29 day") == []


def test_traces_shape(engine: Any) -> None:
    got_rows = rows(
        engine, "select: id, root_span_id | from: project_logs('p1') traces | filter: error IS NOT NULL"
    )
    # whole traces of matching spans: r2 (newest first by latest matching span? r1 is newer)
    assert [r["id"] for r in got_rows] == ["a1", "a2", "a3", "b1", "b2"]
    got = ids(
        engine,
        "select: id | from: project_logs('p1') traces | filter: any_span(tags includes 'triage') and any_span(error IS NOT NULL)",
    )
    assert got == ["a1", "a2", "a3"]
    # one span must satisfy everything: no single span of r1 has both
    assert (
        ids(
            engine,
            "select: id | from: project_logs('p1') traces | filter: any_span(tags includes 'triage' and error IS NOT NULL)",
        )
        == []
    )
    got = ids(
        engine,
        "select: id | from: project_logs('p1') traces | filter: created > now() - interval 3 day and FILTER_SPANS(span_attributes.type = 'llm')",
    )
    assert got == ["a2", "b2"]
    assert ids(
        engine,
        "select: id | from: project_logs('p1') traces | filter: any_span(is_root and error IS NOT NULL)",
    ) == ["b1", "b2"]
    assert ids(
        engine, "select: id | from: project_logs('p1') traces | filter: not any_span(error IS NOT NULL)"
    ) == ["d1", "c1"]
    # nested ANY_SPAN (flattened): traces with an llm span, in traces that have a tool span
    assert ids(
        engine,
        "select: id | from: project_logs('p1') traces | filter: any_span(span_attributes.type = 'llm' and any_span(span_attributes.type = 'tool'))",
    ) == ["a1", "a2", "a3"]
    # spans shape: ANY_SPAN restricts to spans of matching traces, FILTER_SPANS is a plain predicate
    assert ids(engine, f"select: id | {P} | filter: any_span(error.type = 'rate_limit') | sort: id") == [
        "b1",
        "b2",
    ]
    assert ids(engine, f"select: id | {P} | filter: filter_spans(is_root) | sort: id") == [
        "a1",
        "b1",
        "c1",
        "d1",
    ]


def test_traces_limit_counts_traces(engine: Any) -> None:
    pages = engine.all_pages("select: id | from: project_logs('p1') traces | limit: 1", LOGS)
    got = [[r["id"] for r in p.data] for p in pages]
    assert got == [["a1", "a2", "a3"], ["d1"], ["b1", "b2"], ["c1"]]
    assert pages[-1].cursor is None


def test_summary_shape(engine: Any) -> None:
    got = rows(engine, "select: * | from: project_logs('p1') summary")
    by = {r["root_span_id"]: r for r in got}
    assert list(by) == ["s_a1", "s_d1", "s_b1", "s_c1"]  # newest trace first
    r1 = by["s_a1"]
    assert r1["id"] == "a1" and r1["span_id"] == "s_a1" and r1["log_id"] == "g"
    assert r1["scores"] == {"Factuality": pytest.approx(0.7), "email sent": 1.0}
    m = r1["metrics"]
    assert m["llm_calls"] == 1 and m["tool_calls"] == 1 and m["errors"] == 1 and m["llm_errors"] == 0
    assert m["tool_errors"] == 1 and m["prompt_tokens"] == 20 and m["total_tokens"] == 60
    assert m["start"] == 1000.0 and m["end"] == 1002.5 and m["duration"] == 2.5 and m["llm_duration"] == 1.5
    assert m["time_to_first_token"] == pytest.approx(0.2) and m["estimated_cost"] == pytest.approx(0.03)
    assert r1["span_type_info"] == {"cached": False, "has_error": True, "name": "chat", "type": "task"}
    assert r1["input"] == {"question": "How do I reset my password?"} and r1["tags"] == [
        "triage",
        "production",
    ]
    # previews are truncated to preview_length (default 124)
    long = rows(
        engine,
        "select: input | from: project_logs('p1') summary | preview_length: 5 | filter: root_span_id = 's_c1'",
    )
    assert long == [{"input": '"Expl'}]
    # filter picks traces by any span; final_filter filters summary rows
    got = rows(
        engine,
        "select: root_span_id, metrics.llm_calls as llm | from: project_logs('p1') summary | filter: span_attributes.type = 'llm' | sort: root_span_id",
    )
    assert got == [{"root_span_id": "s_a1", "llm": 1}, {"root_span_id": "s_b1", "llm": 1}]
    got = rows(
        engine,
        "select: root_span_id | from: project_logs('p1') summary | final_filter: metrics.errors > 0 and scores.Factuality < 0.6",
    )
    assert got == [{"root_span_id": "s_b1"}]
    # trace-level analytics
    got = rows(
        engine,
        "dimensions: metadata.model as model | measures: count(1) as traces, avg(metrics.llm_calls) as llm | from: project_logs('p1') summary | sort: model",
    )
    assert [(r["model"], r["traces"]) for r in got] == [("claude", 1), ("gpt-3.5-turbo", 1), ("gpt-4", 2)]


# ----------------------------------------------------------------------------------- pagination


@pytest.mark.parametrize(
    "q",
    [
        f"select: id | {P} | limit: 2",
        f"select: id | {P} | sort: scores.Factuality desc | limit: 2",
        f"select: id | {P} | sort: scores.Factuality asc, id desc | limit: 3",
        f"select: id | {P} | sort: metadata.model desc | limit: 2",
        f"select: id | {P} | sort: _pagination_key asc | limit: 2",
        f"select: id | {P} | sort: is_root, created | limit: 2",
        f"select: id, k | {P} | unpivot: metadata as (k, v) | limit: 5",
    ],
)
def test_keyset_pagination_covers_everything_once(engine: Any, q: str) -> None:
    full = engine.run(q.rsplit("| limit:", 1)[0] + "| limit: 1000", LOGS).data
    pages = engine.all_pages(q, LOGS)
    got = [r for p in pages for r in p.data]
    assert got == full
    assert all(p.cursor for p in pages[:-1]) and pages[-1].cursor is None


def test_aggregate_and_summary_pagination(engine: Any) -> None:
    q = f"dimensions: metadata.model as m | measures: count(1) as n | {P} | limit: 1"
    pages = engine.all_pages(q, LOGS)
    assert [p.data[0]["m"] for p in pages] == ["claude", "gpt-3.5-turbo", "gpt-4", None]
    pages = engine.all_pages("select: root_span_id | from: project_logs('p1') summary | limit: 3", LOGS)
    assert [len(p.data) for p in pages] == [3, 1]


def test_cursor_is_bound_to_query_and_scope(engine: Any) -> None:
    from loopline.btql import BindError, compile_query

    page = engine.run(f"select: id | {P} | limit: 1", LOGS)
    assert page.cursor
    with pytest.raises(BindError, match="cursor"):
        compile_query(f"select: id, input | {P} | limit: 1 | cursor: '{page.cursor}'", LOGS)
    with pytest.raises(BindError, match="cursor"):
        compile_query(
            f"select: id | {P} | limit: 1 | cursor: '{page.cursor}'", Scope.project_logs("o2", "p1")
        )


# ----------------------------------------------------------------------------------- objects


def test_experiments(engine: Any) -> None:
    got = rows(engine, "select: id, experiment_id, output, expected | from: experiment('e1') | sort: id", EXP)
    assert got == [
        {"id": "x1", "experiment_id": "e1", "output": 2, "expected": 2},
        {"id": "x2", "experiment_id": "e1", "output": 4, "expected": 3},
    ]
    both = Scope.experiment("o1", ["e1", "e2"], "p1")
    got = rows(
        engine,
        "dimensions: experiment_id as e | measures: avg(scores.Accuracy) as acc | from: experiment('e1', 'e2') | sort: e",
        both,
    )
    assert got == [{"e": "e1", "acc": 0.5}, {"e": "e2", "acc": 0.5}]
    assert ids(engine, "select: id | from: experiment('e1') | filter: output = expected", EXP) == ["x1"]


def test_datasets_versions(engine: Any) -> None:
    q = "select: id, expected, _xact_id | from: dataset('d1') | sort: id"
    assert rows(engine, q, DS) == [
        {"id": "ra", "expected": "v2", "_xact_id": "200"},
        {"id": "rc", "expected": "c", "_xact_id": "250"},
    ]
    at150 = Scope.dataset("o1", "d1", "p1", version=150)
    assert rows(engine, q, at150) == [
        {"id": "ra", "expected": "v1", "_xact_id": "100"},
        {"id": "rb", "expected": "b", "_xact_id": "100"},
    ]
    at260 = Scope.dataset("o1", "d1", version=260)
    assert [r["id"] for r in rows(engine, q, at260)] == ["ra", "rb", "rc"]
    (r,) = rows(engine, "measures: max(_xact_id) as version, count(1) as count | from: dataset('d1')", DS)
    assert r == {"version": "250", "count": 2}
    (r,) = rows(engine, "select: * | from: project_dataset('p1', 'd1') | filter: id = 'rc'", DS)
    assert r["dataset_id"] == "d1" and r["input"] == "q-c" and "output" not in r


def test_sampling(engine: Any) -> None:
    assert ids(engine, f"select: id | {P} | sample: 0%") == []
    assert len(ids(engine, f"select: id | {P} | sample: 100%")) == 7
    assert len(ids(engine, f"select: id | {P} | sample: 3")) == 3
    a = ids(engine, f"select: id | {P} | sample: 50% seed 7")
    assert a == ids(engine, f"select: id | {P} | sample: 50% seed 7")  # deterministic per seed
    assert len(ids(engine, "select: id | from: project_logs('p1') traces | sample: 1")) in (1, 2, 3)


def test_json_ast_query(engine: Any) -> None:
    q = {
        "select": [{"op": "star"}],
        "from": {
            "op": "function",
            "name": {"op": "ident", "name": ["project_logs"]},
            "args": [{"op": "literal", "value": "p1"}],
        },
        "filter": {
            "op": "and",
            "children": [
                {
                    "op": "eq",
                    "left": {"op": "ident", "name": ["root_span_id"]},
                    "right": {"op": "literal", "value": "s_a1"},
                },
                {
                    "op": "or",
                    "children": [
                        {"op": "isnull", "expr": {"op": "ident", "name": ["span_attributes", "purpose"]}},
                        {
                            "op": "ne",
                            "left": {"op": "ident", "name": ["span_attributes", "purpose"]},
                            "right": {"op": "literal", "value": "scorer"},
                        },
                    ],
                },
                {
                    "op": "in",
                    "left": {"op": "ident", "name": ["span_attributes", "type"]},
                    "right": {"op": "literal", "value": ["llm", "tool"]},
                },
            ],
        },
        "sort": [{"expr": {"btql": "created"}, "dir": "asc"}],
        "limit": 1000,
    }
    assert ids(engine, q) == ["a2", "a3"]


def test_final_filter_on_row_aliases(engine: Any) -> None:
    got = ids(engine, f"select: id, scores.Factuality as f | {P} | final_filter: f > 0.5 | sort: f desc")
    assert got == ["a1", "b2"]
    # a select alias can be used in filter too (substituted)
    assert ids(engine, f"select: id, metadata.model as model | {P} | filter: model = 'claude'") == ["d1"]


def test_metadata_fast_path_matches_slow_path(engine: Any) -> None:
    from loopline.btql import parse, source_of
    from loopline.btql.binder import Binder
    from loopline.btql.compiler import compile_bound
    from loopline.btql.options import Limits

    for cond in [
        "metadata.model = 'gpt-4'",
        "metadata.version = 2",
        "metadata.version > 1",
        "metadata.model IN ['claude']",
        "metadata.user.name = 'ann'",
        "metadata.env != 'production'",
    ]:
        q = parse(f"select: id | {P} | filter: {cond} | sort: id")
        results = []
        for fast in (True, False):
            bq = Binder(q, source_of(q), fast_json=fast).bind()
            cq = compile_bound(
                bq, LOGS, limits=Limits(), db=engine.db, tz_offset=0, lint_mode="default", fingerprint="x"
            )
            assert ("metadata_json" in cq.sql) == fast
            res = engine.client.query(cq.sql, parameters=cq.params, settings=cq.settings)
            results.append(cq.finish(list(res.column_names), list(res.result_rows)).data)
        assert results[0] == results[1], cond


def test_summary_and_traces_variants_run(engine: Any) -> None:
    assert len(rows(engine, "select: root_span_id | from: project_logs('p1') summary | sample: 100%")) == 4
    assert len(rows(engine, "select: root_span_id | from: project_logs('p1') summary | sample: 2")) == 2
    assert len(ids(engine, "select: id | from: project_logs('p1') traces | sample: 0%")) == 0
    got = rows(engine, "select: id | from: dataset('d1') traces | filter: id = 'rc'", DS)
    assert got == [{"id": "rc"}]
    got = rows(
        engine,
        "dimensions: is_root as r | measures: count(1) as n | from: project_logs('p1') traces | filter: error.type = 'rate_limit' | sort: r",
    )
    assert got == [{"r": False, "n": 1}, {"r": True, "n": 1}]
    # summary sorted by a metric, paginated
    pages = engine.all_pages(
        "select: root_span_id, metrics.duration as d | from: project_logs('p1') summary | sort: metrics.duration desc | limit: 1",
        LOGS,
    )
    assert [p.data[0]["root_span_id"] for p in pages] == ["s_b1", "s_a1", "s_d1", "s_c1"]  # nulls last


def test_implicit_name_collisions(engine: Any) -> None:
    (r,) = rows(
        engine, f"select: metadata.model, span_attributes.name, metadata.user.name | {P} | filter: id = 'a1'"
    )
    assert r == {"model": "gpt-4", "span_attributes.name": "chat", "metadata.user.name": "ann"}
    (r,) = rows(engine, f"select: *, metadata.id | {P} | filter: id = 'a1'")
    assert r["id"] == "a1" and r["metadata.id"] is None


def test_match_uses_the_text_index(engine: Any) -> None:
    cq = engine.compile(f"select: id | {P} | filter: input MATCH 'Reset password'", LOGS)
    assert "hasAllTokens(lower(input), " in cq.sql
    plan = engine.client.query("EXPLAIN indexes=1 " + cq.sql, parameters=cq.params, settings=cq.settings)
    text = "\n".join(r[0] for r in plan.result_rows)
    assert "idx_input_lc" in text, text


# ------------------------------------------------------------------ infer / final stage / comparison_key


def test_infer_lists_paths_types_and_counts(engine: Any) -> None:
    got = rows(engine, f"infer: metadata, scores | {P}")
    by = {(r["name"], r["type"]): r["count"] for r in got}
    assert by[("metadata", "object")] == 6 and by[("metadata.model", "string")] == 6
    assert by[("scores", "object")] == 5 and by[("scores.Factuality", "number")] == 5
    assert by[("scores.email sent", "integer")] == 1 and by[("metadata.models", "array")] == 1
    # a path seen with two types is listed once per type
    assert by[("metadata.version", "integer")] == 1 and by[("metadata.version", "string")] == 1
    counts = [r["count"] for r in got]
    assert counts == sorted(counts, reverse=True)
    assert {tuple(r) for r in got} == {("name", "type", "count")}


def test_infer_budget_subpath_filter_and_limit(engine: Any) -> None:
    assert rows(engine, f"infer: metadata.user | {P}") == [
        {"name": "metadata.user", "type": "object", "count": 1},
        {"name": "metadata.user.name", "type": "string", "count": 1},
    ]
    # the budget bounds the rows sampled (newest first), limit the paths returned
    got = rows(engine, f"infer: * | {P} | inference_budget: 3 | limit: 4")
    assert len(got) == 4 and max(r["count"] for r in got) <= 3
    staged = rows(engine, f"infer: metadata | {P} | filter: metadata.env = 'staging'")
    assert {"name": "metadata.env", "type": "string", "count": 2} in staged


def test_final_dimensions_and_measures_aggregate_the_aggregate(engine: Any) -> None:
    per_env = {
        r["env"]: r["n"]
        for r in rows(engine, f"dimensions: metadata.env as env | measures: count(1) as n | {P}")
    }
    (r,) = rows(
        engine,
        f"dimensions: metadata.env as env | measures: count(1) as n | {P} "
        "| final_measures: avg(n) as avg_n, count(1) as groups, max(n) as most",
    )
    assert r == {
        "avg_n": pytest.approx(sum(per_env.values()) / len(per_env)),
        "groups": len(per_env),
        "most": max(per_env.values()),
    }
    # final_filter applies to the first stage; final dims group its rows; sort uses final names
    got = rows(
        engine,
        f"dimensions: metadata.env as env, id | measures: count(1) as n | {P} | final_filter: n >= 1 "
        "| final_dimensions: env | final_measures: sum(n) as total | sort: total desc, env",
    )
    assert {x["env"]: x["total"] for x in got} == per_env
    assert [x["total"] for x in got] == sorted(per_env.values(), reverse=True)


def test_comparison_key_column(engine: Any) -> None:
    got = rows(
        engine, f"select: id | {P} | filter: id IN ['a1', 'a2'] | comparison_key: input.question | sort: id"
    )
    assert got == [
        {"id": "a1", "comparison_key": "How do I reset my password?"},
        {"id": "a2", "comparison_key": None},
    ]


def test_sql_pivot_matches_btql_pivot(engine: Any) -> None:
    sql = rows(
        engine,
        "SELECT metadata.env AS env, span_attributes.type AS type, count(1) AS n FROM project_logs('p1') "
        "GROUP BY metadata.env, span_attributes.type PIVOT(n FOR span_attributes.type IN (ANY))",
    )
    btql = rows(
        engine,
        f"dimensions: metadata.env as env, span_attributes.type as type | measures: count(1) as n | {P} | pivot: n",
    )
    assert sql == btql and any("task_n" in r for r in sql)
    # the pivot column need not be the last GROUP BY key; the aggregate may be named in PIVOT
    swapped = rows(
        engine,
        "SELECT span_attributes.type, metadata.env AS env, count(1) FROM project_logs('p1') "
        "GROUP BY span_attributes.type, metadata.env PIVOT(count(1) AS n FOR type IN (ANY))",
    )
    assert sorted(map(repr, swapped)) == sorted(map(repr, btql))


def test_group_by_json_object_and_leaf_paths(engine: Any) -> None:
    got = rows(engine, f"dimensions: metadata.user as u | measures: count(1) as n | {P}")
    by = {repr(r["u"]): r["n"] for r in got}
    assert by["{'name': 'ann'}"] == 1 and "None" in by
    got = rows(
        engine,
        f"dimensions: metadata.version as v | measures: count(1) as n | {P} | filter: metadata.version IS NOT NULL",
    )
    assert sorted(repr(r["v"]) for r in got) == sorted(repr(v) for v in {r["v"] for r in got})
    assert len(got) == 2  # an integer and a string are different values


def test_numbers_and_integers_mixed_in_one_value(engine: Any) -> None:
    """A ternary, coalesce or greatest over a number and an integer is one Float64 (ClickHouse
    would make it a Variant(Float64, Int64), which avg refuses and greatest cannot form)."""
    got = rows(
        engine,
        "select: id, (true ? scores.Factuality : 0) as t, coalesce(scores.missing, 0) as c, "
        f"greatest(scores.Factuality, 1) as g | {P} | filter: id = 'a1'",
    )
    assert got == [{"id": "a1", "t": 0.9, "c": 0.0, "g": 1.0}]
    got = rows(
        engine,
        f"dimensions: id as a | measures: avg((true ? input : 0)) as b, max(least(scores.Factuality, 2)) as m | {P} "
        "| filter: id = 'a1'",
    )
    assert got == [{"a": "a1", "b": None, "m": 0.9}]


def test_a_facet_key_without_an_index_reads_the_first_item_or_the_logged_object(
    empty_engine: Any, make_row: Any
) -> None:
    # `classifications.Intent.label = 'refund'` as Topics filters: the classifier's array of items
    # (its first item is the decision) and a facet an SDK logged as an object both answer
    facets: dict[str, Any] = {
        "arr": {"Intent": [{"id": "i1", "label": "refund", "source": {"type": "model"}}]},
        "obj": {"Intent": {"label": "refund", "source": {"type": "human"}}},
        "other": {"Intent": [{"label": "cancel"}]},
        "second": {"Intent": [{"label": "other"}, {"label": "refund"}]},
        "none": {},
    }
    empty_engine.insert("spans", [make_row(id=k, extra={"classifications": v}) for k, v in facets.items()])
    assert sorted(
        ids(empty_engine, f"select: id | {P} | filter: classifications.Intent.label = 'refund'")
    ) == [
        "arr",
        "obj",
    ]
    got = rows(
        empty_engine,
        f"dimensions: classifications.Intent.label AS intent | measures: count(1) AS n | {P} | sort: intent",
    )
    assert got == [
        {"intent": "cancel", "n": 1},
        {"intent": "other", "n": 1},
        {"intent": "refund", "n": 2},
        {"intent": None, "n": 1},
    ]
    by_id = {
        r["id"]: r["t"]
        for r in rows(empty_engine, f"select: id, classifications.Intent.source.type AS t | {P}")
    }
    assert by_id == {"arr": "model", "obj": "human", "other": None, "second": None, "none": None}
