from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from loopline.common.rows import EXPERIMENT, PROJECT_LOGS, ObjectRef, validate_row
from loopline.ingest.errors import ERRORS
from loopline.ingest.otlp import (
    JSON,
    PROTOBUF,
    OtlpError,
    ParentRef,
    attach_targets,
    decode_request,
    encode_response,
    map_span,
    map_spans,
    wire_format,
)
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context

START_NS = 1795337587333900000
END_NS = 1795337587334700000
TRACE = "0e6599341c820e5525bc94b4d273a672"
SPAN = "f3e7ae073c990e06"
CHILD = "a1b2c3d4e5f60718"


def _export(build: Any, resource: Resource | None = None) -> bytes:
    """Protobuf body exactly as the OTLP/HTTP exporter would send it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource or Resource({}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    build(provider.get_tracer("test-scope", "1.2.3"))
    provider.shutdown()
    return bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())


def _captured_chat(tracer: Any) -> None:
    span = tracer.start_span(
        "chat gpt-4o",
        start_time=START_NS,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hello",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hi!",
        },
    )
    span.add_event("gen_ai.user.message", {"content": "hello"}, timestamp=START_NS)
    span.end(end_time=END_NS)


def test_captured_sdk_protobuf_export_maps_to_the_spec_row() -> None:
    body = _export(_captured_chat)
    spans = decode_request(body, "application/x-protobuf")
    assert len(spans) == 1
    batch = map_spans(spans, "project_name:demo-proj")
    assert batch.rejected == 0 and len(batch.spans) == 1
    ms = batch.spans[0]
    assert ms.parent == ParentRef("project_name", "demo-proj")
    row = dict(ms.row)
    span_id = row["span_id"]
    assert len(span_id) == 16 and len(row["root_span_id"]) == 32  # random ids from the SDK
    assert row["metadata"].pop("otel") == {"scope": {"name": "test-scope", "version": "1.2.3"}}
    # spec §8.4 captured mapping (ids aside)
    assert {k: v for k, v in row.items() if k not in ("id", "span_id", "root_span_id", "created")} == {
        "span_parents": None,
        "span_attributes": {"name": "chat gpt-4o", "type": "llm"},
        "input": [{"role": "user", "content": "hello"}],
        "output": [{"role": "assistant", "content": "hi!"}],
        "metadata": {
            "model": "gpt-4o",
            "temperature": 0.2,
            "provider": "openai",
            "gen_ai.operation.name": "chat",
        },
        "metrics": {
            "start": 1795337587.3339,
            "end": 1795337587.3347,
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "tokens": 18,
        },
    }
    assert row["id"] == span_id
    assert row["created"] == "2026-11-22T08:53:07.333900+00:00"


def test_protobuf_parent_resource_and_error() -> None:
    def build(tracer: Any) -> None:
        root = tracer.start_span("root", start_time=START_NS)
        child = tracer.start_span(
            "tool",
            context=set_span_in_context(root),
            start_time=START_NS,
            attributes={"braintrust.parent": "experiment_id:e1"},
        )
        child.record_exception(ValueError("boom"))
        child.set_status(Status(StatusCode.ERROR, "tool failed"))
        child.end(end_time=END_NS)
        root.end(end_time=END_NS)

    body = _export(build, Resource({"service.name": "svc", "n": 3}))
    spans = decode_request(body, "application/x-protobuf; charset=binary")
    batch = map_spans(spans, "project_id:p1")
    rows = {m.row["span_attributes"]["name"]: m for m in batch.spans}
    root, child = rows["root"], rows["tool"]
    assert root.parent == ParentRef("project_id", "p1") and child.parent == ParentRef("experiment_id", "e1")
    assert child.row["span_parents"] == [root.row["span_id"]]
    assert child.row["root_span_id"] == root.row["root_span_id"]
    assert child.row["error"] == "tool failed"
    assert "error" not in root.row
    assert root.row["metadata"]["otel"]["resource"] == {"service.name": "svc", "n": 3}
    assert root.row["span_attributes"]["type"] == "task"


# -- OTLP/JSON ----------------------------------------------------------------------------------


def _json_body(spans: list[dict[str, Any]], **resource_attrs: Any) -> bytes:
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": k, "value": {"stringValue": v}} for k, v in resource_attrs.items()
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "manual"}, "spans": spans}],
                }
            ]
        }
    )


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        v: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}  # int64 as a string, as OTLP/JSON allows
    elif isinstance(value, float):
        v = {"doubleValue": value}
    elif isinstance(value, list):
        v = {"arrayValue": {"values": [{"stringValue": x} for x in value]}}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def test_json_quirks_hex_ids_int64_strings_enum_names() -> None:
    body = _json_body(
        [
            {
                "traceId": TRACE.upper(),
                "spanId": SPAN,
                "parentSpanId": "",
                "name": "chat",
                "kind": "SPAN_KIND_CLIENT",
                "startTimeUnixNano": str(START_NS),
                "endTimeUnixNano": END_NS,
                "attributes": [
                    _attr("gen_ai.request.model", "gpt-4o-mini"),
                    _attr("gen_ai.usage.input_tokens", 3),
                    _attr("gen_ai.usage.output_tokens", 4),
                    _attr("gen_ai.request.stop_sequences", ["\n"]),
                    {
                        "key": "kv",
                        "value": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": 1}}]}},
                    },
                    {"key": "raw", "value": {"bytesValue": base64.b64encode(b"\x00\x01").decode()}},
                    {"key": "nan", "value": {"doubleValue": "NaN"}},
                ],
                "status": {"code": "STATUS_CODE_ERROR", "message": "rate limited"},
            },
            {  # snake_case keys and base64 ids (protobuf's JSON mapping)
                "trace_id": base64.b64encode(bytes.fromhex(TRACE)).decode(),
                "span_id": base64.b64encode(bytes.fromhex(CHILD)).decode(),
                "parent_span_id": base64.b64encode(bytes.fromhex(SPAN)).decode(),
                "name": "child",
                "kind": 1,
                "start_time_unix_nano": START_NS,
                "end_time_unix_nano": 0,
                "status": {"code": 0},
            },
        ],
        **{"service.name": "svc"},
    )
    spans = decode_request(body, "application/json")
    assert [(s.trace_id, s.span_id, s.parent_span_id) for s in spans] == [
        (TRACE, SPAN, ""),
        (TRACE, CHILD, SPAN),
    ]
    assert spans[0].kind == 3 and spans[0].start_time_unix_nano == START_NS and spans[0].status_code == 2
    row = map_span(spans[0])
    assert row["error"] == "rate limited"
    assert row["metrics"] == {
        "start": 1795337587.3339,
        "end": 1795337587.3347,
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "tokens": 7,
    }
    assert row["metadata"] == {
        "model": "gpt-4o-mini",
        "stop_sequences": ["\n"],
        "kv": {"a": 1},
        "raw": "AAE=",
        "nan": "NaN",
        "otel": {"resource": {"service.name": "svc"}, "scope": {"name": "manual", "version": ""}},
    }
    child = map_span(spans[1])
    assert child["span_parents"] == [SPAN] and child["metrics"] == {"start": 1795337587.3339}


def test_json_bad_bodies() -> None:
    with pytest.raises(OtlpError) as e:
        decode_request(b"{not json", "application/json")
    assert ERRORS.status_of(e.value) == 400
    with pytest.raises(OtlpError) as e:
        decode_request(_json_body([{"traceId": "xyz", "spanId": SPAN}]), "application/json")
    assert ERRORS.status_of(e.value) == 400 and "traceId" in e.value.message
    with pytest.raises(OtlpError) as e:
        decode_request(_json_body([{"traceId": TRACE, "spanId": SPAN, "startTimeUnixNano": "soon"}]), JSON)
    assert "startTimeUnixNano" in e.value.message
    with pytest.raises(OtlpError) as e:
        decode_request(b"\xff\xff\xff", PROTOBUF)
    assert ERRORS.status_of(e.value) == 400
    with pytest.raises(OtlpError) as e:
        wire_format("text/plain")
    assert ERRORS.status_of(e.value) == 415
    assert wire_format("application/json; charset=utf-8") == JSON
    assert wire_format("application/x-protobuf") == PROTOBUF


# -- attribute conventions ---------------------------------------------------------------------


def _span(
    attrs: dict[str, Any], events: list[dict[str, Any]] | None = None, name: str = "s"
) -> dict[str, Any]:
    body = _json_body(
        [
            {
                "traceId": TRACE,
                "spanId": SPAN,
                "name": name,
                "startTimeUnixNano": START_NS,
                "endTimeUnixNano": END_NS,
                "attributes": [_attr(k, v) for k, v in attrs.items()],
                "events": events or [],
            }
        ]
    )
    row = map_span(decode_request(body, JSON)[0])
    row["metadata"].pop("otel", None)
    if not row["metadata"]:
        del row["metadata"]
    return row


def test_genai_messages_with_system_instructions() -> None:
    row = _span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.system_instructions": '[{"type":"text","content":"Be brief."}]',
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
            "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"yo"},{"type":"text","content":"!"}],"finish_reason":"stop"}]',
            "gen_ai.response.model": "claude-x",
            "gen_ai.usage.cache_read.input_tokens": 5,
            "gen_ai.usage.total_tokens": 40,
            "gen_ai.conversation.id": "conv-1",
        }
    )
    assert row["input"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert row["output"] == [{"role": "assistant", "finish_reason": "stop", "content": "yo!"}]
    assert row["span_attributes"] == {"name": "s", "type": "llm"}
    assert row["metadata"] == {
        "model": "claude-x",
        "provider": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.response.model": "claude-x",
        "gen_ai.conversation.id": "conv-1",
    }
    assert row["metrics"]["tokens"] == 40 and row["metrics"]["prompt_cached_tokens"] == 5


def test_events_take_precedence_over_attributes() -> None:
    events = [
        {"name": "gen_ai.system.message", "timeUnixNano": START_NS, "attributes": [_attr("content", "sys")]},
        {"name": "gen_ai.user.message", "timeUnixNano": START_NS, "attributes": [_attr("content", "hello")]},
        {
            "name": "gen_ai.choice",
            "timeUnixNano": END_NS,
            "attributes": [
                _attr("index", 0),
                _attr("finish_reason", "stop"),
                _attr("message", '{"role":"assistant","content":"hi!"}'),
            ],
        },
    ]
    row = _span(
        {"gen_ai.request.model": "m", "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "attr"},
        events,
    )
    assert row["input"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}]
    assert row["output"] == [{"role": "assistant", "content": "hi!", "finish_reason": "stop"}]


def test_legacy_content_events_and_prompt_json_attribute() -> None:
    events = [
        {
            "name": "gen_ai.content.prompt",
            "attributes": [_attr("gen_ai.prompt", '[{"role":"user","content":"q"}]')],
        },
        {
            "name": "gen_ai.content.completion",
            "attributes": [_attr("gen_ai.completion", '[{"role":"assistant","content":"a"}]')],
        },
    ]
    row = _span({"gen_ai.request.model": "m"}, events)
    assert row["input"] == [{"role": "user", "content": "q"}]
    assert row["output"] == [{"role": "assistant", "content": "a"}]
    row = _span({"gen_ai.prompt": '[{"role":"user","content":"q2"}]', "gen_ai.completion": "plain text"})
    assert row["input"] == [{"role": "user", "content": "q2"}] and row["output"] == "plain text"


def test_openinference_attributes() -> None:
    row = _span(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.provider": "openai",
            "llm.invocation_parameters": '{"temperature": 0.1, "max_tokens": 20}',
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "s",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "u",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "a",
            "llm.token_count.prompt": 10,
            "llm.token_count.completion": 2,
            "llm.token_count.total": 12,
            "input.value": '{"q": "u"}',
            "input.mime_type": "application/json",
            "session.id": "sess",
            "user.id": "u1",
            "metadata": '{"tenant": "acme"}',
            "tag.tags": ["a", "b"],
        }
    )
    assert row["span_attributes"]["type"] == "llm"
    assert row["input"] == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert row["output"] == [{"role": "assistant", "content": "a"}]
    assert row["metrics"]["prompt_tokens"] == 10 and row["metrics"]["tokens"] == 12
    assert row["tags"] == ["a", "b"]
    assert row["metadata"] == {
        "model": "gpt-4o",
        "provider": "openai",
        "temperature": 0.1,
        "max_tokens": 20,
        "tenant": "acme",
        "session.id": "sess",
        "user.id": "u1",
    }
    chain = _span({"openinference.span.kind": "CHAIN", "input.value": "plain", "output.value": '{"x":1}'})
    assert chain["span_attributes"]["type"] == "task"
    assert chain["input"] == "plain" and chain["output"] == '{"x":1}'  # no JSON mime type: kept as text


def test_tool_spans() -> None:
    row = _span(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": '{"q": "weather"}',
            "gen_ai.tool.call.result": '{"temp": 21}',
        }
    )
    assert row["span_attributes"]["type"] == "tool"
    assert row["input"] == {"q": "weather"} and row["output"] == {"temp": 21}
    assert row["metadata"] == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search",
        "gen_ai.tool.call.id": "call_1",
    }


def test_braintrust_attributes() -> None:
    row = _span(
        {
            "braintrust.input_json": '{"question": "2+2"}',
            "braintrust.output_json": '"4"',
            "braintrust.expected_json": "{not json",
            "braintrust.metadata": '{"team": "x"}',
            "braintrust.metrics": '{"custom": 1.5}',
            "braintrust.scores": '{"accuracy": 1}',
            "braintrust.tags": ["bt"],
            "braintrust.span_attributes.type": "eval",
            "braintrust.context_json": '{"span_origin": {"name": "braintrust.sdk.python"}}',
            "braintrust.parent": "project_id:p9",
            "gen_ai.request.model": "m",
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"ignored"}]}]',
        }
    )
    assert row["input"] == {"question": "2+2"} and row["output"] == "4"
    assert "expected" not in row
    assert row["metadata"] == {"model": "m", "braintrust.expected_json": "{not json", "team": "x"}
    assert row["metrics"]["custom"] == 1.5
    assert row["scores"] == {"accuracy": 1}
    assert row["tags"] == ["bt"]
    assert row["span_attributes"] == {"name": "s", "type": "eval"}
    assert row["context"] == {"span_origin": {"name": "braintrust.sdk.python"}}


def test_preserve_attributes() -> None:
    row = _span(
        {
            "braintrust.otel.preserve_attributes": True,
            "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": 1,
        }
    )
    assert row["metadata"]["gen_ai.usage.input_tokens"] == 1 and row["metadata"]["model"] == "m"


# -- targets, partial success, responses ---------------------------------------------------------


def _raw_span(span_id: str, trace_id: str = TRACE, **attrs: Any) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "n",
        "startTimeUnixNano": START_NS,
        "attributes": [_attr(k, v) for k, v in attrs.items()],
    }


def test_targets_and_partial_success() -> None:
    body = _json_body(
        [
            _raw_span("1000000000000001"),
            _raw_span("1000000000000002", **{"braintrust.parent": "experiment_id:e1"}),
            _raw_span("1000000000000003", **{"braintrust.parent": "dataset_id:d1"}),
            _raw_span("0000000000000000"),
            _raw_span("1000000000000004", trace_id="0" * 32),
            _raw_span("1000000000000005", **{"braintrust.parent": "project_name:missing"}),
            _raw_span("1000000000000006", **{"braintrust.scores": '{"x": 7}'}),
        ]
    )
    batch = map_spans(decode_request(body, JSON), "project_name:demo-proj")
    assert batch.rejected == 3
    assert batch.parents() == {
        ParentRef("project_name", "demo-proj"),
        ParentRef("experiment_id", "e1"),
        ParentRef("project_name", "missing"),
    }
    resolved = {
        ParentRef("project_name", "demo-proj"): ObjectRef(PROJECT_LOGS, "p1", "p1"),
        ParentRef("experiment_id", "e1"): ObjectRef(EXPERIMENT, "e1", "p1"),
        ParentRef("project_name", "missing"): None,
    }
    result = attach_targets(batch, resolved)
    assert [r["span_id"] for r in result.rows] == ["1000000000000001", "1000000000000002"]
    assert (result.rows[0]["project_id"], result.rows[0]["log_id"]) == ("p1", "g")
    assert result.rows[1]["experiment_id"] == "e1" and "project_id" not in result.rows[1]
    assert result.rejected == 5
    assert "braintrust.parent 'dataset_id:d1'" in result.error_message
    assert "span 1000000000000006.scores.x: expected a number between 0 and 1 or null" in result.error_message
    for r in result.rows:  # ready for the /logs3 path
        validate_row(r)


def test_no_parent_anywhere_rejects() -> None:
    batch = map_spans(decode_request(_json_body([_raw_span("1000000000000001")]), JSON), None)
    assert batch.rejected == 1 and "no x-bt-parent header" in batch.errors[0]
    bad = map_spans(decode_request(_json_body([_raw_span("1000000000000001")]), JSON), "org:x")
    assert bad.rejected == 1 and "'org:x' is not usable" in bad.errors[0]


def test_responses_match_the_request_content_type() -> None:
    body, ct = encode_response(0, "", "application/x-protobuf")
    assert (body, ct) == (b"", PROTOBUF)
    body, ct = encode_response(2, "bad spans", "application/x-protobuf")
    resp = ExportTraceServiceResponse()
    resp.ParseFromString(body)
    assert ct == PROTOBUF
    assert resp.partial_success.rejected_spans == 2 and resp.partial_success.error_message == "bad spans"
    assert encode_response(0, "", "application/json") == (b"{}", JSON)
    body, ct = encode_response(3, "x", "application/json")
    assert ct == JSON and orjson.loads(body) == {"partialSuccess": {"rejectedSpans": 3, "errorMessage": "x"}}
