"""Issue 10, defect 6 over HTTP: one `traces` query on a dataset that matches nothing must not
make later unfiltered reads of the dataset return no rows; and the setting that prevents it is
dropped for an engine that does not know it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.query.btql_http import settings_for

from loopline import btql
from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


async def _btql(ll: InProcess, query: str) -> Any:
    r = await ll.client.post("/btql", json={"query": query}, headers=ll.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_a_traces_query_matching_nothing_leaves_the_dataset_readable(ll: InProcess) -> None:
    pid = str((await ll.client.post("/v1/project", json={"name": "qcc"}, headers=ll.headers)).json()["id"])
    did = (
        await ll.client.post("/v1/dataset", json={"project_id": pid, "name": "D"}, headers=ll.headers)
    ).json()["id"]
    rows = [{"id": f"r{i}", "dataset_id": did, "input": i, "metadata": {"i": i}} for i in range(10)]
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": rows}), headers=ll.headers)
    assert r.status_code == 200
    count = f"measures: count(1) as n | from: dataset('{did}')"
    assert await _btql(ll, count) == [{"n": 10}]
    assert await _btql(ll, f"select: id | from: dataset('{did}') traces | filter: metadata.i = -1") == []
    assert await _btql(ll, count) == [{"n": 10}]
    assert len(await _btql(ll, f"select: * | from: dataset('{did}')")) == 10
    assert len(await _btql(ll, f"select: id | from: dataset('{did}') traces")) == 10


class _OldEngine:
    """A store whose engine predates the optional settings: `system.settings` lists none."""

    def __init__(self) -> None:
        self.asked = 0

    async def query(self, sql: str, params: Any = None, settings: Any = None) -> tuple[list[str], list[Any]]:
        assert "system.settings" in sql
        self.asked += 1
        return ["name"], []


async def test_optional_settings_are_dropped_for_an_engine_without_them_asked_once() -> None:
    store = _OldEngine()
    settings = btql.Limits().settings()
    assert set(btql.OPTIONAL_SETTINGS) <= set(settings)
    for _ in range(3):
        got = await settings_for(store, settings)  # type: ignore[arg-type]
        assert not set(btql.OPTIONAL_SETTINGS) & set(got)
        assert {k: v for k, v in settings.items() if k not in btql.OPTIONAL_SETTINGS} == got
    assert store.asked == 1


async def test_optional_settings_are_kept_for_an_engine_that_has_them(ll: InProcess) -> None:
    settings = btql.Limits().settings()
    assert await settings_for(ll.ctx.require_store(), settings) == settings
