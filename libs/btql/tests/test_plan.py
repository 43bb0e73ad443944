"""The SQL plan (`plan.py`): rendering, and the scope enforcer refusing plans built wrongly on
purpose (a read without a scope condition, another tenant's parameters, a table named in a
fragment outside the plan's structure, another table)."""

from __future__ import annotations

import dataclasses

import pytest
from loopline.btql import Scope, ScopeError, compile_query
from loopline.btql.plan import (
    Embedded,
    Join,
    ScopedSource,
    Select,
    SqlPlan,
    Subquery,
    Table,
    enforce_scope,
    render,
    scope_conditions,
)

LOGS = Scope.project_logs("o1", "p1")
DATASET = Scope.dataset("o1", "d1", "p1", version=7)


def _plan(scope: Scope, select: Select, embedded: Embedded | None = None) -> SqlPlan:
    _, params = scope_conditions(scope)
    return SqlPlan.of(select, dict(params), "db", embedded)


def _spans(scope: Scope = LOGS) -> ScopedSource:
    conds, _ = scope_conditions(scope)
    return ScopedSource(Table("db.spans", final=True), conds, Embedded())


def test_render_one_select_per_clause_order() -> None:
    s = Select(
        ("a AS c0", "count() AS c1"),
        Table("db.spans", final=True),
        array_join=("tags AS t",),
        where=("x = 1", "true", "y = 2"),
        group_by=("a",),
        having="c1 > 1",
        order_by=("c0 ASC", "c1 DESC"),
        limit="{p0:UInt64}",
        offset="{p1:UInt64}",
    )
    assert render(s) == (
        "SELECT a AS c0, count() AS c1 FROM db.spans FINAL ARRAY JOIN tags AS t WHERE x = 1 AND y = 2 "
        "GROUP BY a HAVING c1 > 1 ORDER BY c0 ASC, c1 DESC LIMIT {p0:UInt64} OFFSET {p1:UInt64}"
    )
    assert (
        render(Select(("1",), Subquery(s, "_x"), where=())) == f"SELECT 1 FROM ({render(s)}) AS _x WHERE true"
    )
    win = Select(("min(a)",), Subquery(s))
    joined = Select(
        ("b",), Join(Table("db.spans", final=True), Subquery(s, "_t"), "a = _t.a"), with_=((win, "_w"),)
    )
    assert (
        render(joined)
        == f"WITH ({render(win)}) AS _w SELECT b FROM db.spans FINAL INNER JOIN ({render(s)}) AS _t ON a = _t.a"
    )


def test_a_scoped_plan_passes() -> None:
    src = _spans()
    enforce_scope(_plan(LOGS, src.select(("id",), ("id = 'x'",))), LOGS)


def test_refuses_a_read_without_the_scope_conditions() -> None:
    conds, _ = scope_conditions(LOGS)
    for dropped in range(len(conds)):
        where = tuple(c for i, c in enumerate(conds) if i != dropped)
        bad = Select(("id",), Table("db.spans", final=True), where=where)
        with pytest.raises(ScopeError, match="lacks the scope condition"):
            enforce_scope(_plan(LOGS, bad), LOGS)
    with pytest.raises(ScopeError, match="lacks the scope condition"):
        enforce_scope(_plan(LOGS, Select(("id",), Table("db.spans", final=True))), LOGS)


def test_refuses_an_unscoped_read_nested_anywhere() -> None:
    src = _spans()
    unscoped = Select(("object_id",), Table("db.spans", final=True), where=("true",))
    in_join = Select(
        ("id",), Join(Table("db.spans", final=True), Subquery(unscoped, "_t"), "1"), where=src.conds
    )
    with pytest.raises(ScopeError):
        enforce_scope(_plan(LOGS, in_join), LOGS)
    in_with = dataclasses.replace(src.select(("id",)), with_=((unscoped, "_w"),))
    with pytest.raises(ScopeError):
        enforce_scope(_plan(LOGS, in_with), LOGS)
    # an embedded subquery (as ANY_SPAN renders) recorded without the scope
    emb = Embedded()
    text = emb.render(unscoped)
    with pytest.raises(ScopeError):
        enforce_scope(_plan(LOGS, src.select(("id",), (f"(object_id IN ({text}))",)), emb), LOGS)


def test_refuses_a_table_named_outside_the_structure() -> None:
    src = _spans()
    sneaky = src.select(("id",), ("(id IN (SELECT id FROM db.spans FINAL))",))
    with pytest.raises(ScopeError, match="outside the plan's structure"):
        enforce_scope(_plan(LOGS, sneaky), LOGS)
    sneaky_column = src.select(("(SELECT max(id) FROM db.dataset_rows) AS c0",))
    with pytest.raises(ScopeError, match="outside the plan's structure"):
        enforce_scope(_plan(LOGS, sneaky_column), LOGS)


def test_refuses_other_parameters_or_another_table() -> None:
    src = _spans()
    plan = _plan(LOGS, src.select(("id",)))
    with pytest.raises(ScopeError, match="s_org"):
        enforce_scope(dataclasses.replace(plan, params={**plan.params, "s_org": "o2"}), LOGS)
    with pytest.raises(ScopeError, match="s_proj"):
        enforce_scope(dataclasses.replace(plan, params={**plan.params, "s_proj": ["p1", "p2"]}), LOGS)
    with pytest.raises(ScopeError, match="unexpected scope parameter"):
        enforce_scope(dataclasses.replace(plan, params={**plan.params, "s_ver": 1}), LOGS)
    other = Select(("id",), Table("db.dataset_rows"), where=src.conds)
    with pytest.raises(ScopeError, match=r"reads db\.dataset_rows"):
        enforce_scope(_plan(LOGS, other), LOGS)
    # the plan of another scope
    with pytest.raises(ScopeError):
        enforce_scope(plan, Scope.project_logs("o1", "p2"))


def test_dataset_reads_carry_the_scope_inside_the_latest_version_subquery() -> None:
    conds, _ = scope_conditions(DATASET)
    latest = Select(("*",), Table("db.dataset_rows"), where=conds, limit="1", limit_by="object_id, id")
    enforce_scope(_plan(DATASET, Select(("id",), Subquery(latest, "_d"), where=())), DATASET)
    with pytest.raises(ScopeError):
        enforce_scope(
            _plan(DATASET, Select(("id",), Subquery(dataclasses.replace(latest, where=conds[:1]), "_d"))),
            DATASET,
        )


@pytest.mark.parametrize(
    "text",
    [
        "select: id | from: project_logs('p1') traces | filter: any_span(any_span(error IS NOT NULL)) | limit: 3",
        "select: id | from: project_logs('p1') summary | filter: input MATCH 'x' | sample: 5 seed 1",
        "measures: count(1) as n | from: project_logs('p1') traces | filter: any_span(tags includes 'a')",
        "select: id | from: project_logs('p1') | sample: 10 seed 3 | filter: any_span(error IS NULL)",
        "infer: input | from: project_logs('p1')",
    ],
)
def test_compiled_plans_of_every_shape_pass_the_enforcer(text: str) -> None:
    cq = compile_query(text, LOGS, db="db")  # compile_query enforces the scope itself
    assert cq.sql.count("db.spans FINAL") >= 1
