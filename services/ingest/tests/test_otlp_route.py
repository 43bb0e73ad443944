"""`POST /otel/v1/traces` through the real app (bus, writer, embedded store): the reported 500s are
clear 4xx answers or partial successes, the connection keeps serving, and what is acknowledged
is readable afterwards."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopline.common.auth import Principal
from loopline.common.control_plane import ControlPlaneRefused
from loopline.gateway.control_plane import LocalControlPlane
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.app import InProcess, in_process

TRACE = "0e6599341c820e5525bc94b4d273a672"
START_NS = 1795337587333900000
JSON_CT = "application/json"
PB_CT = "application/x-protobuf"


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, max_request_bytes=2_000_000, max_row_bytes=200_000) as p:
        yield p


def body(*spans: dict[str, Any]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}).encode()


def span(span_id: str = "f3e7ae073c990e06", **fields: Any) -> dict[str, Any]:
    return {"traceId": TRACE, "spanId": span_id, "name": "n", "startTimeUnixNano": START_NS, **fields}


async def post(
    ll: InProcess, content: bytes, content_type: str | None = JSON_CT, **headers: str
) -> httpx.Response:
    h = {**ll.headers, **headers}
    if content_type is not None:
        h["Content-Type"] = content_type
    return await ll.client.post("/otel/v1/traces", content=content, headers=h)


async def fetch_ids(ll: InProcess, pid: str) -> set[str]:
    r = await ll.client.post(f"/v1/project_logs/{pid}/fetch", json={"limit": 1000}, headers=ll.headers)
    assert r.status_code == 200, r.text
    return {e["id"] for e in r.json()["events"]}


@pytest.mark.parametrize(
    ("content", "content_type", "extra", "status", "needle"),
    [
        (
            body(span(status=-1)),
            JSON_CT,
            {},
            400,
            "resourceSpans[0].scopeSpans[0].spans[0].status: expected an object",
        ),
        (body(span(events=1)), JSON_CT, {}, 400, "spans[0].events: expected an array"),
        (
            body(span(startTimeUnixNano=1e300)),
            JSON_CT,
            {},
            400,
            "startTimeUnixNano: expected an unsigned 64-bit",
        ),
        (body(span(attributes=[{"key": "i", "value": {"intValue": 2**64}}])), JSON_CT, {}, 400, "intValue"),
        (b"", JSON_CT, {}, 400, "empty body"),
        (b"", PB_CT, {}, 400, "empty body"),
        (b"\x0a\xff\xff\xff\xff\x0f", PB_CT, {}, 400, "not a valid protobuf"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\xc3"}]}]}]}', JSON_CT, {}, 400, "UTF-8"),
        (b'{"resourceSpans": NaN}', JSON_CT, {}, 400, "malformed JSON"),
        (
            gzip.compress(body(span()))[:-10],
            JSON_CT,
            {"Content-Encoding": "gzip"},
            400,
            "gzip data: the stream is truncated",
        ),
        (b"{}", "text/plain", {}, 415, "Content-Type"),
        (b"{}", None, {}, 415, "Content-Type"),
    ],
)
async def test_malformed_requests_are_clear_4xx(
    ll: InProcess, content: bytes, content_type: str | None, extra: dict[str, str], status: int, needle: str
) -> None:
    pid = await ll.make_project()
    r = await post(ll, content, content_type, **{"x-bt-parent": f"project_id:{pid}", **extra})
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]
    # the same connection keeps serving, and nothing of the request was written
    assert (await ll.client.get("/healthz")).status_code == 200
    assert await fetch_ids(ll, pid) == set()


async def test_overlong_project_name_header_rejects_the_spans(ll: InProcess) -> None:
    r = await post(ll, body(span()), **{"x-bt-parent": "project_name:" + "n" * 1025})
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert ps["rejectedSpans"] == 1 and "over the limit of 1024" in ps["errorMessage"]
    req = ExportTraceServiceRequest()
    sp = req.resource_spans.add().scope_spans.add().spans.add()
    sp.trace_id, sp.span_id, sp.name = bytes.fromhex(TRACE), bytes.fromhex("f3e7ae073c990e06"), "n"
    r = await post(ll, req.SerializeToString(), PB_CT, **{"x-bt-parent": "project_name:" + "n" * 5000})
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert r.status_code == 200 and resp.partial_success.rejected_spans == 1


async def test_longest_project_name_is_created_and_stored(ll: InProcess) -> None:
    name = "n" * 1024
    r = await post(ll, body(span()), **{"x-bt-parent": f"project_name:{name}"})
    assert r.status_code == 200 and r.content == b"{}", r.text
    r = await ll.client.get("/v1/project", params={"project_name": name}, headers=ll.headers)
    assert r.status_code == 200, r.text
    (project,) = r.json()["objects"]
    assert await fetch_ids(ll, project["id"]) == {"f3e7ae073c990e06"}


async def test_a_parent_the_control_plane_refuses_rejects_its_spans(ll: InProcess) -> None:
    class Refusing(LocalControlPlane):
        async def project_id_by_name(self, principal: Principal, name: str) -> str:
            raise ControlPlaneRefused(400, "'name' is not acceptable")

    kept, ll.ctx.control_plane = ll.ctx.control_plane, Refusing(ll.ctx.require_store())
    try:
        r = await post(ll, body(span()), **{"x-bt-parent": "project_name:x"})
    finally:
        ll.ctx.control_plane = kept
    assert r.status_code == 200
    assert r.json()["partialSuccess"] == {
        "rejectedSpans": 1,
        "errorMessage": "span f3e7ae073c990e06: project_name:x cannot be used: 'name' is not acceptable",
    }


async def test_far_future_span_is_rejected_and_the_others_stored(ll: InProcess) -> None:
    pid = await ll.make_project()
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for sid, start in (("1000000000000001", START_NS), ("1000000000000002", 2**64 - 1)):
        sp = spans.add()
        sp.trace_id, sp.span_id, sp.name, sp.start_time_unix_nano = (
            bytes.fromhex(TRACE),
            bytes.fromhex(sid),
            "s",
            start,
        )
    r = await post(ll, req.SerializeToString(), PB_CT, **{"x-bt-parent": f"project_id:{pid}"})
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(r.content)
    assert r.status_code == 200 and resp.partial_success.rejected_spans == 1
    assert "after 2299-12-31" in resp.partial_success.error_message
    assert await fetch_ids(ll, pid) == {"1000000000000001"}


async def test_hostile_dotted_keys_are_stored_or_rejected_never_acknowledged_and_lost(ll: InProcess) -> None:
    pid = await ll.make_project()
    key = ".".join(["a"] * 10_000)
    attrs = [
        {"key": f"braintrust.span_attributes.{key}", "value": {"stringValue": "x"}},
        {"key": f"gen_ai.prompt.{key}", "value": {"stringValue": "x"}},
    ]
    r = await post(
        ll, body(span("2000000000000002", attributes=attrs)), **{"x-bt-parent": f"project_id:{pid}"}
    )
    assert r.status_code == 200, r.text
    if r.content == b"{}":  # acknowledged: it must be readable
        assert await fetch_ids(ll, pid) == {"2000000000000002"}
    else:
        assert r.json()["partialSuccess"]["rejectedSpans"] == 1


async def test_flat_attribute_key_of_ten_thousand_segments_is_never_acknowledged_and_lost(
    ll: InProcess,
) -> None:
    pid = await ll.make_project()
    attrs = [{"key": ".".join(["a"] * 10_000), "value": {"stringValue": "x"}}]
    r = await post(
        ll, body(span("3000000000000003", attributes=attrs)), **{"x-bt-parent": f"project_id:{pid}"}
    )
    assert r.status_code < 500, r.text
    if r.status_code == 200 and r.content == b"{}":  # acknowledged: it must be readable
        assert await fetch_ids(ll, pid) == {"3000000000000003"}
    else:  # or refused, saying why
        assert r.status_code == 400 or r.json()["partialSuccess"]["rejectedSpans"] == 1
