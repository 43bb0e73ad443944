"""Spec §11: deliberately invalid queries fail with the documented error class, a message and a
position; errors serialize to the 4xx body the service returns."""

from __future__ import annotations

import pytest
from loopline.btql import (
    BindError,
    BtqlError,
    BtqlTypeError,
    LintError,
    ParseError,
    Scope,
    ScopeError,
    compile_query,
    parse,
)

LOGS = Scope.project_logs("o1", "p1")

INVALID: list[tuple[int, str, type[BtqlError], str]] = [
    (1, "select: * | filter: scores.Factuality > 0.8", BindError, "from"),
    (
        2,
        "select: * | from: project_logs('p1') | filter: input ILIKE '%abc",
        ParseError,
        "unterminated string",
    ),
    (
        3,
        "select: * | from: project_logs('p1') | filtr: created > now()",
        ParseError,
        "unknown clause 'filtr:'; did you mean 'filter:'",
    ),
    (
        4,
        "select: * | from: project_logs('p1') | filter: created > now() - interval 1 fortnight",
        ParseError,
        "interval unit",
    ),
    (5, "select: * | from: project_logs('p1') | limit: ten", ParseError, "unexpected 'ten'"),
    (6, "select: * | from: project_logs('p1') | filter: (a = 1 and b = 2", ParseError, "end of query"),
    (
        7,
        "select: * | from: project_logz('p1')",
        BindError,
        "unknown data source 'project_logz'; did you mean 'project_logs'",
    ),
    (8, "select: * | from: project_logs('p1') everything", ParseError, "unknown shape 'everything'"),
    (9, "select: metadata.name, user.name | from: project_logs('p1') | sort: name", BindError, "ambiguous"),
    (10, "select: id, user.number as id | from: project_logs('p1')", BindError, "duplicate alias 'id'"),
    (11, "select: * | from: project_logs('p1') | filter: count(1) > 5", BindError, "final_filter"),
    (
        12,
        "dimensions: metadata.model | measures: scores.Factuality | from: project_logs('p1')",
        BindError,
        "not an aggregate",
    ),
    (
        13,
        "dimensions: metadata.model as m | measures: count(1) as n | from: project_logs('p1') | pivot: missing_alias",
        BindError,
        "unknown measure 'missing_alias'",
    ),
    (
        14,
        "select: k, v | from: project_logs('p1') | unpivot: tags as (k, v)",
        BtqlTypeError,
        "needs an object",
    ),
    (
        15,
        "select: * | from: project_logs('p1') traces | filter: any_span(any_span(any_span(error IS NOT NULL)))",
        BindError,
        "deeper than two",
    ),
    (
        16,
        "dimensions: metadata.model | measures: percentile(metrics.latency, 1.5) as p | from: project_logs('p1')",
        BtqlTypeError,
        "between 0 and 1",
    ),
    (
        17,
        "select: * | from: project_logs('p1') | filter: input LIKE 5",
        BtqlTypeError,
        "pattern must be a string",
    ),
    (18, "select: * | from: project_logs('p1') | sample: 150%", BindError, "sample rate"),
    (
        19,
        "select: * | from: project_logs('p1') | filter: created > now() - interval 1.5 hour",
        ParseError,
        "integer",
    ),
    (20, "select: * | from: project_logs('p1') | filter: x = NOT -1", ParseError, "unexpected keyword NOT"),
    (21, "select: * | from: project_logs('p1') | filter: input = in(1)", ParseError, "unexpected keyword IN"),
    (
        22,
        "infer: metadata | select: id | from: project_logs('p1')",
        BindError,
        "cannot be combined with 'select:'",
    ),
    (23, "infer: created | from: project_logs('p1')", BtqlTypeError, "JSON fields"),
    (24, "infer: metadata | from: project_logs('p1') | inference_budget: 0", BindError, "inference_budget"),
    (
        25,
        "select: id | from: project_logs('p1') | inference_budget: 5",
        BindError,
        "only applies to 'infer:'",
    ),
    (26, "infer: metadata | from: project_logs('p1') traces", BindError, "spans shape"),
    (
        27,
        "select: id | from: project_logs('p1') | final_measures: count(1) as n",
        BindError,
        "add those first",
    ),
    (
        28,
        "dimensions: metadata.env as env | measures: count(1) as n | from: project_logs('p1') "
        "| final_measures: avg(m) as x",
        BindError,
        "unknown 'm' (columns: env, n)",
    ),
    (
        29,
        "dimensions: metadata.env as env | measures: count(1) as n | from: project_logs('p1') "
        "| final_dimensions: metadata.env",
        BindError,
        "unknown 'metadata'",
    ),
    (
        30,
        "dimensions: metadata.env as env | measures: count(1) as n | from: project_logs('p1') "
        "| final_measures: n",
        BindError,
        "not an aggregate",
    ),
    (
        31,
        "dimensions: metadata.env as env | measures: count(1) as n | from: project_logs('p1') "
        "| comparison_key: input",
        BindError,
        "comparison_key",
    ),
    (
        32,
        "SELECT metadata.env, count(1) FROM project_logs('p1') GROUP BY metadata.env "
        "PIVOT(count(1) FOR metadata.env IN ('a', 'b'))",
        ParseError,
        "IN (ANY)",
    ),
    (
        33,
        "SELECT metadata.env, count(1) FROM project_logs('p1') GROUP BY metadata.env "
        "PIVOT(sum(metrics.tokens) FOR metadata.env IN (ANY))",
        BindError,
        "must also be a SELECT item",
    ),
    (
        34,
        "SELECT metadata.env, count(1) FROM project_logs('p1') GROUP BY metadata.env "
        "PIVOT(count(1) FOR metadata.user IN (ANY))",
        BindError,
        "must be a SELECT item and appear in GROUP BY",
    ),
    (35, "SELECT id FROM project_logs('p1') PIVOT(count(1) FOR id IN (ANY))", BindError, "needs GROUP BY"),
    (
        36,
        "select: id | from: project_logs('p1') | filter: created > now() - to_interval('2 fortnights')",
        BtqlTypeError,
        "to_interval() cannot read '2 fortnights'",
    ),
    (
        37,
        "select: id | from: project_logs('p1') | filter: created > now() - to_interval(id)",
        BtqlTypeError,
        "needs a string literal",
    ),
    (38, "select: id | from: project_logs('p1') | filter: contains(tags)", BindError, "takes 2 arguments"),
    (
        39,
        "SELECT id FROM project_logs('p1') WHERE MATCH(input) AGAINST 'x'",
        ParseError,
        "unexpected \"'x'\"",
    ),
    (40, "SELECT id FROM project_logs('p1') WHERE MATCH(input) AGAINST (1)", BtqlTypeError, "string literal"),
]


@pytest.mark.parametrize(("n", "text", "cls", "msg"), INVALID, ids=[f"invalid{n}" for n, *_ in INVALID])
def test_invalid_query(n: int, text: str, cls: type[BtqlError], msg: str) -> None:
    with pytest.raises(cls) as info:
        compile_query(text, LOGS)
    err = info.value
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    assert msg in err.message
    body = err.to_json()["error"]
    assert body["class"] == cls.error_class and body["message"] == err.message
    if cls is ParseError:
        assert isinstance(err.line, int) and isinstance(err.column, int)


def test_invalid_20_strict_lint() -> None:
    q = "select: * | from: project_logs('p1') | filter: scores.Factuality > 0.8"
    with pytest.raises(LintError) as info:
        compile_query(q, LOGS, lint_mode="strict")
    assert "segment elimination" in info.value.message
    assert info.value.to_json()["error"]["code"] == "missingSegmentEliminationSpecs"
    # default mode: a warning, not an error
    cq = compile_query(q, LOGS)
    assert [w["code"] for w in cq.warnings] == ["missingSegmentEliminationSpecs"]
    assert not compile_query(q + " and created > now() - interval 1 day", LOGS).warnings


def test_parse_error_positions_and_expected() -> None:
    with pytest.raises(ParseError) as info:
        parse("select: *\nfrom: project_logs('p1')\nfilter: a = = 1")
    e = info.value
    assert (e.line, e.column) == (3, 13)
    assert e.expected  # what the parser would have accepted
    with pytest.raises(ParseError) as info:
        parse("select: * | from: project_logs('p1') | limit: 10 | limit: 20")
    assert "duplicate clause 'limit:'" in info.value.message and info.value.column == 52


def test_type_error_class_name_and_position() -> None:
    with pytest.raises(BtqlTypeError) as info:
        compile_query("select: *\n| from: project_logs('p1')\n| filter: id > 5 and created > now()", LOGS)
    e = info.value
    assert e.error_class == "TypeError"
    assert (e.line, e.column) == (3, 11)
    assert e.to_json() == {
        "error": {
            "class": "TypeError",
            "message": "cannot compare a string with an integer",
            "line": 3,
            "column": 11,
        }
    }


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        (
            "select: scroes.Factuality | from: project_logs('p1')",
            "unknown field 'scroes'; did you mean 'scores'?",
        ),
        ("select: metdata.model | from: project_logs('p1')", "did you mean 'metadata'?"),
        ("select: avgg(scores.x) | from: project_logs('p1')", "unknown function 'avgg'; did you mean 'avg'?"),
        ("select: lower(1, 2) | from: project_logs('p1')", "takes 1 argument"),
        ("select: * | from: project_logs()", "at least one id"),
        ("select: * | from: project_logs(1)", "string ids"),
        ("select: * | from: project_prompts('p1')", "not supported"),
        ("select: * | from: experiment", "not supported"),
        ("select: count(1), id | from: project_logs('p1')", "needs 'dimensions:'"),
        ("select: id | dimensions: id | from: project_logs('p1')", "not both"),
        ("dimensions: count(1) | from: project_logs('p1')", "not allowed in 'dimensions:'"),
        ("measures: sum(count(1)) as x | from: project_logs('p1')", "nested"),
        ("measures: count(1) + scores.x as x | from: project_logs('p1')", "inside an aggregate"),
        ("select: id | from: project_logs('p1') | pivot: id", "needs 'dimensions:'"),
        ("select: * | from: project_logs('p1') | filter: filter_spans(any_span(is_root))", "inside"),
        ("select: any_span(is_root) | from: project_logs('p1')", "only allowed in 'filter:'"),
        ("select: * | from: project_logs('p1') traces | filter: not filter_spans(is_root)", "top-level AND"),
        (
            "dimensions: metadata.m as m | measures: count(1) as n | from: project_logs('p1') | sort: id",
            "must be a dimension",
        ),
        ("select: * | from: project_logs('p1') | cursor: 'garbage'", "invalid cursor"),
        ("select: log_id | from: experiment('p1')", "not available on experiment rows"),
        ("select: tags.x | from: project_logs('p1')", "array of strings"),
        ("select: id.x | from: project_logs('p1')", "no sub-fields"),
        ("select: * | from: project_logs('p1') | infer: metadata", "cannot be combined with 'select:'"),
    ],
)
def test_bind_errors(text: str, msg: str) -> None:
    with pytest.raises(BindError) as info:
        compile_query(text, Scope.experiment("o1", "p1") if "experiment(" in text else LOGS)
    assert msg in info.value.message


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("select: * | from: project_logs('p1') | filter: created + 1 > now()", "timestamp"),
        ("select: 'a' + 1 | from: project_logs('p1')", "arithmetic needs numbers"),
        ("select: * | from: project_logs('p1') | filter: tags = 'a'", "cannot compare"),
        (
            "select: * | from: project_logs('p1') | filter: scores.x = 'high'",
            "cannot compare a number with a string",
        ),
        ("select: * | from: project_logs('p1') | filter: id IN [1, 'a']", "must all be strings"),
        ("select: * | from: project_logs('p1') | filter: input MATCH metadata.q", "string literal"),
        ("select: * | from: project_logs('p1') | filter: _xact_id > 'abc'", "transaction id"),
        ("select: interval 1 day | from: project_logs('p1')", "interval"),
        ("select: * | from: project_logs('p1') | filter: scores.x", "not a condition"),
        ("select: date_trunc('fortnight', created) | from: project_logs('p1')", "date_trunc unit"),
        ("select: round(scores.x, 'a') | from: project_logs('p1')", "precision"),
        ("select: * | from: project_logs('p1') | filter: tags includes 1", "holds strings"),
        ("select: id | from: project_logs('p1') | filter: created > now() | sort: tags", "cannot sort"),
        ("select: 99999999999999999999 | from: project_logs('p1')", "out of range"),
    ],
)
def test_type_errors(text: str, msg: str) -> None:
    with pytest.raises(BtqlTypeError) as info:
        compile_query(text, LOGS)
    assert msg in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   -- only a comment",
        "select:",
        "select: * from: project_logs('p1') filter:",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "SELECT * FROM project_logs('p1') JOIN x",
        "SELECT * FROM project_logs('p1', shape => 'everything')",
        "select: * | from: project_logs('p1') | filter: 1e999 > 1",
        "select: a.'b' | from: project_logs('p1')",
        "select: * | from: project_logs('p1') | sort: created sideways",
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(ParseError):
        compile_query(text, LOGS)


def test_scope_mismatch() -> None:
    with pytest.raises(ScopeError):
        compile_query("select: * | from: project_logs('p2')", LOGS)
    with pytest.raises(ScopeError):
        compile_query("select: * | from: experiment('p1')", LOGS)
    with pytest.raises(ScopeError):
        compile_query("select: * | from: project_dataset('p9', 'd1')", Scope.dataset("o1", "d1", "p1"))


def test_a_key_of_a_facet_without_an_index_reads_the_first_item_or_the_object_without_a_warning() -> None:
    # Topics' filter `classifications.Intent.label = 'refund'`: the facet's first item (Braintrust's
    # array shape, what the classifier writes) or the facet itself when it was logged as an object
    since = " | filter: created > now() - interval 1 day"
    for q in (
        "dimensions: classifications.Intent.label as intent | measures: count(1) as n | from: project_logs('p1')",
        "SELECT id FROM project_logs('p1') WHERE classifications.Topic.source.type = 'human' "
        "AND classifications.Topic.source.type IS NOT NULL AND created > now() - interval 1 day",
    ):
        cq = compile_query(q if q.startswith("SELECT") else q + since, LOGS)
        assert not cq.warnings, q
        assert "coalesce(" in cq.sql, q
