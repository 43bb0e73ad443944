"""The SDK's object fetch (`ObjectReader.fetch`) newest first (`btql.newest`): every page of a
cursor walk is the page of the plain read (all live rows sorted), with rows updated and deleted,
many rows sharing one `created`, as of a version, and windows too small (the plain read)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import pytest_asyncio
from loopline.common.control_plane import ProjectLookup
from loopline.common.schema import ROW_TABLES
from loopline.common.store import Store
from loopline.common.testing import unique_database
from loopline.query.reads import ObjectReader, ObjectScope

NOW = dt.datetime(2026, 11, 20, 12, 0, 0)
COLUMNS = ["org_id", "project_id", "object_type", "object_id", "id", "_xact_id", "_is_deleted"]
COLUMNS += ["created", "span_id", "root_span_id", "is_root", "input", "output"]


def _row(
    otype: str, oid: str, i: int, xact: int, created: dt.datetime, *, deleted: int = 0, out: str = ""
) -> list[Any]:
    rid = f"r{i:03d}"
    return ["o1", "p1", otype, oid, rid, xact, deleted, created, rid, rid, True, f'"in {i}"', f'"{out or i}"']


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def store(chdb_dsn: str) -> AsyncIterator[Store]:
    s = Store(chdb_dsn, unique_database("fetchnw"))
    await s.open()
    for m in ROW_TABLES:
        for stmt in m.statements:
            await s.command(s.sql(stmt))
    rng = random.Random(15)
    times = [NOW - dt.timedelta(minutes=rng.randint(0, 3 * 24 * 60)) for _ in range(40)]
    for otype, oid in (("project_logs", "g"), ("experiment", "e1")):
        first, later = [], []
        for i in range(240):
            created = rng.choice(times)  # about six rows share each `created`
            first.append(_row(otype, oid, i, 1000 + i, created))
            if rng.random() < 0.2:
                later.append(_row(otype, oid, i, 3000 + i, created, out=f"updated {i}"))
            elif rng.random() < 0.15:
                later.append(_row(otype, oid, i, 3000 + i, created, deleted=1))
        for batch in (first[:120], first[120:], later):
            await s.insert("spans", batch, COLUMNS)
    yield s
    await s.command(f"DROP DATABASE IF EXISTS {s.database}")
    await s.close()


async def _walk(reader: ObjectReader, scope: ObjectScope, limit: int, version: Any) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < 300:
        page = await reader.fetch(scope, limit=limit, cursor=cursor, version=version)
        pages.append(page)
        cursor = page["cursor"]
        if not cursor:
            return pages
    raise AssertionError("more than 300 pages")


@pytest.mark.parametrize("windows", [(8, 128), (1,)])
@pytest.mark.parametrize(
    "otype, oid, version",
    [("project_logs", "g", None), ("experiment", "e1", None), ("experiment", "e1", 3100)],
)
@pytest.mark.parametrize("limit", [5, 1000])
async def test_fetch_pages_are_the_plain_reads(
    store: Store, windows: tuple[int, ...], otype: str, oid: str, version: Any, limit: int
) -> None:
    scope = ObjectScope("o1", "p1", otype, oid)
    objects = cast(ProjectLookup, None)  # not asked: the scope is given
    ran = Recording(store)
    fast, plain = ObjectReader(cast(Store, ran), objects), ObjectReader(store, objects)
    fast.newest_windows, plain.newest_windows = windows, ()
    got = await _walk(fast, scope, limit, version)
    want = await _walk(plain, scope, limit, version)
    assert got == want
    assert sum(len(p["events"]) for p in want) > 150
    plain_reads = sum("LIMIT {_nw_m" not in q and "_nw_c0" not in q for q in ran.sql_run)
    if windows == (8, 128):  # each page answered newest first: a pre-scan and a windowed read
        assert plain_reads == 0 and len(ran.sql_run) == 2 * len(got)
    elif limit == 5:  # a window of 6 stored rows (old versions, deleted ones) is sometimes short
        assert plain_reads > 0


class Recording:
    """The store, remembering the statements run."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sql_run: list[str] = []

    def sql(self, text: str) -> str:
        return self.store.sql(text)

    async def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        self.sql_run.append(sql)
        return await self.store.query(sql, parameters)
