"""Newest first (`newest.py`): a page read through the pre-scan and the windowed read is the page
of the plain query, on every page of a cursor walk: traces crossing the cut-off (children older
than their root, spans days apart), rows updated, moved to another trace and deleted, equal
`created` values across traces and objects, filters, and windows too small to answer (the next
window, then the plain query)."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loopline.btql import CompiledQuery, Limits, Page, Scope, compile_query, newest
from loopline.common.schema import ROW_TABLES, SPAN_COLUMNS_DDL
from loopline.common.testing import unique_database

NOW = dt.datetime(2026, 11, 20, 12, 0, 0)
LOGS = Scope.project_logs("o1", "p1")
EXPS = Scope.experiment("o1", ("e1", "e2"), "p1")
WORDS = ["apple", "banana", "cherry", "delta", "echo"]


def _traces(
    make_row: Callable[..., list[Any]], rng: random.Random, otype: str, oid: str
) -> list[list[list[Any]]]:
    """Batches of rows (each its own insert, so its own part): first versions, updates, deletes."""
    first: list[list[Any]] = []
    later: list[list[Any]] = []
    tombs: list[list[Any]] = []
    shared = [NOW - dt.timedelta(minutes=m) for m in (5, 50, 500)]  # equal `created` across traces
    roots: list[str] = []
    for t in range(32):
        rid = f"{oid}t{t:02d}"
        base = rng.choice(shared) if t % 7 == 0 else NOW - dt.timedelta(seconds=rng.randint(0, 4 * 86400))
        spans = rng.randint(1, 5)
        for s in range(spans):
            if s == 0:
                created = base
            elif rng.random() < 0.15:  # a child older than its root, sometimes by days
                created = base - dt.timedelta(seconds=rng.choice([1, 30, 3 * 86400]))
            else:
                created = base + dt.timedelta(seconds=rng.randint(0, 120))
            kw: dict[str, Any] = {
                "otype": otype,
                "oid": oid,
                "id": f"{rid}s{s}",
                "xact": 1000 + t,
                "created": created,
                "root": f"s_{rid}s0",
                "parent": None if s == 0 else f"s_{rid}s0",
                "span_attributes": {"name": f"n{s}", "type": rng.choice(["llm", "tool", "task"])},
                "input": {"q": " ".join(rng.sample(WORDS, 2))},
                "output": rng.choice(WORDS),
                "error": "boom" if rng.random() < 0.15 else None,
                "scores": {"acc": rng.random()} if rng.random() < 0.5 else None,
                "metadata": {"kind": rng.choice("ab")},
                "metrics": {"start": 1000.0 + t, "end": 1001.0 + t + s, "tokens": rng.randint(1, 50)},
                "tags": ["t1"] if rng.random() < 0.3 else [],
            }
            first.append(make_row(**kw))
            r = rng.random()
            if r < 0.25:  # updated: new output, error, metadata
                later.append(
                    make_row(
                        **{
                            **kw,
                            "xact": 5000 + t,
                            "output": "updated " + rng.choice(WORDS),
                            "error": None if kw["error"] else ("late" if rng.random() < 0.5 else None),
                            "metadata": {"kind": "c"},
                        }
                    )
                )
            elif r < 0.32 and roots and s:  # a child moved into an earlier trace (a root would make
                # that trace one of two roots, whose previews are either's: `anyIf`)
                later.append(make_row(**{**kw, "xact": 5000 + t, "root": f"s_{rng.choice(roots)}s0"}))
            elif r < 0.42:  # deleted (some of them the trace's oldest span)
                tombs.append(make_row(**{**kw, "xact": 9000 + t, "deleted": 1}))
        roots.append(rid)
    return [first[: len(first) // 2], first[len(first) // 2 :], later, tombs]


@pytest.fixture(scope="module", params=["scan", "index"])
def seeded(request: pytest.FixtureRequest, engine: Any, make_row: Callable[..., list[Any]]) -> Iterator[Any]:
    """The rows in a database of their own, without and with the index on root_span_id."""
    db = unique_database("newest")
    engine.client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    for m in ROW_TABLES:
        for stmt in m.statements:
            engine.client.command(stmt.replace("{db}", db))
    if request.param == "index":
        engine.client.command(newest.ROOT_INDEX_DDL.replace("{db}", db))
    own = type(engine)(engine.client, db)
    _seed(own, make_row)
    yield own
    engine.client.command(f"DROP DATABASE IF EXISTS {db}")


def _seed(empty_engine: Any, make_row: Callable[..., list[Any]]) -> None:
    rng = random.Random(15)
    batches = _traces(make_row, rng, "project_logs", "g")
    for oid in ("e1", "e2"):
        for i, b in enumerate(_traces(make_row, random.Random(oid), "experiment", oid)):
            batches[i] += b
    for b in batches:
        empty_engine.insert("spans", b)
    # another org's rows at the same times: never in a page
    empty_engine.insert("spans", [make_row(org="o2", id="SECRET", created=NOW)])


class Recorder:
    """Runs statements on the engine and remembers which it ran."""

    def __init__(self, engine: Any, settings: dict[str, Any]) -> None:
        self.engine = engine
        self.settings = settings
        self.ran: list[str] = []

    def __call__(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
        self.ran.append(sql)
        res = self.engine.client.query(sql, parameters=params, settings=self.settings)
        return list(res.column_names), list(res.result_rows)


def _same(a: Any, b: Any) -> bool:
    """Equal, floats to 12 digits (an average's sum runs in whatever order the rows were read)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _pages(
    engine: Any, query: str, scope: Scope, windows: tuple[int, ...]
) -> Iterator[tuple[CompiledQuery, Page, Page, list[str]]]:
    """Each page of a cursor walk read both ways (the cursor from the plain read)."""
    cursor = None
    for _ in range(200):
        q = query + (f" | cursor: '{cursor}'" if cursor else "")
        cq = compile_query(q, scope, db=engine.db, limits=Limits(newest_windows=windows))
        rec = Recorder(engine, cq.settings)
        fast = cq.run(rec)
        plain = cq.finish(*rec(cq.sql, cq.params))
        yield cq, fast, plain, rec.ran[:-1]
        cursor = plain.cursor
        if not cursor:
            return
    raise AssertionError("more than 200 pages")


QUERIES = [
    ("summary", ""),
    ("summary", "| sort: created desc"),
    ("summary", "| filter: error IS NOT NULL"),
    ("summary", "| filter: search('apple')"),
    ("summary", "| filter: metadata.kind = 'c' or tags includes 't1'"),
    ("summary", f"| filter: created > '{(NOW - dt.timedelta(days=2)).isoformat()}Z'"),
    ("summary", "| final_filter: span_count > 2"),
    ("spans", ""),
    ("spans", "| filter: span_attributes.type = 'llm' and error IS NULL"),
    ("spans", "| filter: search('banana')"),
]


CASES = [  # (query, windows): every query once with windows that answer each page, and some
    # with windows too small for some pages (the next window, the plain query)
    *((q, (8, 128)) for q in QUERIES),
    (QUERIES[0], (1,)),
    (QUERIES[2], (1, 3)),
    (QUERIES[3], (1,)),
    (QUERIES[5], (1, 3)),
    (QUERIES[6], (1, 3)),
    (QUERIES[7], (1,)),
    (QUERIES[8], (1, 3)),
]


@pytest.mark.parametrize("query, windows", CASES)
@pytest.mark.parametrize("source, scope", [("project_logs('p1')", LOGS), ("experiment('e1', 'e2')", EXPS)])
def test_every_page_is_the_plain_querys(
    seeded: Any, query: tuple[str, str], windows: tuple[int, ...], source: str, scope: Scope
) -> None:
    shape, clauses = query
    select = "*" if shape == "summary" else "id, created, output, root_span_id, error"
    text = f"select: {select} | from: {source} {shape} {clauses} | limit: 6"
    pages = answered = rows = 0  # pages, those the newest-first reads answered, rows
    for cq, fast, plain, ran in _pages(seeded, text, scope, windows):
        assert cq.newest is not None
        assert _same(fast.data, plain.data) and fast.cursor == plain.cursor
        pages += 1
        answered += cq.sql not in ran
        rows += len(plain.data)
        assert "SECRET" not in repr(fast.data)
    assert rows > 0
    if windows == (8, 128):  # windows large enough for every page of these objects
        assert answered == pages


def test_windows_too_small_fall_back_to_the_plain_query(seeded: Any) -> None:
    # one window of 2 rows for a page of 7 traces of several spans: never enough
    query = "select: id | from: project_logs('p1') summary | limit: 7"
    cq, fast, plain, ran = next(_pages(seeded, query, LOGS, (1,)))
    assert fast.data == plain.data
    assert cq.newest is not None and ran[-1] == cq.sql and ran[0] == cq.newest.prescan_sql


@pytest.mark.parametrize(
    "query",
    [
        "select: * | from: project_logs('p1') summary | sort: created asc",
        "select: * | from: project_logs('p1') summary | sort: span_count desc",
        "select: id | from: project_logs('p1') | sort: created desc, id asc",
        "select: id | from: project_logs('p1') | sample: 10",
        "select: id | from: project_logs('p1') traces",
        "select: id | from: dataset('d1')",
        "dimensions: span_attributes.name as n | measures: count(1) as c | from: project_logs('p1')",
    ],
)
def test_applies_only_to_newest_first_pages(query: str) -> None:
    scope = Scope.dataset("o1", "d1", "p1") if "dataset" in query else LOGS
    assert compile_query(query, scope).newest is None


def test_off_when_no_windows() -> None:
    q = "select: * | from: project_logs('p1') summary"
    assert compile_query(q, LOGS).newest is not None
    assert compile_query(q, LOGS, limits=Limits(newest_windows=())).newest is None


def test_materialized_columns_are_the_schemas() -> None:
    names = [line.split()[0] for line in SPAN_COLUMNS_DDL.splitlines() if " MATERIALIZED " in line]
    assert tuple(names) == newest.MATERIALIZED


def test_windows() -> None:
    assert newest.windows(100, (8, 128)) == (808, 12928)
    assert newest.windows(10_000, (8, 128, 1024)) == (80008, 1280128)
    assert newest.windows(100, (4, 4, 2)) == (404,)
