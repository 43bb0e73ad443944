"""POST /v1/dataset/{id}/restore: the dataset as it was at a version, written back as one new
version (edited records as they were, records added since deleted, unchanged ones left alone);
bad versions and unknown or foreign datasets are 4xx; a viewer is refused by the gateway; a
restore whose dataset moved (since the caller looked, or while the restore read) is a 409 that
writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from loopline.common.auth import Principal
from loopline.common.service_calls import ServiceCalls
from loopline.ingest import restore
from loopline.ingest.restore import restore_rows

from tests.support.app import InProcess, in_process
from tests.support.datasets import insert, versions


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


async def version_ids(ll: InProcess, ds: str) -> list[str]:
    return [v["version"] for v in await versions(ll, ds)]


async def records(ll: InProcess, ds: str, version: str | None = None) -> list[tuple[Any, ...]]:
    body: dict[str, Any] = {
        "query": f"select: id, input, expected, metadata, tags | from: dataset('{ds}') | sort: id"
    }
    if version is not None:
        body["version"] = version
    r = await ll.client.post("/btql", json=body, headers=ll.headers)
    assert r.status_code == 200, r.text
    return [(x["id"], x["input"], x["expected"], x["metadata"], x["tags"]) for x in r.json()["data"]]


async def new_dataset(ll: InProcess, name: str) -> str:
    pid = (await ll.client.post("/v1/project", json={"name": name}, headers=ll.headers)).json()["id"]
    r = await ll.client.post("/v1/dataset", json={"project_id": pid, "name": "faq"}, headers=ll.headers)
    return str(r.json()["id"])


async def test_restore_writes_the_old_records_back_as_one_new_version(ll: InProcess) -> None:
    ds = await new_dataset(ll, "ds-restore")
    await insert(
        ll,
        ds,
        {"id": "a", "input": {"q": "one"}, "expected": "1", "metadata": {"k": 1}, "tags": ["t"]},
        {"id": "b", "input": {"q": "two"}, "expected": "2"},
        {"id": "c", "input": {"q": "three"}, "expected": "3"},
    )
    (v1,) = await version_ids(ll, ds)
    original = await records(ll, ds)
    await insert(ll, ds, {"id": "a", "input": {"q": "one, edited"}, "expected": "uno", "metadata": None})
    await insert(ll, ds, {"id": "b", "_object_delete": True}, {"id": "d", "input": {"q": "four"}})
    assert len(await version_ids(ll, ds)) == 3

    r = await ll.client.post(f"/v1/dataset/{ds}/restore", json={"version": v1}, headers=ll.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    # a and b written back, d deleted; c was never changed and is left alone
    assert (body["version"], body["written"], body["deleted"]) == (v1, 2, 1)
    after = await version_ids(ll, ds)
    assert len(after) == 4 and after[0] == body["xact_id"]
    assert await records(ll, ds) == original
    # history is kept: the version before the restore still reads as it was
    assert [x[0] for x in await records(ll, ds, after[1])] == ["a", "c", "d"]

    # restoring the version the dataset already is writes nothing
    r = await ll.client.post(f"/v1/dataset/{ds}/restore", json={"version": after[0]}, headers=ll.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["xact_id"], r.json()["written"], r.json()["deleted"]) == (None, 0, 0)
    assert len(await version_ids(ll, ds)) == 4


async def test_restore_refuses_bad_requests_foreign_datasets_and_viewers(ll: InProcess) -> None:
    ds = await new_dataset(ll, "ds-restore-2")
    await insert(ll, ds, {"id": "a", "input": 1})
    (v1,) = await version_ids(ll, ds)
    url = f"/v1/dataset/{ds}/restore"
    for body, where in (
        ({}, "version"),
        ({"version": 7}, "version"),
        ({"version": "not-a-version"}, "version"),
    ):
        r = await ll.client.post(url, json=body, headers=ll.headers)
        assert r.status_code == 400, (body, r.text)
        assert where in r.json()["error"]["message"], r.text
    r = await ll.client.post(url, content=b"[1]", headers=ll.headers)
    assert r.status_code == 400
    r = await ll.client.post("/v1/dataset/nope/restore", json={"version": v1}, headers=ll.headers)
    assert r.status_code == 404 and "does not exist" in r.json()["error"]["message"]
    _, other_key = await ll.new_org("restore-other")
    r = await ll.client.post(url, json={"version": v1}, headers={"Authorization": f"Bearer {other_key}"})
    assert r.status_code == 404
    viewer, _ = await ll.keys.create_key(ll.org_id, "viewer", role="viewer")
    r = await ll.client.post(url, json={"version": v1}, headers={"Authorization": f"Bearer {viewer}"})
    assert r.status_code == 403
    assert len(await version_ids(ll, ds)) == 1


async def test_a_restore_whose_dataset_moved_is_a_409_and_writes_nothing(
    ll: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = await new_dataset(ll, "ds-restore-3")
    url = f"/v1/dataset/{ds}/restore"
    await insert(ll, ds, {"id": "a", "input": "one"})
    (v1,) = await version_ids(ll, ds)
    await insert(ll, ds, {"id": "a", "input": "one, edited"}, {"id": "b", "input": "two"})
    seen = (await version_ids(ll, ds))[0]
    # someone writes after the caller looked: the head the caller sends is not the head any more
    await insert(ll, ds, {"id": "c", "input": "three"})
    r = await ll.client.post(url, json={"version": v1, "head": seen}, headers=ll.headers)
    assert r.status_code == 409, r.text
    message = r.json()["error"]["message"]
    assert "changed since you looked at it" in message and "nothing was restored" in message, message
    assert len(await version_ids(ll, ds)) == 3
    assert [x[0] for x in await records(ll, ds)] == ["a", "b", "c"]
    r = await ll.client.post(url, json={"version": v1, "head": 7}, headers=ll.headers)
    assert r.status_code == 400 and "head" in r.json()["error"]["message"]

    # a write acknowledged while the restore reads the dataset: the restore writes nothing
    real_read = restore.read_records

    async def read_then_someone_writes(
        calls: ServiceCalls, principal: Principal, dataset_id: str, version: str | None
    ) -> dict[str, dict[str, Any]]:
        out = await real_read(calls, principal, dataset_id, version)
        if version is None:
            await insert(ll, ds, {"id": "d", "input": "written during the restore"})
        return out

    monkeypatch.setattr(restore, "read_records", read_then_someone_writes)
    head = (await version_ids(ll, ds))[0]
    r = await ll.client.post(url, json={"version": v1, "head": head}, headers=ll.headers)
    assert r.status_code == 409, r.text
    assert "changed while it was being restored" in r.json()["error"]["message"]
    assert [x[0] for x in await records(ll, ds)] == ["a", "b", "c", "d"]
    assert len(await version_ids(ll, ds)) == 4

    # the same restore with the head as it now is goes through
    monkeypatch.setattr(restore, "read_records", real_read)
    head = (await version_ids(ll, ds))[0]
    r = await ll.client.post(url, json={"version": v1, "head": head}, headers=ll.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["written"], r.json()["deleted"]) == (1, 3)
    assert [(x[0], x[1]) for x in await records(ll, ds)] == [("a", "one")]


def test_restore_rows_rewrite_changed_records_and_delete_new_ones() -> None:
    then = {
        "a": {"id": "a", "_xact_id": "1", "input": 1, "dataset_id": "x", "is_root": True},
        "b": {"id": "b", "_xact_id": "1", "input": 2},
    }
    now = {
        "a": {"id": "a", "_xact_id": "1", "input": 1},
        "b": {"id": "b", "_xact_id": "5", "input": 3},
        "c": {"id": "c", "_xact_id": "5"},
    }
    rows, written, deleted = restore_rows("ds", then, now)
    assert rows == [
        {"id": "b", "dataset_id": "ds", "input": 2},
        {"id": "c", "dataset_id": "ds", "_object_delete": True},
    ]
    assert (written, deleted) == (1, 1)
