"""Hostile and random input: every query either returns correct rows of the caller's scope or
fails with a classified BtqlError. User text never reaches the SQL text; another org's rows
(seeded with the same project/experiment ids, marked SECRET) never come back."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopline.btql import BtqlError, ParseError, Scope, compile_query, parse
from loopline.btql.unparse import quote_string

LOGS = Scope.project_logs("o1", "p1")

HOSTILE = [
    "'; DROP TABLE spans; --",
    "' OR 1=1 --",
    "\\' OR org_id != '' --",
    '" OR "1"="1',
    "{p0:String}",
    "{s_org:String}",
    "}) OR (1=1",
    "/* comment */",
    "-- comment",
    "\\",
    "\\\\'",
    "%_\\%",
    "\x00\x01\x7f",
    "emoji 🤖 ünïcödé 中文 \u202e",
    "line\nbreak\r\ttab",
    "`backtick`",
    "SECRET",
    "a" * 20_000,
    "o2",
    "' UNION ALL SELECT * FROM system.tables --",
]


def _check_rows(data: list[dict[str, Any]]) -> None:
    text = json.dumps(data, default=str)
    assert "SECRET-" not in text and "SECRET How" not in text
    for r in data:
        if "org_id" in r:
            assert r["org_id"] == "o1"
        if "project_id" in r:
            assert r["project_id"] == "p1"


def run_safely(engine: Any, q: Any, scope: Scope = LOGS) -> list[dict[str, Any]] | None:
    """Compile + run; a BtqlError is fine, anything else fails the test."""
    try:
        cq = compile_query(q, scope, db=engine.db)
    except BtqlError as e:
        assert e.error_class in ("ParseError", "BindError", "TypeError", "LintError", "ScopeError")
        assert isinstance(e.to_json()["error"]["message"], str)
        return None
    res = engine.client.query(cq.sql, parameters=cq.params, settings=cq.settings)
    page = cq.finish(list(res.column_names), list(res.result_rows))
    _check_rows(page.data)
    return page.data


@pytest.mark.parametrize("v", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_string_literals(engine: Any, v: str) -> None:
    lit = quote_string(v)
    queries = [
        f"select: id, org_id, project_id | from: project_logs('p1') | filter: input = {lit}",
        f"select: id, org_id, project_id | from: project_logs('p1') | filter: metadata.model = {lit} or id = {lit}",
        f"select: id, org_id, project_id | from: project_logs('p1') | filter: input ILIKE {lit} and tags includes {lit}",
        f"select: id, org_id, project_id | from: project_logs('p1') | filter: input MATCH {lit}",
        f"select: id, org_id, project_id, {lit} as x | from: project_logs('p1') | filter: metadata.model IN [{lit}, 'gpt-4']",
        f"select: id, org_id, project_id | from: project_logs('p1') | filter: created > {lit}",
        f"select: id, json_extract(input, {lit}) as j | from: project_logs('p1')",
        f"select: id, org_id, project_id, metadata.\"{v.replace(chr(34), chr(34) * 2)}\" as m | from: project_logs('p1')",
        f"select: id, org_id, project_id, scores.\"{v.replace(chr(34), chr(34) * 2)}\" as s | from: project_logs('p1')",
        f"select: id, org_id, project_id | from: project_logs('p1') | unpivot: scores as (k, v) | filter: k = {lit}",
        f"dimensions: metadata.model as m | measures: count(1) as n | from: project_logs('p1') | filter: search({lit})",
    ]
    for q in queries:
        try:
            cq = compile_query(q, LOGS, db=engine.db)
        except BtqlError:
            continue
        if len(v) >= 2 and v != "o2" and not v.startswith("{"):
            assert v not in cq.sql, q
        data = run_safely(engine, q)
        assert data is not None
        assert not any(r.get("id", "").startswith("SECRET") for r in data)


@pytest.mark.parametrize("v", HOSTILE[:10], ids=range(10))
def test_hostile_identifiers_aliases_sources_and_cursors(engine: Any, v: str) -> None:
    dq = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    bq = "`" + v.replace("`", "``") + "`"
    for q in [
        f"select: id as {dq} | from: project_logs('p1')",
        f"select: {bq}.x | from: project_logs('p1')",
        f"select: id | from: project_logs({quote_string(v)})",
        f"select: id | from: project_logs('p1') | cursor: {quote_string(v)}",
        f"select: id | from: project_logs('p1') | sort: metadata.{dq} desc",
        f"dimensions: metadata.{dq} as {dq} | measures: count(1) as n | from: project_logs('p1')",
    ]:
        try:
            cq = compile_query(q, LOGS, db=engine.db)
        except BtqlError:
            continue
        assert v not in cq.sql or len(v) < 2 or v.startswith("{")
        run_safely(engine, q)
    # a source id that is not the authorized one is a ScopeError, never a read
    from loopline.btql import ScopeError

    with pytest.raises((ScopeError, BtqlError)):
        compile_query(f"select: id | from: project_logs({quote_string(v)})", LOGS)


def test_user_aliases_never_reach_sql() -> None:
    cq = compile_query(
        "select: id as \"x` FROM system.users --\" | from: project_logs('p1') | filter: created > now()", LOGS
    )
    assert "system" not in cq.sql and cq.columns[0].name == "x` FROM system.users --"


def test_database_name_is_validated() -> None:
    with pytest.raises(ValueError):
        compile_query("select: id | from: project_logs('p1')", LOGS, db="x; DROP TABLE y")


@pytest.mark.parametrize(
    "q",
    [
        "select: id | from: project_logs('p1') | filter: " + "(" * 500 + "true" + ")" * 500,
        "select: id | from: project_logs('p1') | filter: " + "not " * 300 + "true",
        "select: id | from: project_logs('p1') | filter: " + " + ".join(["1"] * 400) + " > 0",
        "select: id | from: project_logs('p1') | filter: " + "x" * 200_000,
        "select: id | from: project_logs('p1') | filter: scores.a > " + "9" * 5000,
        "select: id | from: project_logs('p1') | filter: scores.a > 1e999",
        "select: id | from: project_logs('p1') | filter: tags[" + "9" * 40 + "] = 'a'",
        "select: id | from: project_logs('p1') | limit: " + "9" * 40,
    ],
)
def test_huge_and_deep_inputs_are_clean_errors(q: str) -> None:
    with pytest.raises(BtqlError):
        compile_query(q, LOGS)


def test_wide_but_shallow_queries_compile(engine: Any) -> None:
    ors = " or ".join(f"id = 'x{i}'" for i in range(3000))
    data = run_safely(engine, f"select: id | from: project_logs('p1') | filter: {ors} or id = 'a1'")
    assert data == [{"id": "a1"}]
    big_in = "[" + ", ".join(quote_string(f"v{i}") for i in range(5000)) + ", 'a1']"
    data = run_safely(engine, f"select: id | from: project_logs('p1') | filter: id IN {big_in}")
    assert data == [{"id": "a1"}]
    data = run_safely(
        engine, f"select: id | from: project_logs('p1') | filter: input = {quote_string('x' * 60_000)}"
    )
    assert data == []


# ----------------------------------------------------------------------------------- fuzzing


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_parser_never_crashes_on_random_text(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse(text)


_TOKENS = [
    "select:",
    "from:",
    "filter:",
    "sort:",
    "limit:",
    "|",
    "project_logs('p1')",
    "traces",
    "summary",
    "*",
    ",",
    "(",
    ")",
    "[",
    "]",
    ".",
    "'x'",
    '"y"',
    "1",
    "-2",
    "0.5",
    "and",
    "or",
    "not",
    "=",
    "!=",
    "<",
    ">=",
    "<=>",
    "like",
    "ilike",
    "match",
    "in",
    "includes",
    "is",
    "null",
    "true",
    "?",
    ":",
    "+",
    "-",
    "*",
    "/",
    "%",
    "id",
    "scores",
    "metadata",
    "tags",
    "created",
    "count",
    "avg",
    "interval",
    "day",
    "as",
    "desc",
    "--",
    "'",
    '"',
    "`",
    "\\",
    "\n",
    "any_span",
    "now()",
    "dimensions:",
    "measures:",
    "SELECT",
    "FROM",
    "WHERE",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=30))
def test_token_soup_is_parse_or_classified_error(tokens: list[str]) -> None:
    text = " ".join(tokens)
    with contextlib.suppress(BtqlError):
        compile_query(text, LOGS)


# Well-formed random expressions: compile, then run on ClickHouse without any runtime error.
_FIELDS = [
    "id",
    "input",
    "output",
    "error",
    "metadata.model",
    "metadata.user.name",
    "metadata.version",
    "scores.Factuality",
    'scores."email sent"',
    "metrics.tokens",
    "tags",
    "tags[0]",
    "created",
    "is_root",
    "_xact_id",
    "span_attributes.type",
    "metadata.models[-1].name",
    "latency",
    "expected",
    "root_span_id",
]
_hostile_str = st.sampled_from(HOSTILE[:-3]) | st.text(max_size=12)
_lit = st.one_of(
    _hostile_str.map(quote_string),
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(float(f))),
    st.sampled_from(["true", "false", "null"]),
)


def _expr(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(_FIELDS), _lit)
    if depth <= 0:
        return leaf
    sub = _expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["=", "!=", "<", ">=", "<=>", "+", "-", "*", "/", "%"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(sub, st.sampled_from(["and", "or"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["LIKE", "ILIKE", "MATCH", "includes", "NOT LIKE"]), _hostile_str).map(
            lambda t: f"({t[0]} {t[1]} {quote_string(t[2])})"
        ),
        st.tuples(sub, st.lists(_hostile_str, max_size=3)).map(
            lambda t: f"({t[0]} IN [{', '.join(quote_string(x) for x in t[1])}])"
        ),
        sub.map(lambda s: f"({s} IS NOT NULL)"),
        sub.map(lambda s: f"(NOT {s})"),
        st.tuples(sub, sub, sub).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        st.tuples(
            st.sampled_from(["lower", "upper", "len", "day", "to_string", "to_number", "coalesce", "round"]),
            sub,
        ).map(lambda t: f"{t[0]}({t[1]})"),
        sub.map(lambda s: f"any_span({s})"),
    )


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(_expr(3), st.sampled_from(["", " traces", " summary"]))
def test_random_filters_run_or_fail_cleanly(engine: Any, expr: str, shape: str) -> None:
    cols = "id, org_id, project_id" if shape != " summary" else "id, project_id"
    run_safely(engine, f"select: {cols} | from: project_logs('p1'){shape} | filter: {expr} | limit: 50")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(_expr(2), _expr(2))
def test_random_select_and_aggregates_run_or_fail_cleanly(engine: Any, a: str, b: str) -> None:
    run_safely(
        engine,
        f"select: id, org_id, project_id, {a} as a, {b} as b | from: project_logs('p1') | sort: a desc | limit: 20",
    )
    run_safely(
        engine,
        f"dimensions: {a} as a | measures: count(1) as n, avg({b}) as b, max({b}) as m | from: project_logs('p1')",
    )


_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_json = st.recursive(
    _json_leaf,
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "op",
                    "left",
                    "right",
                    "expr",
                    "name",
                    "value",
                    "children",
                    "args",
                    "btql",
                    "select",
                    "from",
                    "filter",
                ]
            ),
            c,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_random_json_ast_is_classified(obj: Any) -> None:
    with contextlib.suppress(BtqlError):
        compile_query(
            obj
            if isinstance(obj, dict)
            else {
                "filter": obj,
                "from": {
                    "op": "function",
                    "name": {"op": "ident", "name": ["project_logs"]},
                    "args": [{"op": "literal", "value": "p1"}],
                },
            },
            LOGS,
        )


@pytest.mark.parametrize("args", [1.5, "p1", {"op": "literal", "value": "p1"}, True])
def test_a_from_function_whose_args_are_not_a_list_is_a_parse_error(args: Any) -> None:
    query = {
        "select": [{"op": "star"}],
        "from": {"op": "function", "name": {"op": "ident", "name": ["project_logs"]}, "args": args},
    }
    with pytest.raises(ParseError, match="args must be a list"):
        compile_query(query, LOGS)
