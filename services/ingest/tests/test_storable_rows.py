"""Regressions of issue 10 (defects 1, 2, 3, 5) through the real app: what `/logs3`, the REST
inserts and OTLP acknowledge is stored and read back exactly; what cannot be is a 400 naming
the path; reads never turn a row's data into a 5xx."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from asgi_lifespan import LifespanManager
from loopline.btql.binder import Binder
from loopline.btql.compiler import compile_bound
from loopline.btql.options import Limits
from loopline.common.messages.rows import RowWrite
from loopline.common.rows import MAX_ROW_DEPTH

import tests.support.app as app_support
from loopline import btql
from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[InProcess]:
    # asgi-lifespan gives startup 5 s by default; a loaded CI machine can need more
    monkeypatch.setattr(
        app_support, "LifespanManager", functools.partial(LifespanManager, startup_timeout=60)
    )
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


async def project(ll: InProcess) -> str:
    r = await ll.client.post("/v1/project", json={"name": f"p-{id(ll)}-{ll.org_id[:4]}"}, headers=ll.headers)
    return str(r.json()["id"])


async def logs3(ll: InProcess, rows: Any = None, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else orjson.dumps({"rows": rows})
    return await ll.client.post("/logs3", content=body, headers=ll.headers)


async def fetch(ll: InProcess, pid: str) -> dict[str, dict[str, Any]]:
    r = await ll.client.post(f"/v1/project_logs/{pid}/fetch", json={"limit": 1000}, headers=ll.headers)
    assert r.status_code == 200, r.text
    return {e["id"]: e for e in r.json()["events"]}


async def dead_letters(ll: InProcess) -> list[str]:
    r = await ll.client.get("/api/admin/dlq", headers=ll.headers)
    assert r.status_code == 200, r.text
    return [o.get("reason", "") for o in r.json()["objects"]]


async def schema(ll: InProcess, pid: str) -> dict[str, Any]:
    r = await ll.client.get(
        "/btql/schema", params={"object_type": "project_logs", "object_id": pid}, headers=ll.headers
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def btql_ids(ll: InProcess, pid: str, cond: str, *, fast: bool) -> list[str]:
    """Ids matching `cond`, compiled with or without the `metadata_json` fast path."""
    q = btql.parse(f"select: id | from: project_logs('{pid}') | filter: {cond} | sort: id")
    bq = Binder(q, btql.source_of(q), fast_json=fast).bind()
    store = ll.ctx.require_store()
    cq = compile_bound(
        bq,
        btql.Scope.project_logs(ll.org_id, (pid,)),
        limits=Limits(),
        db=store.database,
        tz_offset=0,
        lint_mode="default",
        fingerprint="x",
    )
    if not fast:
        assert "metadata_json" not in cq.sql
    elif " = " in cond and '"' not in cond:
        assert "metadata_json" in cq.sql  # a plain path compared: the typed companion is read
    cols, rows = await store.query(cq.sql, cq.params, cq.settings)
    return [r["id"] for r in cq.finish(cols, rows).data]


def deep_list(levels: int) -> Any:
    v: Any = "leaf"
    for _ in range(levels):
        v = [v]
    return v


# -- defect 1 and 5: a dotted key next to the nested keys it spells ---------------------------


async def test_dotted_keys_next_to_nested_ones_are_stored_and_read_exactly(ll: InProcess) -> None:
    pid = await project(ll)
    clash = {"a.b": 1, "a": {"b": 2}}
    rows = [
        {"id": "m", "project_id": pid, "log_id": "g", "metadata": clash},
        {"id": "s", "project_id": pid, "log_id": "g", "span_attributes": {**clash, "name": "x"}},
        {"id": "h", "project_id": pid, "log_id": "g", "metadata": {"http.method": "GET", "x": {"y.z": [1]}}},
        {"id": "n", "project_id": pid, "log_id": "g", "metadata": {"http": {"method": "POST"}}},
    ]
    r = await logs3(ll, rows)
    assert r.status_code == 200, r.text
    got = await fetch(ll, pid)
    assert got["m"]["metadata"] == clash
    assert got["s"]["span_attributes"] == {**clash, "name": "x"}
    assert got["h"]["metadata"] == {"http.method": "GET", "x": {"y.z": [1]}}
    assert await dead_letters(ll) == []
    # BTQL: `metadata.a.b` means nested keys, through the typed companion and through the text
    for cond, want in [
        ("metadata.a.b = 2", ["m"]),
        ("metadata.a.b = 1", []),
        ('metadata."a.b" = 1', ["m"]),
        ("metadata.http.method = 'GET'", []),
        ("metadata.http.method = 'POST'", ["n"]),
        ("metadata.http.method IS NOT NULL", ["n"]),
        ("metadata.\"http.method\" = 'GET'", ["h"]),
    ]:
        assert await btql_ids(ll, pid, cond, fast=True) == want, cond
        assert await btql_ids(ll, pid, cond, fast=False) == want, cond
    # schema inference (it casts every field to JSON) answers, and names dotted keys as BTQL does
    s = await schema(ll, pid)
    meta = {p["path"] for p in s["fields"]["metadata"]["paths"]}
    assert {'metadata."a.b"', "metadata.a.b", 'metadata."http.method"', "metadata.http.method"} <= meta
    assert {'span_attributes."a.b"', "span_attributes.a.b"} <= {
        p["path"] for p in s["fields"]["span_attributes"]["paths"]
    }


async def test_a_key_of_10000_dotted_segments_is_stored_end_to_end(ll: InProcess) -> None:
    pid = await project(ll)
    key = ".".join(["s"] * 10_000)
    r = await logs3(
        ll,
        [
            {"id": "k", "project_id": pid, "log_id": "g", "metadata": {key: 1, "s": {"s": 2}}},
            {
                "id": "sa",
                "project_id": pid,
                "log_id": "g",
                "span_attributes": {key: "x"},
                "input": {key: [key]},
            },
        ],
    )
    assert r.status_code == 200, r.text
    # and the same key as an OTLP span attribute (it lands in metadata, flat)
    otlp = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0" * 31 + "1",
                                "spanId": "0" * 15 + "1",
                                "name": "n",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001000000000",
                                "attributes": [{"key": key, "value": {"stringValue": "flat"}}],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    r = await ll.client.post(
        "/otel/v1/traces",
        content=orjson.dumps(otlp),
        headers={**ll.headers, "Content-Type": "application/json", "x-bt-parent": f"project_id:{pid}"},
    )
    assert r.status_code == 200, r.text
    got = await fetch(ll, pid)
    assert got["k"]["metadata"] == {key: 1, "s": {"s": 2}}
    assert got["sa"]["span_attributes"] == {key: "x"} and got["sa"]["input"] == {key: [key]}
    (otel,) = [e for e in got.values() if e["id"] not in ("k", "sa")]
    assert otel["metadata"][key] == "flat"
    assert await dead_letters(ll) == []
    assert await btql_ids(ll, pid, "metadata.s.s = 2", fast=True) == ["k"]
    assert await btql_ids(ll, pid, "metadata.s.s = 2", fast=False) == ["k"]
    await schema(ll, pid)


# -- defect 2: nesting ------------------------------------------------------------------------


async def test_rows_at_the_depth_limit_are_stored_and_deeper_ones_are_a_400_naming_the_path(
    ll: InProcess,
) -> None:
    pid = await project(ll)
    at_limit = deep_list(MAX_ROW_DEPTH - 1)  # the row object is level 1
    r = await logs3(ll, [{"id": "d", "project_id": pid, "log_id": "g", "input": at_limit}])
    assert r.status_code == 200, r.text
    r = await logs3(
        ll,
        [
            {
                "id": "a",
                "project_id": pid,
                "log_id": "g",
                "_audit_metadata": {"x": deep_list(MAX_ROW_DEPTH - 2)},
            }
        ],
    )
    assert r.status_code == 200, r.text
    assert (await fetch(ll, pid))["d"]["input"] == at_limit
    r = await ll.client.post(
        f"/v1/project_logs/{pid}/fetch", json={"limit": 10, "audit_log": True}, headers=ll.headers
    )
    assert r.status_code == 200, r.text  # the audit trail nests the audit metadata 2 levels deeper
    for levels in (MAX_ROW_DEPTH, 254, 255, 600, 1019):  # 1019: 1024 with the body around
        raw = b'{"rows":[{"id":"x","project_id":"%s","log_id":"g","metadata":{"k":%s}}]}' % (
            pid.encode(),
            b"[" * (levels - 1) + b"]" * (levels - 1),
        )
        r = await logs3(ll, raw=raw)
        assert r.status_code == 400, (levels, r.text)
        msg = r.json()["error"]["message"]
        assert msg.startswith("rows[0].metadata.k[0][0]") and f"limit of {MAX_ROW_DEPTH} levels" in msg, msg
    r = await ll.client.post(
        f"/v1/project_logs/{pid}/insert",
        content=b'{"events":[{"id":"y","input":%s}]}' % (b'{"a":' * 400 + b"1" + b"}" * 400),
        headers=ll.headers,
    )
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("events[0].input.a.a"), r.text
    r = await logs3(ll, raw=b'{"rows":[' + b"[" * 1100 + b"]" * 1100 + b"]}")
    assert r.status_code == 400, r.text  # past the JSON parser's own limit
    assert set(await fetch(ll, pid)) == {"d", "a"}


# -- defect 3: numbers beyond 64 bits ----------------------------------------------------------


async def test_numbers_beyond_64_bits_are_stored_and_summaries_survive_them(ll: InProcess) -> None:
    pid = await project(ll)
    r = await ll.client.post("/v1/experiment", json={"project_id": pid, "name": "big"}, headers=ll.headers)
    eid = r.json()["id"]
    big = b"18446744073709551616"  # 2**64: a JSON parser hands it over as a float
    raw = (
        b'{"rows":[{"id":"r","experiment_id":"%s","metrics":{"tokens":%s,"prompt_tokens":%s,"start":1,"end":%s},'
        % (
            eid.encode(),
            big,
            big,
            big,
        )
    )
    raw += (
        b'"scores":{"s":1},"input":{"n":%s,"m":-9223372036854775809,"u":18446744073709551615},"metadata":{"n":%s}}]}'
        % (
            big,
            big,
        )
    )
    r = await logs3(ll, raw=raw)
    assert r.status_code == 200, r.text
    r = await ll.client.post(f"/v1/experiment/{eid}/fetch", json={}, headers=ll.headers)
    assert r.status_code == 200, r.text
    (row,) = r.json()["events"]
    # integer literals beyond 64 bits read back as the floats the JSON parser made of them
    assert row["input"] == {"n": float(2**64), "m": float(-(2**63) - 1), "u": 2**64 - 1}
    assert type(row["input"]["u"]) is int and row["metrics"]["tokens"] == float(2**64)
    r = await ll.client.get(f"/v1/experiment/{eid}/summarize", headers=ll.headers)
    assert r.status_code == 200, r.text
    assert r.json()["metrics"]["total_tokens"]["metric"] == 2**64
    s = await ll.client.get(
        "/btql/schema", params={"object_type": "experiment", "object_id": eid}, headers=ll.headers
    )
    assert s.status_code == 200, s.text


async def test_a_row_dead_lettered_for_a_duplicate_path_replays_now(ll: InProcess) -> None:
    """Rows an older writer dead-lettered ("Duplicate path found") are written on replay."""
    pid = await project(ll)
    row = {"id": "old", "project_id": pid, "log_id": "g", "metadata": {"a.b": 1, "a": {"b": 2}}}
    w = RowWrite(ll.org_id, pid, "project_logs", "g", 1000198000000000000, row)
    reason = "store rejected the row: Code: 117. DB::Exception: Duplicate path found during parsing JSON object: a.b"
    await ll.ctx.require_store().insert(
        "dead_letters",
        [[w.key, w.encode().decode(), reason, datetime.now(UTC)]],
        ["key", "value", "reason", "created"],
    )
    r = await ll.client.post("/api/admin/dlq/replay", json={}, headers=ll.headers)
    assert r.status_code == 200 and len(r.json()["replayed"]) == 1, r.text
    assert (await fetch(ll, pid))["old"]["metadata"] == {"a.b": 1, "a": {"b": 2}}
    assert await dead_letters(ll) == []
