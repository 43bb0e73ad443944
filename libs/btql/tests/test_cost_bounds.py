"""Adversarial sizes cost linear work, and what would still cost too much is refused with a clear,
positioned error (issue 10, defect 4: 10,000 duplicate names took 30 s in the binder).

Work is counted, not timed: the Python lines this library executes (a trace), for an input of
size n and of size 10n. Linear work grows about 10x; the quadratic paths these tests guard
against grew 100x.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from loopline.btql import BindError, ParseError, Scope, compile_query, parse
from loopline.btql import parser as P
from loopline.btql.binder import MAX_COLUMNS, Binder
from loopline.btql.json_ast import MAX_JSON_ELEMENTS
from loopline.btql.options import source_of

LOGS = Scope.project_logs("o1", "p1")
_SRC = "loopline/btql/"


def lines_run(fn: Callable[[], Any]) -> int:
    """How many lines of loopline.btql run while `fn()` runs (its work, independent of timing)."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        return local if _SRC in frame.f_code.co_filename.replace("\\", "/") else None

    P.warm_up()
    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(old)
    return count


def growth(make: Callable[[int], str], n: int, *, bind_only: bool = False) -> float:
    """Work for 10n items over work for n items (parse + bind [+ compile], parse cache cleared)."""

    def run(text: str) -> Callable[[], Any]:
        def go() -> None:
            P.parse_text.cache_clear()
            if bind_only:
                q = parse(text)
                Binder(q, source_of(q)).bind()
            else:
                compile_query(text, LOGS)

        return go

    small, big = run(make(n)), run(make(10 * n))
    return lines_run(big) / lines_run(small)


def _select(items: list[str], rest: str = "") -> str:
    return f"select: {', '.join(items)} | from: project_logs('p1'){rest}"


LINEAR = 20  # 10x the input: linear work grows ~10x (plus fixed costs), quadratic ~100x


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda n: _select(["id"] * n), id="duplicate-names"),
        pytest.param(lambda n: _select([f"metadata.k{i}.x" for i in range(n)]), id="same-last-segment"),
        pytest.param(lambda n: _select(["scores.a + 1"] * n), id="duplicate-expressions"),
        pytest.param(lambda n: "SELECT " + ", ".join(["id"] * n) + " FROM project_logs('p1')", id="sql"),
        pytest.param(
            lambda n: _select(
                ["id"], " | custom_columns: " + ", ".join(f"metadata.k{i} as c{i}" for i in range(n))
            ),
            id="custom-columns",
        ),
        pytest.param(
            lambda n: _select([f"zz{i} as q{i}" for i in range(n)]), id="unknown-fields-with-aliases"
        ),
        pytest.param(
            lambda n: (
                "dimensions: "
                + ", ".join(f"metadata.k{i} as d{i}" for i in range(n))
                + " | measures: count(1) as c | from: project_logs('p1') | sort: "
                + ", ".join(f"metadata.k{i}" for i in range(n))
            ),
            id="aggregate-sorts",
        ),
        pytest.param(
            lambda n: _select(["metadata.x"] * n, " | sort: " + ", ".join(["id"] * n)), id="sort-duplicates"
        ),
        pytest.param(
            lambda n: _select(
                ["id"], " | unpivot: " + ", ".join(f"metadata.k{i} as (k{i}, v{i})" for i in range(n))
            ),
            id="unpivots",
        ),
    ],
)
def test_many_items_cost_linear_work(make: Callable[[int], str]) -> None:
    assert growth(make, 90) < LINEAR


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda n: _select(["id"], " | filter: " + " or ".join(["not x"] * n)), id="or-chain"),
        pytest.param(
            lambda n: _select(["id"], " | filter: (" + "x ? 1 : " * n + "0) = 1"), id="ternary-chain"
        ),
        pytest.param(
            lambda n: _select(["id"], " | filter: id IN [" + ", ".join(f"'v{i}'" for i in range(n)) + "]"),
            id="in-list",
        ),
    ],
)
def test_long_chains_cost_linear_work(make: Callable[[int], str]) -> None:
    assert growth(make, 300) < LINEAR


def test_ten_thousand_duplicate_names_are_refused_at_the_first_column_too_many() -> None:
    """The issue's query (10,000 x `id`, 40 KB) is refused at once with a positioned error; up to
    the cap, duplicates bind to distinct names in linear work (above)."""
    text = _select(["id"] * 10_000)
    with pytest.raises(BindError) as ei:
        compile_query(text, LOGS)
    assert f"at most {MAX_COLUMNS} columns" in ei.value.message
    first_excess = len("select: ") + len("id, ") * MAX_COLUMNS + 1
    assert (ei.value.line, ei.value.column) == (1, first_excess)

    def refused(t: str) -> Callable[[], None]:
        def go() -> None:
            P.parse_text.cache_clear()
            with pytest.raises(BindError):
                compile_query(t, LOGS)

        return go

    # past the cap, only parsing grows (linearly) with the items
    assert lines_run(refused(text)) < LINEAR * lines_run(refused(_select(["id"] * (MAX_COLUMNS + 1))))


def test_duplicate_names_up_to_the_cap_get_distinct_names() -> None:
    cq = compile_query(_select(["id"] * MAX_COLUMNS), LOGS)
    names = [c.name for c in cq.columns]
    assert names[:3] == ["id", "id_1", "id_2"] and len(set(names)) == MAX_COLUMNS
    # an implicit name colliding with a later one is renamed by its full path
    cq = compile_query(_select(["metadata.x", "input.x", "x_1", "id", "id"]), LOGS)
    assert [c.name for c in cq.columns] == ["metadata.x", "input.x", "x_1", "id", "id_1"]


def test_stars_expand_within_the_column_cap() -> None:
    with pytest.raises(BindError, match="expands to every field") as ei:
        compile_query(_select(["*"] * 5_000), LOGS)
    assert ei.value.line == 1 and ei.value.column is not None


def test_long_paths_are_refused() -> None:
    with pytest.raises(ParseError, match="more than 200 segments"):
        parse(_select(["metadata" + ".a" * 5_000]))
    with pytest.raises(ParseError, match="more than 200 segments"):
        parse(_select(["metadata" + "[0]" * 5_000]))
    with pytest.raises(ParseError, match="more than 200 segments"):
        parse({"select": [{"expr": {"op": "ident", "name": ["metadata"] + ["a"] * 5_000}, "alias": "x"}]})
    parse(_select(["metadata" + ".a" * 150]))  # deep but fine


def test_json_queries_are_bounded_like_text() -> None:
    big_in = {
        "op": "in",
        "left": {"op": "ident", "name": ["id"]},
        "right": {"op": "literal", "value": list(range(MAX_JSON_ELEMENTS))},
    }
    src = {
        "op": "function",
        "name": {"op": "ident", "name": ["project_logs"]},
        "args": [{"op": "literal", "value": "p1"}],
    }
    with pytest.raises(ParseError, match="elements"):
        parse({"select": [{"op": "star"}], "from": src, "filter": big_in})
    snippet = {"btql": " or ".join(["id = 'x'"] * 5_000)}
    with pytest.raises(ParseError, match="snippets"):
        parse({"select": [{"op": "star"}], "from": src, "filter": {"op": "and", "children": [snippet] * 3}})
    with pytest.raises(ParseError, match="strings"):
        parse(
            {"select": [{"op": "star"}], "from": src, "filter": {"op": "literal", "value": "x" * 2_000_000}}
        )


def test_queries_that_compile_beyond_the_stores_sql_limit_are_refused() -> None:
    sorts = " | sort: " + ", ".join(f"metadata.k{i} desc" for i in range(4_000))
    with pytest.raises(BindError, match="too large"):
        compile_query(_select(["id"], sorts), LOGS)


def test_an_and_of_too_many_conditions_is_refused_at_the_first_one_too_many() -> None:
    """fuzz-findings N2: ClickHouse's work on a long AND of JSON-path comparisons is quadratic
    (2,000 held the embedded store for ~20 s); ANDs are capped, nested ones counted together."""
    from loopline.btql.binder import MAX_AND_CONDITIONS

    def conds(n: int) -> list[str]:
        return [f"metadata.k{i} = {i}" for i in range(n)]

    compile_query(
        "select: id | from: project_logs('p1') | filter: " + " and ".join(conds(MAX_AND_CONDITIONS)), LOGS
    )
    head = "select: id | from: project_logs('p1') | filter: "
    text = head + " and ".join(conds(MAX_AND_CONDITIONS + 1))
    with pytest.raises(BindError) as ei:
        compile_query(text, LOGS)
    assert f"at most {MAX_AND_CONDITIONS} conditions" in ei.value.message
    assert (ei.value.line, ei.value.column) == (1, text.index(f"metadata.k{MAX_AND_CONDITIONS} ") + 1)
    half = MAX_AND_CONDITIONS // 2 + 1
    nested = head + "(" + " and ".join(conds(half)) + ") and (" + " and ".join(conds(half)) + ")"
    with pytest.raises(BindError):
        compile_query(nested, LOGS)
    # ORs are not capped this way: the store answers long ORs quickly
    compile_query("select: id | from: project_logs('p1') | filter: " + " or ".join(conds(2000)), LOGS)
