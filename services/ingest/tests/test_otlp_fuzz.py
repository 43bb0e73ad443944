"""Property-based fuzzing of the OTLP ingest path (bounded: a few hundred examples in all).

(a) unit level: mutated valid protobuf bytes, mutated valid OTLP/JSON documents and generated
    hostile protobuf requests go through decode → map → attach (the route's functions). Each
    either ends in an `OtlpError` with a 4xx status, or in rows that pass `validate_row` and
    encode for the bus. No other exception may escape.
(b) route level: the same bodies, with varied Content-Type, Content-Encoding and x-bt-parent,
    through the ASGI app: never a 5xx, and the connection keeps serving.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopline.common.messages import rows as rows_topic
from loopline.common.rows import EXPERIMENT, PROJECT_LOGS, ObjectRef, validate_row
from loopline.ingest.errors import ERRORS
from loopline.ingest.otlp import (
    JSON,
    PROTOBUF,
    OtlpError,
    attach_targets,
    decode_request,
    map_spans,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.support.app import InProcess, in_process

TRACE = "0e6599341c820e5525bc94b4d273a672"
START_NS = 1795337587333900000


# -- seeds: valid requests exercising the decoders and the semantic conventions ----------------


def _av(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, bytes):
        return {"bytesValue": base64.b64encode(v).decode()}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_av(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _av(x)} for k, x in v.items()]}}
    return {"stringValue": v}


SEED_ATTRS: list[dict[str, Any]] = [
    {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hello",
        "gen_ai.completion.0.content": "hi",
        "kv": {"a": [1, 2.5, True, b"\x00"]},
    },
    {
        "braintrust.input_json": '{"q": 1}',
        "braintrust.metrics": '{"custom": 1.5}',
        "braintrust.scores": '{"acc": 1}',
        "braintrust.span_attributes.type": "eval",
        "braintrust.tags": ["a"],
        "braintrust.parent": "experiment_id:e1",
    },
    {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "u",
        "llm.token_count.total": 12,
        "input.value": '{"x": 1}',
        "input.mime_type": "application/json",
        "metadata": '{"tenant": "acme"}',
    },
]


def seed_doc(i: int) -> dict[str, Any]:
    attrs = SEED_ATTRS[i % len(SEED_ATTRS)]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "s", "version": "1"},
                        "spans": [
                            {
                                "traceId": TRACE,
                                "spanId": f"{i + 1:016x}",
                                "parentSpanId": "a1b2c3d4e5f60718",
                                "name": "span",
                                "kind": "SPAN_KIND_CLIENT",
                                "startTimeUnixNano": str(START_NS),
                                "endTimeUnixNano": START_NS + 1000,
                                "attributes": [{"key": k, "value": _av(v)} for k, v in attrs.items()],
                                "events": [
                                    {
                                        "name": "gen_ai.user.message",
                                        "timeUnixNano": START_NS,
                                        "attributes": [{"key": "content", "value": {"stringValue": "hi"}}],
                                    }
                                ],
                                "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def _pb_any(v: Any) -> AnyValue:
    out = AnyValue()
    if isinstance(v, bool):
        out.bool_value = v
    elif isinstance(v, int):
        out.int_value = v
    elif isinstance(v, float):
        out.double_value = v
    elif isinstance(v, bytes):
        out.bytes_value = v
    elif isinstance(v, list):
        out.array_value.values.extend(_pb_any(x) for x in v)
    elif isinstance(v, dict):
        out.kvlist_value.values.extend(KeyValue(key=k, value=_pb_any(x)) for k, x in v.items())
    else:
        out.string_value = v
    return out


def seed_pb(i: int) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    sp = rs.scope_spans.add().spans.add()
    sp.trace_id, sp.span_id, sp.name = bytes.fromhex(TRACE), (i + 1).to_bytes(8, "big"), "span"
    sp.start_time_unix_nano, sp.end_time_unix_nano, sp.kind = START_NS, START_NS + 1000, 3
    for k, v in SEED_ATTRS[i % len(SEED_ATTRS)].items():
        sp.attributes.add(key=k).value.CopyFrom(_pb_any(v))
    ev = sp.events.add(name="gen_ai.user.message", time_unix_nano=START_NS)
    ev.attributes.add(key="content").value.string_value = "hi"
    sp.status.code, sp.status.message = 2, "boom"
    return req.SerializeToString()


PB_SEEDS = [seed_pb(i) for i in range(len(SEED_ATTRS))]

# -- hostile values ----------------------------------------------------------------------------


def _deep_any(depth: int, kind: str) -> dict[str, Any]:
    v: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(depth):
        v = (
            {"arrayValue": {"values": [v]}}
            if kind == "a"
            else {"kvlistValue": {"values": [{"key": "k", "value": v}]}}
        )
    return v


EXTREMES: list[Any] = [
    -1,
    0,
    1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64 - 1,
    2**64,
    10**30,
    1e300,
    -1e300,
    1.5,
    1e-300,
    float("nan"),
    float("inf"),
    "",
    "-1",
    "18446744073709551616",
    "1e300",
    "NaN",
    "Infinity",
    "0x1F",
    "1_000",
    True,
    False,
    None,
    [],
    {},
    [[[]]],
    {"a": {}},
    "\ud800",
    "\x00",
    "é" * 3,
    "a" * 3000,
    ".".join(["a"] * 3000),
    "9" * 5000,
    "[" * 600 + "]" * 600,
    '{"a.b": 1, "a": {"b": 2}}',
    '{"tokens": 18446744073709551616}',
    "project_name:" + "p" * 1100,
    "SPAN_KIND_SERVER",
    "STATUS_CODE_OK",
    TRACE,
    "f3e7ae073c990e06",
    base64.b64encode(b"\x01" * 16).decode(),
]
hostile_values = st.one_of(
    st.sampled_from(EXTREMES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=30),
    st.builds(_deep_any, st.integers(0, 80), st.sampled_from("ak")),
    st.builds(
        lambda n, v: {"key": ".".join(["k"] * n), "value": v},
        st.integers(1, 5000),
        st.sampled_from([{"stringValue": "x"}, {"intValue": 1}]),
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=8,
    ),
)
hostile_keys = st.one_of(
    st.sampled_from(
        [
            "traceId",
            "span_id",
            "startTimeUnixNano",
            "status",
            "events",
            "attributes",
            "value",
            "intValue",
            "kvlistValue",
            "arrayValue",
            "values",
            "resource",
            "scopeSpans",
        ]
    ),
    st.text(max_size=12),
)


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key/index) in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((node, k))
            _slots(v, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((node, i))
            _slots(v, out)
    return out


@st.composite
def mutated_json(draw: st.DrawFn) -> bytes:
    doc = copy.deepcopy(seed_doc(draw(st.integers(0, len(SEED_ATTRS) - 1))))
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(doc, [])
        if not slots:
            break
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        op = draw(st.sampled_from(["replace", "replace", "delete", "rename", "wrap", "dup"]))
        if op == "replace":
            container[key] = draw(hostile_values)
        elif op == "delete":
            del container[key]
        elif op == "rename" and isinstance(container, dict):
            container[draw(hostile_keys)] = container.pop(key)
        elif op == "wrap":
            container[key] = draw(st.sampled_from([[container[key]], {"values": [container[key]]}]))
        elif op == "dup" and isinstance(container, list):
            container.extend([container[key]] * draw(st.integers(1, 50)))
    text = json.dumps(doc).encode()  # stdlib: any int, NaN/Infinity literals, lone surrogates
    return _byte_mutate(draw, text) if draw(st.integers(0, 4)) == 0 else text


def _byte_mutate(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "splice"]))
        n = len(buf)
        if op == "flip" and n:
            buf[draw(st.integers(0, n - 1))] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del buf[draw(st.integers(0, n)) :]
        elif op == "insert":
            at = draw(st.integers(0, n))
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and n:
            at = draw(st.integers(0, n - 1))
            del buf[at : at + draw(st.integers(1, 8))]
        elif op == "splice" and n:
            a, b = sorted((draw(st.integers(0, n)), draw(st.integers(0, n))))
            buf[a:a] = buf[a:b] * draw(st.integers(1, 4))
    return bytes(buf)


@st.composite
def mutated_pb(draw: st.DrawFn) -> bytes:
    return _byte_mutate(draw, draw(st.sampled_from(PB_SEEDS)))


pb_any = st.recursive(
    st.builds(AnyValue, string_value=st.text(max_size=10))
    | st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1))
    | st.builds(AnyValue, double_value=st.floats())
    | st.builds(AnyValue, bytes_value=st.binary(max_size=10)),
    lambda c: (
        st.builds(lambda xs: AnyValue(array_value={"values": xs}), st.lists(c, max_size=3))
        | st.builds(
            lambda kvs: AnyValue(kvlist_value={"values": [KeyValue(key=k, value=v) for k, v in kvs]}),
            st.lists(st.tuples(st.text(max_size=6), c), max_size=3),
        )
    ),
    max_leaves=12,
)


@st.composite
def generated_pb(draw: st.DrawFn) -> bytes:
    """Well-formed protobuf with hostile values: any u64 times, ids of any length, deep values."""
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 3))):
        sp = req.resource_spans.add().scope_spans.add().spans.add()
        sp.trace_id = draw(
            st.sampled_from([bytes.fromhex(TRACE), b"", b"\x00" * 16]) | st.binary(max_size=20)
        )
        sp.span_id = draw(st.binary(min_size=8, max_size=8) | st.binary(max_size=12))
        sp.parent_span_id = draw(st.binary(max_size=9))
        sp.name = draw(st.text(max_size=20))
        sp.kind = draw(st.integers(-(2**31), 2**31 - 1))
        sp.start_time_unix_nano = draw(st.integers(0, 2**64 - 1) | st.just(START_NS))
        sp.end_time_unix_nano = draw(st.integers(0, 2**64 - 1))
        sp.status.code = draw(st.integers(-(2**31), 2**31 - 1))
        for _ in range(draw(st.integers(0, 4))):
            key = draw(st.sampled_from([k for a in SEED_ATTRS for k in a]) | st.text(max_size=20))
            kv = sp.attributes.add(key=key)
            kv.value.CopyFrom(draw(pb_any | st.builds(lambda d: _pb_any_deep(d), st.integers(1, 60))))
    return req.SerializeToString()


def _pb_any_deep(depth: int) -> AnyValue:
    v = AnyValue(string_value="leaf")
    for _ in range(depth):
        w = AnyValue()
        w.array_value.values.add().CopyFrom(v)
        v = w
    return v


any_body = st.one_of(
    st.tuples(mutated_json(), st.just(JSON)),
    st.tuples(mutated_pb(), st.just(PROTOBUF)),
    st.tuples(generated_pb(), st.just(PROTOBUF)),
    st.tuples(st.binary(max_size=64), st.sampled_from([JSON, PROTOBUF])),
)
HEADER_PARENTS = [
    "project_id:p1",
    "experiment_id:e1",
    "project_name:demo",
    None,
    "",
    "bogus",
    "project_name:" + "x" * 2000,
]


# -- (a) unit level ---------------------------------------------------------------------------


def run_pipeline(body: bytes, content_type: str, header: str | None) -> list[dict[str, Any]]:
    """decode → map → attach as the route does; returns the rows that would be published."""
    try:
        spans = decode_request(body, content_type)
        batch = map_spans(spans, header)
        resolved = {
            p: (
                ObjectRef(EXPERIMENT, p.value, "p1")
                if p.kind == "experiment_id"
                else ObjectRef(PROJECT_LOGS, "p1", "p1")
            )
            for p in batch.parents()
        }
        result = attach_targets(batch, resolved, max_row_bytes=1_000_000, max_total_bytes=20_000_000)
    except OtlpError as exc:
        assert 400 <= ERRORS.status_of(exc) < 500 and exc.message
        return []
    assert len(result.rows) == len(result.validated)
    assert result.rejected >= 0 and (result.rejected == 0) == (result.error_message == "")
    for row, v in zip(result.rows, result.validated, strict=True):
        validate_row(row)  # the contract accepts it...
        orjson.dumps({"r": v.row})  # ...and the bus envelope encodes it
        # the envelope built from the row's bytes (encoded once, for its size) is the same bytes
        w = rows_topic.RowWrite("o", "p1", v.object_type, v.object_id, 7, v.row)
        assert v.encoded is not None and rows_topic.encode_encoded(w, v.encoded) == rows_topic.encode(w)
    return result.rows


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(case=any_body, header=st.sampled_from(HEADER_PARENTS))
def test_fuzz_pipeline_is_a_client_error_or_valid_rows(case: tuple[bytes, str], header: str | None) -> None:
    body, content_type = case
    run_pipeline(body, content_type, header)


def test_seeds_produce_rows() -> None:
    """The fuzzer starts from bodies that really map to rows (else it would test only errors)."""
    for i in range(len(SEED_ATTRS)):
        assert run_pipeline(json.dumps(seed_doc(i)).encode(), JSON, "project_id:p1")
        assert run_pipeline(PB_SEEDS[i], PROTOBUF, "project_id:p1")


# -- (b) route level --------------------------------------------------------------------------


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, max_request_bytes=500_000, max_row_bytes=100_000) as p:
        yield p


CONTENT_TYPES = [
    None,
    "text/plain",
    "application/json; charset=utf-8",
    "application/protobuf",
    "application/x-protobuf",
]


# the project `project_id:<pid>` names, one per app (made on first use)
_FUZZ_PIDS: dict[int, str] = {}


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    case=any_body,
    header=st.sampled_from([*HEADER_PARENTS[2:], "project_id:<pid>"]),
    content_type=st.one_of(st.none(), st.sampled_from(CONTENT_TYPES)),
    encoding=st.sampled_from(["", "", "gzip", "gzip-truncated", "deflate", "br"]),
)
async def test_fuzz_route_never_answers_5xx(
    ll: InProcess, case: tuple[bytes, str], header: str | None, content_type: str | None, encoding: str
) -> None:
    body, natural_type = case
    headers = {**ll.headers, "Content-Type": content_type or natural_type}
    if header is not None:
        if header == "project_id:<pid>":
            pid = _FUZZ_PIDS.setdefault(id(ll), await ll.make_project())
            header = f"project_id:{pid}"
        headers["x-bt-parent"] = header
    if encoding.startswith("gzip"):
        body = gzip.compress(body, mtime=0)
        if encoding == "gzip-truncated":
            body = body[: len(body) // 2]
        headers["Content-Encoding"] = "gzip"
    elif encoding:
        headers["Content-Encoding"] = encoding
    r = await ll.client.post("/otel/v1/traces", content=body, headers=headers)
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        assert r.json()["error"]["message"]
