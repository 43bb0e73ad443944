"""GET /v1/dataset/{id}/versions: the transactions that wrote a dataset, newest first, each
readable with `/btql`'s `version`; another org's dataset is a 404; a bad limit is a 400."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process
from tests.support.datasets import insert, versions


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


async def rows_as_of(ll: InProcess, ds: str, version: str | None) -> list[tuple[str, Any]]:
    body: dict[str, Any] = {"query": f"select: id, input | from: dataset('{ds}') | sort: id"}
    if version is not None:
        body["version"] = version
    r = await ll.client.post("/btql", json=body, headers=ll.headers)
    assert r.status_code == 200, r.text
    return [(row["id"], row["input"]) for row in r.json()["data"]]


async def test_versions_list_each_write_and_read_the_dataset_as_of_it(ll: InProcess) -> None:
    pid = (await ll.client.post("/v1/project", json={"name": "ds-versions"}, headers=ll.headers)).json()["id"]
    ds = (
        await ll.client.post("/v1/dataset", json={"project_id": pid, "name": "faq"}, headers=ll.headers)
    ).json()["id"]
    assert await versions(ll, ds) == []
    await insert(ll, ds, {"id": "a", "input": "one"}, {"id": "b", "input": "two"})
    await insert(ll, ds, {"id": "a", "input": "one, edited"})
    await insert(ll, ds, {"id": "b", "_object_delete": True})
    vs = await versions(ll, ds)
    assert [(v["rows"], v["deleted"]) for v in vs] == [(1, 1), (1, 0), (2, 0)]
    assert vs[0]["version"] > vs[1]["version"] > vs[2]["version"]
    assert all(v["created"].startswith("20") for v in vs)
    assert await rows_as_of(ll, ds, None) == [("a", "one, edited")]
    assert await rows_as_of(ll, ds, vs[2]["version"]) == [("a", "one"), ("b", "two")]
    assert await rows_as_of(ll, ds, vs[1]["version"]) == [("a", "one, edited"), ("b", "two")]
    assert [v["version"] for v in await versions(ll, ds, limit=1)] == [vs[0]["version"]]


async def test_versions_refuse_bad_limits_and_unknown_datasets(ll: InProcess) -> None:
    r = await ll.client.get("/v1/dataset/nope/versions", headers=ll.headers)
    assert r.status_code == 404 and "does not exist" in r.json()["error"]["message"]
    pid = (await ll.client.post("/v1/project", json={"name": "ds-versions-2"}, headers=ll.headers)).json()[
        "id"
    ]
    ds = (
        await ll.client.post("/v1/dataset", json={"project_id": pid, "name": "x"}, headers=ll.headers)
    ).json()["id"]
    r = await ll.client.get(f"/v1/dataset/{ds}/versions", params={"limit": 0}, headers=ll.headers)
    assert r.status_code == 400 and "limit" in r.json()["error"]["message"]
