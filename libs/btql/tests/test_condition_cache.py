"""No compiled query leaves a wrong entry in ClickHouse's query condition cache (issue 10, defect 6).

ClickHouse 26.9 pushes a JOIN runtime filter built from a join's right side into the left read and
records the granules it skipped under that read's own WHERE: after one `traces` query on a dataset
that matched nothing, every later unfiltered read of the dataset returned no rows. The compiled
settings turn runtime filters off. These tests run every query shape the compiler has, on each
object type, with a filter that matches nothing, and then check that unfiltered reads of the same
object still return every row; and, for the shapes that select traces or rows through a subquery,
that rows written afterwards are found as they are with the cache off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from loopline.btql import OPTIONAL_SETTINGS, Limits, Page, Scope, compile_query

NOMATCH = "metadata.zz_nomatch = -1"

# shape name -> query template ({src}: the source; {F}: a filter that matches nothing)
SHAPES: dict[str, str] = {
    "spans": "select: * | from: {src} | filter: {F}",
    "spans sorted": "select: id | from: {src} | filter: {F} | sort: metadata.model desc",
    "spans any_span": "select: id | from: {src} | filter: any_span({F})",
    "traces": "select: id | from: {src} traces | filter: {F}",
    "traces by created": "select: id | from: {src} traces | filter: created < '2000-01-01'",
    "traces by root": "select: id | from: {src} traces | filter: root_span_id = 'nope'",
    "traces by id": "select: id | from: {src} traces | filter: id = 'nope'",
    "traces any_span": "select: id | from: {src} traces | filter: any_span({F})",
    "traces filter_spans": "select: id | from: {src} traces | filter: filter_spans({F})",
    "summary": "select: * | from: {src} summary | filter: {F}",
    "summary any_span": "select: * | from: {src} summary | filter: any_span({F})",
    "aggregate": "dimensions: metadata.model as m | measures: count(1) as n | from: {src} | filter: {F}",
    "global measures": "measures: count(1) as n, sum(scores.Factuality) as s | from: {src} | filter: {F}",
    "aggregate traces": "dimensions: metadata.model as m | measures: count(1) as n | from: {src} traces "
    "| filter: {F}",
    "aggregate summary": "dimensions: metadata.model as m | measures: count(1) as n | from: {src} summary "
    "| filter: {F}",
    "final stage": "dimensions: metadata.model as m | measures: count(1) as n | final_dimensions: m "
    "| final_measures: sum(n) as t | from: {src} | filter: {F}",
    "pivot": "dimensions: metadata.model as m | measures: count(1) as n | pivot: n | from: {src} | filter: {F}",
    "infer": "infer: metadata | from: {src} | filter: {F}",
    "comparison_key": "select: id | comparison_key: input | from: {src} | filter: {F}",
    "sample rate": "select: id | from: {src} | filter: {F} | sample: 50% seed 3",
    "sample count": "select: id | from: {src} | filter: {F} | sample: 2",
    "sample traces": "select: id | from: {src} traces | filter: {F} | sample: 50% seed 3",
    "unpivot": "select: id | from: {src} | unpivot: scores as (k, v) | filter: {F} and v > 0",
    "search": "select: id | from: {src} | filter: search('zzqqxx')",
    "match": "select: id | from: {src} | filter: input MATCH 'zzqqxx'",
    "sql": "SELECT id FROM {src} WHERE {F}",
}

OBJECTS: dict[str, tuple[Scope, str]] = {
    "project_logs": (Scope.project_logs("o1", "p1"), "project_logs('p1')"),
    "experiment": (Scope.experiment("o1", "e1", "p1"), "experiment('e1')"),
    "dataset": (Scope.dataset("o1", "d1", "p1"), "dataset('d1')"),
    "dataset version": (Scope.dataset("o1", "d1", "p1", version=10**15), "dataset('d1')"),
}


@pytest.fixture(scope="module")
def own(own_engine: Any) -> Any:
    """A database of this module's own (the stale-set test writes rows)."""
    return own_engine


def run(e: Any, q: str, scope: Scope, *, cache: bool = True, **kw: Any) -> Page:
    cq = compile_query(q, scope, db=e.db, **kw)
    settings = dict(cq.settings)
    if not cache:
        settings["use_query_condition_cache"] = 0
    res = e.client.query(cq.sql, parameters=cq.params, settings=settings)
    return cq.finish(list(res.column_names), list(res.result_rows))


def unfiltered(e: Any, scope: Scope, src: str) -> dict[str, Any]:
    """What plain reads of the object return: a count, `select: *` and the traces shape."""
    return {
        "count": run(e, f"measures: count(1) as n | from: {src}", scope).data,
        "star": sorted(r["id"] for r in run(e, f"select: * | from: {src}", scope).data),
        "traces": sorted(r["id"] for r in run(e, f"select: id | from: {src} traces", scope).data),
        "summary": len(run(e, f"select: * | from: {src} summary", scope).data),
    }


def test_compiled_queries_turn_join_runtime_filters_off() -> None:
    settings = compile_query("select: id | from: dataset('d1') traces", OBJECTS["dataset"][0]).settings
    assert settings["enable_join_runtime_filters"] == 0
    assert "enable_join_runtime_filters" in OPTIONAL_SETTINGS
    assert Limits().settings()["enable_join_runtime_filters"] == 0


def test_the_cache_is_in_use(own: Any) -> None:
    """The tests below would prove nothing if this engine had no such cache or bug: with runtime
    filters on, the issue's reproduction poisons it. (It runs first, on the freshly seeded
    database: the reproduction needs the seed's single part per table.)"""
    scope, src = OBJECTS["dataset"]
    bad = dataclasses.replace(Limits(), extra_settings=(("enable_join_runtime_filters", 1),))
    own.client.command("SYSTEM DROP QUERY CONDITION CACHE")
    before = unfiltered(own, scope, src)
    cq = compile_query(SHAPES["traces"].format(src=src, F=NOMATCH), scope, db=own.db, limits=bad)
    own.client.query(cq.sql, parameters=cq.params, settings=cq.settings)
    poisoned = unfiltered(own, scope, src)
    own.client.command("SYSTEM DROP QUERY CONDITION CACHE")
    assert poisoned != before  # the engine's bug, as reported; with the setting off it is gone
    assert unfiltered(own, scope, src) == before


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("obj", list(OBJECTS))
def test_a_query_matching_nothing_leaves_unfiltered_reads_whole(own: Any, obj: str, shape: str) -> None:
    scope, src = OBJECTS[obj]
    own.client.command("SYSTEM DROP QUERY CONDITION CACHE")
    before = unfiltered(own, scope, src)
    assert before["star"], "the object has rows"
    text = SHAPES[shape].format(src=src, F=NOMATCH)
    run(own, text, scope)
    if shape == "spans":
        run(own, text, scope, audit_log=True)
    assert unfiltered(own, scope, src) == before


@pytest.mark.parametrize("shape", ["spans", "traces", "summary"])
@pytest.mark.parametrize("obj", list(OBJECTS))
def test_cursors_to_the_last_page_leave_unfiltered_reads_whole(own: Any, obj: str, shape: str) -> None:
    scope, src = OBJECTS[obj]
    own.client.command("SYSTEM DROP QUERY CONDITION CACHE")
    before = unfiltered(own, scope, src)
    base = f"select: id | from: {src}{'' if shape == 'spans' else ' ' + shape} | limit: 1"
    page = run(own, base, scope)
    pages = 1
    while page.cursor and pages < 50:
        page = run(own, f"{base} | cursor: '{page.cursor}'", scope)
        pages += 1
    assert pages > 1
    assert unfiltered(own, scope, src) == before


# shapes whose rows depend on other rows (traces, subqueries): a row written after a query that
# matched nothing must make them match, on old parts too
_STALE_SHAPES = {
    "traces": "select: id | from: {src} traces | filter: {F}",
    "traces any_span": "select: id | from: {src} traces | filter: any_span({F})",
    "spans any_span": "select: id | from: {src} | filter: any_span({F})",
    "summary": "select: id | from: {src} summary | filter: {F}",
    "summary any_span": "select: id | from: {src} summary | filter: any_span({F})",
    "sample count": "select: id | from: {src} | filter: {F} or id = 'a1' or id = 'ra' | sample: 5",
}


@pytest.mark.parametrize("shape", list(_STALE_SHAPES))
@pytest.mark.parametrize("obj", ["project_logs", "experiment", "dataset"])
def test_rows_written_after_a_query_that_matched_nothing_are_found(
    own: Any, make_row: Callable[..., list[Any]], obj: str, shape: str
) -> None:
    scope, src = OBJECTS[obj]
    table = "dataset_rows" if obj == "dataset" else "spans"
    oid = {"project_logs": "g", "experiment": "e1", "dataset": "d1"}[obj]
    flag = f"flag_{obj}_{shape}".replace(" ", "_")
    text = _STALE_SHAPES[shape].format(src=src, F=f"metadata.{flag} = 1")
    old_id, root = own.client.query(
        f"SELECT id, root_span_id FROM {own.db}.{table} WHERE org_id = 'o1' AND object_id = {{o:String}} "
        "ORDER BY id LIMIT 1",
        parameters={"o": oid},
    ).result_rows[0]
    own.client.command("SYSTEM DROP QUERY CONDITION CACHE")
    assert run(own, text, scope).data == run(own, text, scope, cache=False).data
    new = make_row(
        otype=obj,
        oid=oid,
        id=f"new-{flag}",
        xact=10**12,
        root=root,
        parent=root,
        metadata={flag: 1},
    )
    own.insert(table, [new])
    got, truth = run(own, text, scope).data, run(own, text, scope, cache=False).data
    assert got == truth and truth, (old_id, truth)
