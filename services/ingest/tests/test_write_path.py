"""The write path through the real app: /logs3 → bus → writer → ClickHouse → fetch."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.common.bus import OutMessage
from loopline.common.topics import ROWS

from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(
        chdb_dsn, tmp_path, max_request_bytes=200_000, max_row_bytes=50_000, publish_timeout_s=0.5
    ) as p:
        yield p


def row(pid: str, rid: str, **kw: Any) -> dict[str, Any]:
    return {"id": rid, "project_id": pid, "log_id": "g", **kw}


async def logs3(
    ll: InProcess, rows: Any, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> Any:
    body = raw if raw is not None else orjson.dumps({"rows": rows, "api_version": 2})
    return await ll.client.post("/logs3", content=body, headers=ll.headers if headers is None else headers)


async def fetch(ll: InProcess, pid: str, headers: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    r = await ll.client.post(
        f"/v1/project_logs/{pid}/fetch",
        json={"limit": 1000},
        headers=ll.headers if headers is None else headers,
    )
    assert r.status_code == 200, r.text
    return {e["id"]: e for e in r.json()["events"]}


async def test_write_merge_fetch(ll: InProcess) -> None:
    pid = await ll.make_project()
    r = await logs3(
        ll,
        [
            row(
                pid,
                "a",
                input={"q": 1},
                tags=["x"],
                metadata={"k": {"a": 1}},
                span_id="s1",
                root_span_id="t1",
            )
        ],
    )
    assert r.status_code == 200 and len(r.json()["xact_id"]) == 19
    r = await logs3(
        ll, [row(pid, "a", _is_merge=True, tags=["y", "x"], metadata={"k": {"b": 2}}, output="done")]
    )
    assert r.status_code == 200
    got = (await fetch(ll, pid))["a"]
    assert got["tags"] == ["x", "y"] and got["metadata"] == {"k": {"a": 1, "b": 2}}
    assert got["output"] == "done" and got["span_id"] == "s1" and got["is_root"] is True
    # replace: drops fields, keeps created
    created = got["created"]
    await logs3(ll, [row(pid, "a", input="new")])
    got = (await fetch(ll, pid))["a"]
    assert got["input"] == "new" and got["output"] is None and got["created"] == created
    # delete
    await logs3(ll, [row(pid, "a", _object_delete=True)])
    assert "a" not in await fetch(ll, pid)


async def test_bad_row_rejects_whole_request(ll: InProcess) -> None:
    pid = await ll.make_project()
    r = await logs3(ll, [row(pid, "ok1"), row(pid, "bad", scores={"acc": "high"}), row(pid, "ok2")])
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["row_index"] == 1 and "rows[1].scores.acc" in err["message"]
    assert await fetch(ll, pid) == {}  # nothing of that request was published


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'{"rows": [', "malformed JSON"),
        (b'{"rows": "nope"}', "'rows' must be an array"),
        (b"[1,2]", "JSON object"),
        (b"", "empty body"),
        (b'{"rows": [{"id": "\xff\xfe", "project_id": "x", "log_id": "g"}]}', "UTF-8"),
        (b'{"rows": [' + b"[" * 5000 + b"]" * 5000 + b"]}", "nested deeper"),
        (b'{"rows": [{"id": "x"}]}', "missing target object"),
    ],
)
async def test_bad_input_is_a_clear_4xx(ll: InProcess, raw: bytes, needle: str) -> None:
    r = await logs3(ll, None, raw=raw)
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.json()["error"]["message"]
    assert (await ll.client.get("/healthz")).status_code == 200  # still serving


async def test_deeply_nested_but_valid_payload_is_stored(ll: InProcess) -> None:
    pid = await ll.make_project()
    nested: Any = "leaf"
    for _ in range(200):
        nested = {"n": nested}
    assert (await logs3(ll, [row(pid, "deep", input=nested)])).status_code == 200
    assert (await fetch(ll, pid))["deep"]["input"] == nested


async def test_size_limits_are_413_naming_the_limit(ll: InProcess) -> None:
    pid = await ll.make_project()
    r = await logs3(ll, [row(pid, "big", input="x" * 60_000)])
    assert (
        r.status_code == 413 and r.json()["error"]["limit"] == 50_000 and r.json()["error"]["row_index"] == 0
    )
    r = await logs3(ll, [row(pid, f"r{i}", input="x" * 40_000) for i in range(6)])
    assert r.status_code == 413 and "200000" in r.json()["error"]["message"]
    bomb = gzip.compress(orjson.dumps({"rows": [row(pid, "z", input="x" * 1_000_000)]}))
    r = await ll.client.post("/logs3", content=bomb, headers={**ll.headers, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in r.json()["error"]["message"]


async def test_gzip_body_accepted(ll: InProcess) -> None:
    pid = await ll.make_project()
    body = gzip.compress(orjson.dumps({"rows": [row(pid, "gz", input="zipped")]}))
    r = await ll.client.post("/logs3", content=body, headers={**ll.headers, "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert (await fetch(ll, pid))["gz"]["input"] == "zipped"


async def test_auth_and_cross_org_isolation(ll: InProcess) -> None:
    pid = await ll.make_project()
    assert (await logs3(ll, [row(pid, "a", input=1)])).status_code == 200
    assert (await logs3(ll, [row(pid, "b")], headers={})).status_code == 401
    assert (
        await logs3(ll, [row(pid, "b")], headers={"Authorization": "Bearer sk-ll-nope"})
    ).status_code == 401
    _, other_key = await ll.new_org("other-org")
    other = {"Authorization": f"Bearer {other_key}"}
    r = await logs3(ll, [row(pid, "intruder", input="x")], headers=other)
    assert r.status_code == 404 and "does not exist in this organization" in r.json()["error"]["message"]
    r = await ll.client.post(f"/v1/project_logs/{pid}/fetch", json={}, headers=other)
    assert r.status_code == 404
    assert set(await fetch(ll, pid)) == {"a"}


async def test_bus_unavailable_is_503_never_200(ll: InProcess) -> None:
    pid = await ll.make_project()
    await ll.ctx.bus.stop()
    try:
        r = await logs3(ll, [row(pid, "x")])
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
    finally:
        await ll.ctx.bus.start()


async def test_writer_dead_letters_and_replay(ll: InProcess) -> None:
    pid = await ll.make_project()
    bad_key = f"{ll.org_id}/project_logs/g/broken".encode()
    await ll.ctx.bus.publish(ROWS, [OutMessage(bad_key, b"not an envelope")])
    assert (await logs3(ll, [row(pid, "after")])).status_code == 200
    assert "after" in await fetch(ll, pid)  # the writer went past the bad message
    r = await ll.client.get("/api/admin/dlq", headers=ll.headers)
    letters = r.json()["objects"]
    assert len(letters) == 1 and "not a row envelope" in letters[0]["reason"]
    _, other_key = await ll.new_org("dlq-other")
    r = await ll.client.get("/api/admin/dlq", headers={"Authorization": f"Bearer {other_key}"})
    assert r.json()["objects"] == []  # dead letters are org-scoped
    r = await ll.client.post("/api/admin/dlq/replay", json={"ids": [letters[0]["id"]]}, headers=ll.headers)
    assert r.json()["replayed"] == [letters[0]["id"]]
    await fetch(ll, pid)  # waits until the writer has handled the replayed message
    r = await ll.client.get("/api/admin/dlq", headers=ll.headers)
    assert len(r.json()["objects"]) == 1  # replayed again into the DLQ (still broken), once


def _has_text_index(part_path: str) -> bool:
    return any(Path(part_path).glob("skp_idx_idx_input_lc*"))


async def test_text_indexes_are_built_by_merges_and_search_sees_every_part(ll: InProcess) -> None:
    store = ll.ctx.require_store()
    pid = await ll.make_project()
    for i in range(3):  # three writer batches, three parts
        r = await logs3(ll, [row(pid, f"t{i}", input=f"Refund order {i}", output="done")])
        assert r.status_code == 200, r.text
        await fetch(ll, pid)  # waits for the writer

    async def parts_with_text_index() -> list[bool]:
        _, parts = await store.query(
            "SELECT path FROM system.parts WHERE database = {d:String} AND table = 'spans' AND active",
            {"d": store.database},
        )
        return [_has_text_index(p[0]) for p in parts]

    async def search() -> set[str]:
        r = await ll.client.post(
            "/btql",
            json={"query": f"select: id | from: project_logs('{pid}') | filter: input MATCH 'refund'"},
            headers=ll.headers,
        )
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["data"]}

    before = await parts_with_text_index()
    assert len(before) == 3 and not any(before)  # inserts do not build the text index
    assert await search() == {"t0", "t1", "t2"}  # parts without one are scanned
    await store.command(f"OPTIMIZE TABLE {store.database}.spans FINAL")
    after = await parts_with_text_index()
    assert after == [True]  # the merge built it
    assert await search() == {"t0", "t1", "t2"}
