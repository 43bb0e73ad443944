"""Hostile OTLP bodies at the unit level: each known failure (a 500 before) is a clean client
error naming where, or a span rejected in `partialSuccess`; rows that get through pass the row
contract and encode for the bus."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import orjson
import pytest
from loopline.common.rows import PROJECT_LOGS, ObjectRef, validate_row
from loopline.ingest.errors import ERRORS
from loopline.ingest.otlp import (
    JSON,
    MAX_ANY_DEPTH,
    MAX_NEST_DEPTH,
    MAX_TIME_UNIX_NANO,
    PROTOBUF,
    OtlpError,
    ParentRef,
    attach_targets,
    decode_request,
    map_span,
    map_spans,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

TRACE = "0e6599341c820e5525bc94b4d273a672"
SPAN = "f3e7ae073c990e06"
START_NS = 1795337587333900000
PARENT = "project_id:p1"
RESOLVED = {ParentRef("project_id", "p1"): ObjectRef(PROJECT_LOGS, "p1", "p1")}


def json_body(*spans: dict[str, Any], scopes: int = 1) -> bytes:
    """Spans in the last of `scopes` scopeSpans of one resourceSpans."""
    groups: list[dict[str, Any]] = [{"spans": []} for _ in range(scopes - 1)]
    groups.append({"scope": {"name": "s"}, "spans": list(spans)})
    return json.dumps({"resourceSpans": [{"scopeSpans": groups}]}).encode()  # any int, any depth


def span(**fields: Any) -> dict[str, Any]:
    return {"traceId": TRACE, "spanId": SPAN, "name": "n", "startTimeUnixNano": START_NS, **fields}


def attr(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


def json_error(body: bytes) -> str:
    with pytest.raises(OtlpError) as e:
        decode_request(body, JSON)
    assert ERRORS.status_of(e.value) == 400
    return e.value.message


def through(body: bytes, content_type: str = JSON, header: str | None = PARENT) -> Any:
    """decode → map → attach, as the route does (resolution faked)."""
    batch = map_spans(decode_request(body, content_type), header)
    return attach_targets(batch, RESOLVED, max_row_bytes=1_000_000, max_total_bytes=10_000_000)


# -- the reported 500s --------------------------------------------------------------------------


def test_status_not_an_object() -> None:
    assert json_error(json_body(span(status=-1))) == (
        "resourceSpans[0].scopeSpans[0].spans[0].status: expected an object, got a number"
    )


def test_events_not_an_array() -> None:
    assert json_error(json_body(span(events=1))) == (
        "resourceSpans[0].scopeSpans[0].spans[0].events: expected an array, got a number"
    )


def test_timestamp_beyond_u64_is_named_with_its_path() -> None:
    body = json_body(span(), span(), span(), span(startTimeUnixNano=1e300), scopes=2)
    assert json_error(body) == (
        "resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano: expected an unsigned 64-bit "
        "integer (number or decimal string), got 1e+300"
    )


@pytest.mark.parametrize(
    "value",
    [-1, 2**64, "18446744073709551616", "-5", 1.5, "1_000", " 12", "0x10", True, [], {}, "NaN"],
)
def test_u64_timestamps_range_and_type(value: Any) -> None:
    assert "endTimeUnixNano: expected an unsigned 64-bit integer" in json_error(
        json_body(span(endTimeUnixNano=value))
    )


def test_u64_accepts_numbers_strings_and_integral_floats() -> None:
    for v in (START_NS, str(START_NS), float(START_NS), 2**64 - 1, str(2**64 - 1)):
        (sp,) = decode_request(json_body(span(endTimeUnixNano=v)), JSON)
        assert sp.end_time_unix_nano == int(v)


def test_timestamps_after_2299_reject_the_span_not_the_request() -> None:
    late = MAX_TIME_UNIX_NANO + 1
    ok = span(spanId="1000000000000001", startTimeUnixNano=MAX_TIME_UNIX_NANO)
    result = through(
        json_body(
            ok, span(startTimeUnixNano=late), span(spanId="2000000000000002", endTimeUnixNano=2**64 - 1)
        )
    )
    assert result.rejected == 2
    assert f"span {SPAN}: startTimeUnixNano {late} is after 2299-12-31" in result.error_message
    assert "endTimeUnixNano 18446744073709551615 is after 2299-12-31" in result.error_message
    (row,) = result.rows
    assert row["created"] == "2299-12-31T23:59:59.999999+00:00"  # the last microsecond, not rounded up


def test_protobuf_far_future_timestamp_rejects_the_span() -> None:
    req = ExportTraceServiceRequest()
    sp = req.resource_spans.add().scope_spans.add().spans.add()
    sp.trace_id, sp.span_id, sp.name = bytes.fromhex(TRACE), bytes.fromhex(SPAN), "x"
    sp.start_time_unix_nano = 2**64 - 1
    result = through(req.SerializeToString(), PROTOBUF)
    assert result.rejected == 1 and not result.rows and "after 2299-12-31" in result.error_message


# -- every field type-checked ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "where", "expected"),
    [
        ({"name": 5}, "name", "expected a string, got a number"),
        ({"kind": "SPAN_KIND_BOGUS"}, "kind", "expected one of SPAN_KIND_UNSPECIFIED"),
        ({"kind": 2**40}, "kind", "expected one of"),
        ({"status": {"code": -(2**40)}}, "status.code", "expected one of STATUS_CODE_UNSET"),
        ({"status": {"code": "STATUS_CODE_ERROR", "message": []}}, "status.message", "expected a string"),
        ({"attributes": {}}, "attributes", "expected an array, got an object"),
        ({"attributes": ["x"]}, "attributes[0]", "expected an object, got a string"),
        ({"attributes": [{"key": 1}]}, "attributes[0].key", "expected a string, got a number"),
        ({"attributes": [attr("a", {"intValue": 2**63})]}, "attributes[0].value.intValue", "signed 64-bit"),
        (
            {"attributes": [attr("a", {"intValue": "-9223372036854775809"})]},
            "attributes[0].value.intValue",
            "signed 64-bit",
        ),
        ({"attributes": [attr("a", {"intValue": 1e300})]}, "attributes[0].value.intValue", "signed 64-bit"),
        (
            {"attributes": [attr("a", {"boolValue": "yes"})]},
            "attributes[0].value.boolValue",
            "expected true or false",
        ),
        (
            {"attributes": [attr("a", {"stringValue": {"x": 1}})]},
            "attributes[0].value.stringValue",
            "expected a string",
        ),
        (
            {"attributes": [attr("a", {"doubleValue": "fast"})]},
            "attributes[0].value.doubleValue",
            "expected a number",
        ),
        ({"attributes": [attr("a", {"bytesValue": "%%%"})]}, "attributes[0].value.bytesValue", "base64"),
        (
            {"attributes": [attr("a", {"arrayValue": {"values": 3}})]},
            "attributes[0].value.arrayValue.values",
            "expected an array",
        ),
        (
            {"attributes": [attr("a", {"kvlistValue": []})]},
            "attributes[0].value.kvlistValue",
            "expected an object",
        ),
        (
            {"attributes": [attr("a", {"stringValue": "x", "intValue": 1})]},
            "attributes[0].value",
            "holds one value",
        ),
        ({"attributes": [attr("a", 7)]}, "attributes[0].value", "expected an AnyValue object"),
        ({"events": [{"timeUnixNano": -1}]}, "events[0].timeUnixNano", "unsigned 64-bit"),
        (
            {"events": [{"attributes": [attr("a", {"intValue": "x"})]}]},
            "events[0].attributes[0].value.intValue",
            "signed 64-bit",
        ),
        ({"links": [{"traceId": 5}]}, "links[0].traceId", "expected 32 hex digits"),
        ({"droppedAttributesCount": -1}, "droppedAttributesCount", "unsigned 32-bit"),
        ({"flags": 2**33}, "flags", "unsigned 32-bit"),
        ({"spanId": "zz"}, "spanId", "expected 16 hex digits, got 'zz'"),
    ],
)
def test_wrong_types_and_ranges_are_400s_naming_the_field(
    fields: dict[str, Any], where: str, expected: str
) -> None:
    msg = json_error(json_body(span(**fields)))
    assert msg.startswith(f"resourceSpans[0].scopeSpans[0].spans[0].{where}: "), msg
    assert expected in msg


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"resourceSpans": {}}, "resourceSpans: expected an array, got an object"),
        ({"resourceSpans": [1]}, "resourceSpans[0]: expected an object, got a number"),
        (
            {"resourceSpans": [{"resource": []}]},
            "resourceSpans[0].resource: expected an object, got an array",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"scope": 1}]}]},
            "resourceSpans[0].scopeSpans[0].scope: expected an object",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [None]}]}]},
            "resourceSpans[0].scopeSpans[0].spans[0]: expected an object, got null",
        ),
        (
            {"resource_spans": [{"scope_spans": [{"spans": "x"}]}]},
            "resource_spans[0].scope_spans[0].spans: expected an array",
        ),
    ],
)
def test_wrong_shapes_above_spans(doc: dict[str, Any], expected: str) -> None:
    assert json_error(orjson.dumps(doc)) == expected or expected in json_error(orjson.dumps(doc))


def test_lenient_where_otlp_json_says_so() -> None:
    body = json_body(
        span(
            unknownField={"ignored": True},
            kind="3",
            status={"code": 2, "unknown": 1},
            attributes=[
                attr("i", {"intValue": "-9223372036854775808"}),
                attr("d", {"doubleValue": "-Infinity"}),
                attr("d2", {"doubleValue": "2.5e3"}),
                attr("b", {"bytesValue": base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("=")}),
                attr("empty", {}),
                attr("null", None),
            ],
        )
    )
    (sp,) = decode_request(body, JSON)
    assert sp.kind == 3 and sp.status_code == 2
    assert sp.attributes == {
        "i": -(2**63),
        "d": "-Infinity",
        "d2": 2500.0,
        "b": base64.b64encode(b"\xfb\xff").decode(),
        "empty": None,
        "null": None,
    }


# -- bodies that are not OTLP at all ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"", JSON, "empty body"),
        (b"", PROTOBUF, "empty body"),
        (b"\x0a\x05\x12\x03\x12", PROTOBUF, "not a valid protobuf"),  # truncated
        (b"\xff" * 20, PROTOBUF, "not a valid protobuf"),
        (gzip.compress(b"{}")[:-4], JSON, "JSON"),  # gzip bytes sent as JSON
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\xff"}]}]}]}', JSON, "not valid UTF-8"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\\ud800"}]}]}]}', JSON, "UTF-8"),
        (b'{"resourceSpans": NaN}', JSON, "malformed JSON"),
        (b'{"resourceSpans": [{"x": 1e400}]}', JSON, "malformed JSON"),
        (b"[" * 2000 + b"]" * 2000, JSON, "nested deeper"),
        (b"[]", JSON, "body must be a JSON ExportTraceServiceRequest object, got an array"),
    ],
)
def test_not_otlp_at_all(body: bytes, content_type: str, expected: str) -> None:
    with pytest.raises(OtlpError) as e:
        decode_request(body, content_type)
    assert ERRORS.status_of(e.value) == 400 and expected in e.value.message, e.value.message


def test_protobuf_invalid_utf8_string() -> None:
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add().name = "abc"
    body = req.SerializeToString().replace(b"abc", b"a\xffc")
    with pytest.raises(OtlpError) as e:
        decode_request(body, PROTOBUF)
    assert ERRORS.status_of(e.value) == 400 and "UTF-8" in e.value.message


def test_wrong_content_type_is_415() -> None:
    with pytest.raises(OtlpError) as e:
        decode_request(b"{}", "text/plain; " + "x" * 10_000)
    assert ERRORS.status_of(e.value) == 415 and len(e.value.message) < 300


# -- nesting and huge values ------------------------------------------------------------------------


def _nested_json_value(depth: int, kind: str) -> dict[str, Any]:
    v: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(depth - 1):
        if kind == "array":
            v = {"arrayValue": {"values": [v]}}
        else:
            v = {"kvlistValue": {"values": [{"key": "k", "value": v}]}}
    return v


@pytest.mark.parametrize("kind", ["array", "kvlist"])
def test_json_anyvalue_nesting_is_bounded(kind: str) -> None:
    ok = json_body(span(attributes=[attr("deep", _nested_json_value(MAX_ANY_DEPTH, kind))]))
    result = through(ok)
    assert result.rejected == 0 and len(result.rows) == 1
    too_deep = json_body(span(attributes=[attr("deep", _nested_json_value(MAX_ANY_DEPTH + 1, kind))]))
    msg = json_error(too_deep)
    assert msg.startswith("resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.")
    assert f"nested deeper than {MAX_ANY_DEPTH} levels" in msg


def test_json_nesting_at_the_parser_limit_is_a_400() -> None:
    # as deep as the JSON parser allows: AnyValue nesting stops long before Python's recursion limit
    value = '{"kvlistValue":{"values":[{"key":"k","value":' * 250 + "{}" + "}]}}" * 250
    spans = f'[{{"traceId":"{TRACE}","spanId":"{SPAN}","attributes":[{{"key":"deep","value":{value}}}]}}]'
    body = ('{"resourceSpans":[{"scopeSpans":[{"spans":' + spans + "}]}]}").encode()
    assert "nested deeper than" in json_error(body)


def test_protobuf_anyvalue_nesting_is_bounded() -> None:
    v = AnyValue(string_value="leaf")
    for _ in range(400):
        w = AnyValue()
        w.array_value.values.add().CopyFrom(v)
        v = w
    req = ExportTraceServiceRequest()
    sp = req.resource_spans.add().scope_spans.add().spans.add()
    sp.trace_id, sp.span_id = bytes.fromhex(TRACE), bytes.fromhex(SPAN)
    kv = sp.attributes.add()
    kv.key = "deep"
    kv.value.CopyFrom(v)
    with pytest.raises(OtlpError) as e:
        decode_request(req.SerializeToString(), PROTOBUF)
    assert ERRORS.status_of(e.value) == 400


def test_json_string_attributes_nested_past_the_bus_encoder_reject_the_span() -> None:
    # a braintrust.input_json of 600 nested arrays parses (JSON allows 1024) but cannot be encoded
    deep = "[" * 600 + "]" * 600
    result = through(json_body(span(attributes=[attr("braintrust.input_json", {"stringValue": deep})])))
    assert result.rejected == 1 and not result.rows
    assert f"span {SPAN}" in result.error_message


def test_huge_array_attribute_is_linear() -> None:
    values = [{"intValue": i} for i in range(100_000)]
    body = json_body(span(attributes=[attr("big", {"arrayValue": {"values": values}})]))
    t = time.perf_counter()
    result = through(body)
    assert result.rejected == 0 and len(result.rows[0]["metadata"]["big"]) == 100_000
    assert time.perf_counter() - t < 30  # a guard against a hang, not a benchmark


# -- hostile keys ----------------------------------------------------------------------------------


def test_ten_thousand_dotted_segments_in_nested_attribute_families() -> None:
    key = ".".join(["a"] * 10_000)
    digits = ".".join(["7" * 5000] * 3)  # digit segments too long for int()
    body = json_body(
        span(
            attributes=[
                attr(f"braintrust.span_attributes.{key}", {"stringValue": "x"}),
                attr(f"gen_ai.prompt.{key}", {"stringValue": "x"}),
                attr(f"llm.input_messages.{digits}", {"stringValue": "y"}),
                attr(f"llm.input_messages.{'²'}", {"stringValue": "z"}),  # a unicode digit
                attr(key, {"stringValue": "flat"}),
            ]
        )
    )
    (sp,) = decode_request(body, JSON)
    row = map_span(sp)  # no RecursionError / ValueError
    node = row["span_attributes"]
    depth = 0
    while isinstance(node, dict) and "a" in node:
        node, depth = node["a"], depth + 1
    assert depth == MAX_NEST_DEPTH - 1 and node == {".".join(["a"] * (10_000 - MAX_NEST_DEPTH + 1)): "x"}
    # whatever the mapper produced goes through the row contract before it is acknowledged
    result = through(body)
    assert result.rejected + len(result.rows) == 1
    for r in result.rows:
        validate_row(r)
        orjson.dumps(r)


def test_many_dotted_keys_nest_in_linear_time() -> None:
    attrs = [
        attr(f"gen_ai.prompt.{i}.content.{j}", {"stringValue": "x"}) for i in range(300) for j in range(100)
    ]
    t = time.perf_counter()
    row = map_span(decode_request(json_body(span(attributes=attrs)), JSON)[0])
    assert len(row["input"]) == 300 and len(row["input"][299]["content"]) == 100
    assert time.perf_counter() - t < 30  # a guard against a hang, not a benchmark


def test_token_counts_beyond_int64_become_floats() -> None:
    body = json_body(
        span(
            attributes=[
                attr("gen_ai.usage.input_tokens", {"intValue": str(2**63 - 1)}),
                attr("gen_ai.usage.output_tokens", {"intValue": str(2**63 - 1)}),
                attr("gen_ai.usage.cache_read.input_tokens", {"stringValue": "1e300"}),
                attr("braintrust.metrics", {"stringValue": '{"big": 18446744073709551615}'}),
            ]
        )
    )
    result = through(body)
    assert result.rejected == 0
    metrics = result.rows[0]["metrics"]
    assert metrics["tokens"] == float(2**64 - 2) and isinstance(metrics["tokens"], float)
    assert metrics["prompt_cached_tokens"] == 1e300 and isinstance(metrics["prompt_cached_tokens"], float)
    assert isinstance(metrics["big"], float)


def test_tags_that_cannot_be_encoded_reject_the_span() -> None:
    deep = "[" + "[" * 600 + "]" * 600 + "]"
    result = through(json_body(span(attributes=[attr("braintrust.tags", {"stringValue": deep})])))
    assert result.rejected == 1 and "tags: cannot be encoded" in result.error_message


# -- x-bt-parent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("project_name:" + "p" * 1025, "the project name is 1025 characters, over the limit of 1024"),
        ("project_name:   ", "the project_name is empty"),
        ("project_name:a\x00b", "control characters"),
        ("project_id:" + "1" * 300, "is not an object id"),
        ("experiment_id:a b", "is not an object id"),
        ("dataset_id:d", "expected project_id:<id>"),
    ],
)
def test_unusable_x_bt_parent_rejects_the_spans_with_a_reason(header: str, why: str) -> None:
    result = through(json_body(span()), header=header)
    assert result.rejected == 1 and not result.rows
    assert "is not usable" in result.error_message and why in result.error_message
    assert len(result.error_message) < 600  # the header is not echoed whole


def test_longest_project_name_is_usable() -> None:
    name = "p" * 1024
    batch = map_spans(decode_request(json_body(span()), JSON), f"project_name:{name}")
    assert batch.rejected == 0 and batch.parents() == {ParentRef("project_name", name)}


def test_braintrust_parent_attribute_is_checked_like_the_header() -> None:
    body = json_body(
        span(attributes=[attr("braintrust.parent", {"stringValue": "project_name:" + "x" * 5000})])
    )
    result = through(body)
    assert result.rejected == 1 and "over the limit of 1024" in result.error_message
    assert len(result.error_message) < 600


def test_rows_over_the_row_limit_reject_the_span_and_the_total_is_bounded() -> None:
    big = {"stringValue": "x" * 5000}
    spans = [span(spanId=f"{i + 1:016x}", attributes=[attr("big", big)]) for i in range(10)]
    batch = map_spans(decode_request(json_body(*spans), JSON), PARENT)
    result = attach_targets(batch, RESOLVED, max_row_bytes=4000)
    assert result.rejected == 10 and "over the row limit of 4000 bytes" in result.error_message
    with pytest.raises(OtlpError) as e:
        attach_targets(batch, RESOLVED, max_row_bytes=10_000, max_total_bytes=20_000)
    assert ERRORS.status_of(e.value) == 413


@pytest.mark.parametrize(
    "value",
    [{"arrayValue": {"values": [{"stringValue": "chat"}]}}, {"kvlistValue": {"values": []}}],
    ids=["array", "map"],
)
def test_operation_name_that_is_not_a_string_is_ignored(value: dict[str, Any]) -> None:
    """Found by the fuzz test: an array-valued `gen_ai.operation.name` raised 'unhashable list'."""
    result = through(json_body(span(attributes=[attr("gen_ai.operation.name", value)])))
    assert len(result.rows) == 1
    assert result.rows[0]["span_attributes"]["type"] != "llm"
