"""Parser: both text syntaxes, lexical details, the JSON AST, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loopline.btql import ParseError, parse, query_to_json
from loopline.btql import ast as A
from loopline.btql.json_ast import query_from_json
from loopline.btql.parser import detect_syntax, parse_expr
from loopline.btql.unparse import quote_string, to_text


def f(text: str) -> A.Expr:
    q = parse(f"select: * | from: project_logs('p') | filter: {text}")
    assert q.filter is not None
    return q.filter


def test_separators_order_comments_and_case() -> None:
    a = parse("select: id | from: project_logs('p') | filter: a = 1 | sort: created desc | limit: 5")
    b = parse(
        "SELECT: id\nFROM: project_logs('p')  -- source\n| filter: a = 1 /* block */\nsort:created DESC\nlimit :5"
    )
    c = parse("limit: 5 sort: created desc filter: a = 1 from: project_logs('p') select: id")
    d = parse("| select: id\n| from: project_logs('p')\n| filter: a = 1\n| sort: created desc\n| limit: 5")
    assert a == b == c == d
    assert a.syntax == "btql" and a.limit == 5 and a.sort == (A.SortItem(A.Ident(path=("created",)), "desc"),)


def test_keywords_are_contextual() -> None:
    q = parse(
        "select: metadata.select, metadata.limit as from_, metadata.and | from: project_logs('p') | filter: metadata.filter = 1"
    )
    assert [it.expr for it in q.select or ()] == [  # type: ignore[union-attr]
        A.Ident(path=("metadata", "select")),
        A.Ident(path=("metadata", "limit")),
        A.Ident(path=("metadata", "and")),
    ]
    assert f("x ? limit : sort") == A.If(
        conds=((A.Ident(path=("x",)), A.Ident(path=("limit",))),), else_=A.Ident(path=("sort",))
    )


def test_literals() -> None:
    assert f("a = 'it''s'") == A.Binary("eq", A.Ident(path=("a",)), A.Literal("it's"))
    assert f('a = "say \\"hi\\"\\n\\u00e9"').right == A.Literal('say "hi"\né')  # type: ignore[attr-defined]
    assert f("a = 'back\\slash'").right == A.Literal("back\\slash")  # type: ignore[attr-defined]
    assert f("a = -1.5e3").right == A.Literal(-1500.0)  # type: ignore[attr-defined]
    assert f("a IN [1, 2.5, -3]").right == A.Array(items=(A.Literal(1), A.Literal(2.5), A.Literal(-3)))  # type: ignore[attr-defined]
    assert f("a = TRUE or b = null").args[1].right == A.Literal(None)  # type: ignore[attr-defined]
    assert f("created > now() - INTERVAL 3600 SECOND").right.right == A.Interval(value=3600, unit="second")  # type: ignore[attr-defined]
    assert f("created > now() - interval 2 days").right.right == A.Interval(value=2, unit="day")  # type: ignore[attr-defined]


def test_paths() -> None:
    assert f('metadata."field name".x[0][-1] = 1').left == A.Ident(  # type: ignore[attr-defined]
        path=("metadata", "field name", "x", 0, -1)
    )
    assert f("`weird key`.a = 1").left == A.Ident(path=("weird key", "a"))  # type: ignore[attr-defined]
    assert f("metadata['k'] = 1").left == A.Ident(path=("metadata", "k"))  # type: ignore[attr-defined]


def test_precedence() -> None:
    assert to_text(f("not a = 1 and b or c")) == "(((NOT (a = 1)) AND b) OR c)"
    assert to_text(f("a + b * c - -d > 2")) == "(((a + (b * c)) - (-d)) > 2)"
    assert to_text(f("a ? b : c ? d : e")) == "(a ? b : c ? d : e)"
    assert to_text(f("NOT tags includes 'x'")) == "(NOT (tags INCLUDES 'x'))"
    assert to_text(f("a NOT LIKE 'x' and b NOT IN [1] and c IS NOT NULL")) == (
        "((NOT (a LIKE 'x')) AND (NOT (b IN [1])) AND (c IS NOT NULL))"
    )


def test_functions_and_wrappers() -> None:
    assert f("count(DISTINCT a) > 1") == A.Binary(
        "gt", A.Call("count", (A.Ident(path=("a",)),), distinct=True), A.Literal(1)
    )
    assert f("ANY_SPAN(x) and Filter_Spans(y)").args[0] == A.Call("any_span", (A.Ident(path=("x",)),))  # type: ignore[attr-defined]
    q = parse("select: count(*) as n | from: project_logs('p')")
    assert q.select == (A.AliasExpr(A.Call("count", (A.Star(),)), "n"),)


def test_clause_bodies() -> None:
    q = parse(
        "from: experiment('a', 'b') summary | unpivot: scores as (k, v), tags as (t) | sample: 10% seed 3 | "
        'preview_length: -1 | pivot: x | dimensions: k | measures: sum(v) as x | cursor: "abc" | final_filter: x > 1'
    )
    assert q.from_ == A.Source("experiment", (A.Literal("a"), A.Literal("b")), shape="summary")
    assert q.unpivot == (
        A.Unpivot(A.Ident(path=("scores",)), ("k", "v")),
        A.Unpivot(A.Ident(path=("tags",)), ("t",)),
    )
    assert q.sample == A.Sample(rate=0.1, seed=3) and q.preview_length == -1 and q.cursor == "abc"
    assert parse("select: * | from: project_logs('p') | sample: 50").sample == A.Sample(count=50)


def test_sql_syntax() -> None:
    q = parse(
        "SELECT metadata.model AS model, count(*) AS n, avg(scores.x) FROM project_logs('p', shape => 'traces') "
        "WHERE created > now() - interval 1 day GROUP BY metadata.model HAVING count(*) > 1 ORDER BY n DESC LIMIT 10 OFFSET 'cur';"
    )
    assert q.syntax == "sql" and q.shape == "traces" and q.limit == 10 and q.cursor == "cur"
    assert q.dimensions == (A.AliasExpr(A.Ident(path=("metadata", "model")), "model"),)
    assert [m.alias for m in q.measures or ()] == ["n", None]
    assert q.final_filter is not None and q.sort == (A.SortItem(A.Ident(path=("n",)), "desc"),)
    q = parse("select id from project_logs('p') UNPIVOT (tag FOR _ IN (tags))")
    assert q.unpivot == (A.Unpivot(A.Ident(path=("tags",)), ("tag",)),)
    assert detect_syntax("  -- c\n SELECT *") == "sql" and detect_syntax("select: *") == "btql"
    with pytest.raises(ParseError, match="GROUP BY"):
        parse("SELECT id, count(*) FROM project_logs('p') GROUP BY created")


def test_json_ast_from_sdk() -> None:
    q = parse(
        {
            "select": [{"op": "star"}],
            "from": {
                "op": "function",
                "name": {"op": "ident", "name": ["dataset"]},
                "args": [{"op": "literal", "value": "d"}],
            },
            "cursor": "c",
            "limit": 1000,
            "filter": {"btql": "metadata.category = 'premium'"},
            "sort": [{"expr": {"btql": "created"}, "dir": "desc"}],
            "sample": {"method": {"type": "count", "value": 5}, "seed": 1},
        }
    )
    assert q.syntax == "json" and q.from_ == A.Source("dataset", (A.Literal("d"),))
    assert q.filter == A.Binary("eq", A.Ident(path=("metadata", "category")), A.Literal("premium"))
    assert q.sample == A.Sample(count=5, seed=1)
    # JSON text is accepted too
    assert parse('{"from": {"op": "ident", "name": ["experiment"]}}').from_ == A.Source(
        "experiment", is_call=False
    )
    for bad in (
        {"nope": 1},
        {"filter": {"op": "eq"}},
        {"limit": "x"},
        {"filter": {"op": "literal", "value": {"a": 1}}},
    ):
        with pytest.raises(ParseError):
            parse(bad)


def test_error_expected_lists() -> None:
    with pytest.raises(ParseError) as info:
        parse("select: * | from: project_logs('p') | filter: a >")
    assert info.value.message == "unexpected end of query" and "a string" in info.value.expected


EXAMPLE_TEXTS = [
    "select: * | from: project_logs('p1') | filter: tags includes 'triage' and scores.Factuality > 0.8 | sort: created desc | limit: 10",
    "dimensions: metadata.model as model, day(created) as date | measures: count(1) as n, percentile(latency, 0.95) as p | from: project_logs('p')",
    "select: (scores.x > 0.9 ? 'a' : scores.x > 0.5 ? 'b' : 'c') as r, -metrics.t as neg | from: experiment('e') summary",
    "select: id | from: project_logs('p') traces | filter: any_span(error IS NOT NULL) and not any_span(is_root) | sample: 5% seed 2",
    "select: id, k | from: dataset('d') | unpivot: metadata as (k, v) | final_filter: k != 'x' | cursor: 'abc'",
]


@pytest.mark.parametrize("text", EXAMPLE_TEXTS)
def test_json_round_trip(text: str) -> None:
    q = parse(text)
    assert query_from_json(query_to_json(q)) == q


_FIELD = st.sampled_from(["id", "metadata.model", 'scores."a b"', "tags[0]", "metadata.x[-1].y", "created"])
_LIT = st.one_of(
    st.text(max_size=10).map(quote_string),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["true", "false", "null", "0.25"]),
)


def _expr(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(_FIELD, _LIT)
    if depth == 0:
        return leaf
    sub = _expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(
            sub,
            st.sampled_from(["=", "<>", "<=", "+", "*", "%", "and", "or", "LIKE", "MATCH", "includes"]),
            sub,
        ).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        sub.map(lambda s: f"({s})"),
        sub.map(lambda s: f"NOT {s}"),
        sub.map(lambda s: f"{s} IS NULL"),
        st.tuples(sub, sub).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        st.tuples(sub, sub, sub).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
    )


@settings(max_examples=300, deadline=None)
@given(_expr(3))
def test_unparse_is_a_fixed_point(text: str) -> None:
    try:
        e = parse_expr(text)
    except ParseError:
        return
    assert parse_expr(to_text(e)) == e
