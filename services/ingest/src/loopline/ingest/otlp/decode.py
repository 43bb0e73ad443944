"""OTLP wire decoding: an `ExportTraceServiceRequest` body (protobuf or OTLP/JSON) → `OtlpSpan`s.

Every field is type- and range-checked while decoding. A value the wire format does not allow
(a wrong JSON type, an integer outside its protobuf range, invalid base64, values nested deeper
than `MAX_ANY_DEPTH`, ...) makes the whole request a 400 whose message names where it is, e.g.
`resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano: expected an unsigned 64-bit integer
(number or decimal string), got 1e+300`. Values that are well-formed OTLP but cannot become a
row (ids of the wrong length, timestamps after the store's last year) are left to the mapping,
which rejects just those spans (OTLP partial success).

Lenient where OTLP/JSON receivers are asked to be: unknown fields are ignored, `null` means
absent, int64s come as numbers or decimal strings, enums as numbers or names, ids as hex (or
base64, as protobuf's own JSON mapping writes them), and snake_case keys are accepted too.

Paths in errors cost nothing on success: `_Bad` is raised at the offending value and each
enclosing loop adds its segment while the exception unwinds.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from google.protobuf.message import DecodeError
from loopline.common.rows import json_type_name
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"

#: Nesting levels of `arrayValue`/`kvlistValue` inside one attribute value (a scalar is level 1).
#: The protobuf parser itself stops at about 30 levels of kvlists (100 nested messages).
MAX_ANY_DEPTH: Final = 32
U64_MAX: Final = (1 << 64) - 1
I64_MIN: Final = -(1 << 63)
I64_MAX: Final = (1 << 63) - 1
U32_MAX: Final = (1 << 32) - 1
I32_MIN: Final = -(1 << 31)
I32_MAX: Final = (1 << 31) - 1

_STATUS_NAMES: Final = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_KIND_NAMES: Final = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_HEX: Final = re.compile(r"[0-9a-fA-F]*")
_DECIMAL: Final = re.compile(r"-?[0-9]{1,20}")
_JSON_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NON_FINITE: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_CLIP: Final = 60


class OtlpError(ValueError):
    """A request that cannot be decoded at all: malformed (the edge answers 400), or one of the
    subclasses below. No HTTP here: ingest's error table maps each kind to its status."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedContentType(OtlpError):
    """The request's Content-Type is neither OTLP protobuf nor OTLP JSON (415)."""


class OtlpTooLarge(OtlpError):
    """The request would make more rows than a request may (413)."""


@dataclass(slots=True)
class OtlpEvent:
    name: str
    time_unix_nano: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class OtlpSpan:
    """One span, decoded from either wire format. Ids are lowercase hex ('' when absent)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start_time_unix_nano: int
    end_time_unix_nano: int
    attributes: dict[str, Any]
    events: list[OtlpEvent] = field(default_factory=list)
    status_code: int = 0
    status_message: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""


def clip(value: Any, limit: int = _CLIP) -> str:
    """`repr(value)`, cut to about `limit` characters (error messages echo client input)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


# -- content types --------------------------------------------------------------------------


def wire_format(content_type: str | None) -> str:
    """`PROTOBUF` or `JSON` for a request Content-Type; UnsupportedContentType otherwise."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct in ("application/x-protobuf", "application/protobuf", "application/vnd.google.protobuf"):
        return PROTOBUF
    if ct == "application/json" or ct.endswith("+json"):
        return JSON
    raise UnsupportedContentType(
        f"unsupported Content-Type {clip(content_type)}: use application/x-protobuf or application/json",
    )


def decode_request(body: bytes, content_type: str | None) -> list[OtlpSpan]:
    """Spans of an ExportTraceServiceRequest in either wire format (body already decompressed)."""
    fmt = wire_format(content_type)
    if not body:
        raise OtlpError("empty body: expected an ExportTraceServiceRequest")
    if fmt == PROTOBUF:
        return decode_protobuf(body)
    return decode_json(body)


# -- paths in errors ------------------------------------------------------------------------


class _Bad(Exception):
    """A bad value; `segments` (innermost first) are added while the exception unwinds."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.segments: list[str] = []

    def at(self, segment: str) -> _Bad:
        self.segments.append(segment)
        return self

    def to_error(self) -> OtlpError:
        path = "".join(reversed(self.segments)).lstrip(".")
        return OtlpError(f"{path}: {self.problem}" if path else self.problem)


def _each(items: list[Any], name: str, fn: Callable[[Any], Any]) -> list[Any]:
    """`fn` over a repeated field's items; errors get `.name[i]`."""
    out = []
    for i, x in enumerate(items):
        try:
            out.append(fn(x))
        except _Bad as exc:
            raise exc.at(f".{name}[{i}]") from None
    return out


# -- decoding: protobuf ---------------------------------------------------------------------


def _finite_or_str(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _pb_value(v: AnyValue, depth: int) -> Any:
    return _pb_which(v, v.WhichOneof("value"), depth)


def _pb_which(v: AnyValue, which: str | None, depth: int) -> Any:
    """The value of `v`, whose set field is `which`."""
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return _finite_or_str(v.double_value)
    if which == "bool_value":
        return v.bool_value
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if which is None:
        return None
    if depth >= MAX_ANY_DEPTH:
        raise _Bad(f"attribute value nested deeper than {MAX_ANY_DEPTH} levels")
    if which == "array_value":
        out = []
        for i, x in enumerate(v.array_value.values):
            try:
                out.append(_pb_value(x, depth + 1))
            except _Bad as exc:
                raise exc.at(f".arrayValue.values[{i}]") from None
        return out
    return _pb_attrs(v.kvlist_value.values, depth + 1, ".kvlistValue.values")


def _pb_attrs(kvs: Any, depth: int = 1, name: str = ".attributes") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, kv in enumerate(kvs):
        v = kv.value
        which = v.WhichOneof("value")
        if which == "string_value":  # the common case, without a call
            out[kv.key] = v.string_value
            continue
        try:
            out[kv.key] = _pb_which(v, which, depth)
        except _Bad as exc:
            raise exc.at(f"{name}[{i}].value") from None
    return out


def decode_protobuf(body: bytes) -> list[OtlpSpan]:
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpError(f"body is not a valid protobuf ExportTraceServiceRequest: {exc}") from exc
    out: list[OtlpSpan] = []
    try:
        for ri, rs in enumerate(req.resource_spans):
            try:
                resource = _pb_attrs(rs.resource.attributes, name=".resource.attributes")
                for si, ss in enumerate(rs.scope_spans):
                    scope = ss.scope
                    scope_name, scope_version = scope.name, scope.version
                    try:
                        for pi, sp in enumerate(ss.spans):
                            try:
                                out.append(_pb_span(sp, scope_name, scope_version, resource))
                            except _Bad as exc:
                                raise exc.at(f".spans[{pi}]") from None
                    except _Bad as exc:
                        raise exc.at(f".scopeSpans[{si}]") from None
            except _Bad as exc:
                raise exc.at(f"resourceSpans[{ri}]") from None
    except _Bad as exc:
        raise exc.to_error() from None
    return out


def _pb_span(sp: Any, scope_name: str, scope_version: str, resource: dict[str, Any]) -> OtlpSpan:
    events = sp.events
    return OtlpSpan(
        trace_id=sp.trace_id.hex(),
        span_id=sp.span_id.hex(),
        parent_span_id=sp.parent_span_id.hex(),
        name=sp.name,
        kind=int(sp.kind),
        start_time_unix_nano=int(sp.start_time_unix_nano),
        end_time_unix_nano=int(sp.end_time_unix_nano),
        attributes=_pb_attrs(sp.attributes),
        events=_each(
            list(events),
            "events",
            lambda e: OtlpEvent(e.name, int(e.time_unix_nano), _pb_attrs(e.attributes)),
        )
        if events
        else [],
        status_code=int(sp.status.code),
        status_message=sp.status.message,
        resource=resource,
        scope_name=scope_name,
        scope_version=scope_version,
    )


# -- decoding: OTLP/JSON --------------------------------------------------------------------


def _field(d: Mapping[str, Any], camel: str, snake: str) -> tuple[str, Any]:
    """(name as sent, value) of a field that may come camelCase or snake_case; null = absent."""
    v = d.get(camel)
    if v is not None:
        return camel, v
    v = d.get(snake)
    if v is not None:
        return snake, v
    return camel, None


def _at(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except _Bad as exc:
        raise exc.at(f".{name}") from None


def _obj(v: Any) -> dict[str, Any]:
    if v is None:
        return {}
    if type(v) is not dict:
        raise _Bad(f"expected an object, got {json_type_name(v)}")
    return v


def _item(v: Any) -> dict[str, Any]:
    """An element of a repeated message field: an object (null is not allowed there)."""
    if type(v) is not dict:
        raise _Bad(f"expected an object, got {json_type_name(v)}")
    return v


def _arr(v: Any) -> list[Any]:
    if v is None:
        return []
    if type(v) is not list:
        raise _Bad(f"expected an array, got {json_type_name(v)}")
    return v


def _str(v: Any) -> str:
    if v is None:
        return ""
    if type(v) is not str:
        raise _Bad(f"expected a string, got {json_type_name(v)}")
    return v


def _bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _Bad(f"expected true or false, got {json_type_name(v)}")
    return v


def _integer(v: Any, lo: int, hi: int, what: str) -> int:
    """An integer field of OTLP/JSON: a number (integral) or a decimal string, in [lo, hi]."""
    n: int | None = None
    if type(v) is int:
        n = v
    elif type(v) is float:
        if math.isfinite(v) and v.is_integer():
            n = int(v)
    elif type(v) is str and _DECIMAL.fullmatch(v):
        n = int(v)
    if n is None or not lo <= n <= hi:
        raise _Bad(f"expected {what} (number or decimal string), got {clip(v)}")
    return n


def _u64(v: Any) -> int:
    return 0 if v is None else _integer(v, 0, U64_MAX, "an unsigned 64-bit integer")


def _u32(v: Any) -> int:
    return 0 if v is None else _integer(v, 0, U32_MAX, "an unsigned 32-bit integer")


def _i64(v: Any) -> int:
    return _integer(v, I64_MIN, I64_MAX, "a signed 64-bit integer")


def _double(v: Any) -> float | str:
    f: float | None = None
    if type(v) is float:
        f = v
    elif type(v) is int:
        try:
            f = float(v)
        except OverflowError:
            f = None
    elif type(v) is str:
        if v in _NON_FINITE:
            f = _NON_FINITE[v]
        elif len(v) <= 400 and _JSON_NUMBER.fullmatch(v):
            f = float(v)
    if f is None:
        raise _Bad(f'expected a number (or "NaN", "Infinity", "-Infinity"), got {clip(v)}')
    return _finite_or_str(f)


def _bytes(v: Any) -> str:
    """bytesValue: base64 (standard or URL-safe, padding optional) → canonical standard base64."""
    if type(v) is not str:
        raise _Bad(f"expected a base64 string, got {json_type_name(v)}")
    s = v.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad(f"expected a base64 string, got {clip(v)}") from None
    return base64.b64encode(raw).decode()


def _enum(v: Any, names: Mapping[str, int]) -> int:
    if v is None:
        return 0
    if type(v) is str and v in names:
        return names[v]
    if type(v) is int or (type(v) is str and _DECIMAL.fullmatch(v)):
        n = int(v)
        if I32_MIN <= n <= I32_MAX:
            return n  # proto3 enums are open: unknown numbers are kept
    raise _Bad(f"expected one of {', '.join(names)} or its number, got {clip(v)}")


def _id(v: Any, nbytes: int) -> str:
    """Hex id from OTLP/JSON (hex per spec; base64 as protobuf's JSON mapping emits)."""
    if v is None or v == "":
        return ""
    if type(v) is not str:
        raise _Bad(f"expected {2 * nbytes} hex digits, got {json_type_name(v)}")
    if len(v) == 2 * nbytes and _HEX.fullmatch(v):
        return v.lower()
    if len(v) <= 4 * nbytes:
        try:
            raw = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == nbytes:
            return raw.hex()
    raise _Bad(f"expected {2 * nbytes} hex digits, got {clip(v)}")


_ANY_FIELDS: Final = (
    ("stringValue", "string_value"),
    ("boolValue", "bool_value"),
    ("intValue", "int_value"),
    ("doubleValue", "double_value"),
    ("arrayValue", "array_value"),
    ("kvlistValue", "kvlist_value"),
    ("bytesValue", "bytes_value"),
)


def _json_value(v: Any, depth: int) -> Any:
    """An AnyValue (JSON object with at most one value field; null or {} = no value)."""
    if v is None:
        return None
    if type(v) is not dict:
        raise _Bad(f"expected an AnyValue object, got {json_type_name(v)}")
    found: tuple[str, Any] | None = None
    for camel, snake in _ANY_FIELDS:
        name, x = _field(v, camel, snake)
        if x is not None:
            if found is not None:
                raise _Bad(f"an AnyValue holds one value, got both {found[0]} and {name}")
            found = (camel, x)
    if found is None:
        return None
    kind, x = found
    try:
        if kind == "stringValue":
            return _str(x)
        if kind == "boolValue":
            return _bool(x)
        if kind == "intValue":
            return _i64(x)
        if kind == "doubleValue":
            return _double(x)
        if kind == "bytesValue":
            return _bytes(x)
        if depth >= MAX_ANY_DEPTH:
            raise _Bad(f"attribute value nested deeper than {MAX_ANY_DEPTH} levels")
        values = _at("values", _arr, _obj(x).get("values"))
        if kind == "arrayValue":
            return _each(values, "values", lambda e: _json_value(e, depth + 1))
        return _attrs(values, depth + 1, "values")
    except _Bad as exc:
        raise exc.at(f".{kind}") from None


def _key_value(kv: Any, depth: int) -> tuple[str, Any]:
    kv = _item(kv)
    key = _at("key", _str, kv.get("key"))
    return key, _at("value", _json_value, kv.get("value"), depth)


def _attrs(kvs: list[Any], depth: int = 1, name: str = "attributes") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, kv in enumerate(kvs):
        try:
            k, v = _key_value(kv, depth)
        except _Bad as exc:
            raise exc.at(f".{name}[{i}]") from None
        out[k] = v
    return out


def _attributes_of(d: Mapping[str, Any]) -> dict[str, Any]:
    """An object's `attributes` (and its `droppedAttributesCount`, checked and ignored)."""
    _at("droppedAttributesCount", _u32, _field(d, "droppedAttributesCount", "dropped_attributes_count")[1])
    return _attrs(_at("attributes", _arr, d.get("attributes")))


def _json_event(e: Any) -> OtlpEvent:
    e = _item(e)
    return OtlpEvent(
        _at("name", _str, e.get("name")),
        _at("timeUnixNano", _u64, _field(e, "timeUnixNano", "time_unix_nano")[1]),
        _attributes_of(e),
    )


def _json_link(link: Any) -> None:
    """Links are not mapped to rows; they are checked like every other field."""
    link = _item(link)
    _at("traceId", _id, _field(link, "traceId", "trace_id")[1], 16)
    _at("spanId", _id, _field(link, "spanId", "span_id")[1], 8)
    _at("traceState", _str, _field(link, "traceState", "trace_state")[1])
    _at("flags", _u32, link.get("flags"))
    _attributes_of(link)


def _json_span(sp: Any, resource: dict[str, Any], scope_name: str, scope_version: str) -> OtlpSpan:
    sp = _item(sp)
    status = _at("status", _obj, sp.get("status"))
    try:
        status_code = _at("code", _enum, status.get("code"), _STATUS_NAMES)
        status_message = _at("message", _str, status.get("message"))
    except _Bad as exc:
        raise exc.at(".status") from None
    _at("traceState", _str, _field(sp, "traceState", "trace_state")[1])
    _at("flags", _u32, sp.get("flags"))
    for camel, snake in (
        ("droppedEventsCount", "dropped_events_count"),
        ("droppedLinksCount", "dropped_links_count"),
    ):
        _at(camel, _u32, _field(sp, camel, snake)[1])
    _each(_at("links", _arr, sp.get("links")), "links", _json_link)
    return OtlpSpan(
        trace_id=_at("traceId", _id, _field(sp, "traceId", "trace_id")[1], 16),
        span_id=_at("spanId", _id, _field(sp, "spanId", "span_id")[1], 8),
        parent_span_id=_at("parentSpanId", _id, _field(sp, "parentSpanId", "parent_span_id")[1], 8),
        name=_at("name", _str, sp.get("name")),
        kind=_at("kind", _enum, sp.get("kind"), _KIND_NAMES),
        start_time_unix_nano=_at(
            "startTimeUnixNano", _u64, _field(sp, "startTimeUnixNano", "start_time_unix_nano")[1]
        ),
        end_time_unix_nano=_at(
            "endTimeUnixNano", _u64, _field(sp, "endTimeUnixNano", "end_time_unix_nano")[1]
        ),
        attributes=_attributes_of(sp),
        events=_each(_at("events", _arr, sp.get("events")), "events", _json_event),
        status_code=status_code,
        status_message=status_message,
        resource=resource,
        scope_name=scope_name,
        scope_version=scope_version,
    )


def _json_scope_spans(ss: Any, resource: dict[str, Any]) -> list[OtlpSpan]:
    ss = _item(ss)
    name, scope = _field(ss, "scope", "scope")
    if scope is None:
        name, scope = _field(ss, "instrumentationLibrary", "instrumentation_library")
    try:
        scope = _obj(scope)
        scope_name = _at("name", _str, scope.get("name"))
        scope_version = _at("version", _str, scope.get("version"))
        _attributes_of(scope)
    except _Bad as exc:
        raise exc.at(f".{name}") from None
    _at("schemaUrl", _str, _field(ss, "schemaUrl", "schema_url")[1])
    spans = _at("spans", _arr, ss.get("spans"))
    return _each(spans, "spans", lambda sp: _json_span(sp, resource, scope_name, scope_version))


def _json_resource_spans(rs: Any) -> list[OtlpSpan]:
    rs = _item(rs)
    try:
        resource = _attributes_of(_obj(rs.get("resource")))
    except _Bad as exc:
        raise exc.at(".resource") from None
    _at("schemaUrl", _str, _field(rs, "schemaUrl", "schema_url")[1])
    name, scope_list = _field(rs, "scopeSpans", "scope_spans")
    if scope_list is None:
        name, scope_list = _field(rs, "instrumentationLibrarySpans", "instrumentation_library_spans")
    groups = _each(_at(name, _arr, scope_list), name, lambda ss: _json_scope_spans(ss, resource))
    return [sp for group in groups for sp in group]


def decode_json(body: bytes) -> list[OtlpSpan]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(_json_syntax_message(exc)) from exc
    if type(doc) is not dict:
        raise OtlpError(f"body must be a JSON ExportTraceServiceRequest object, got {json_type_name(doc)}")
    try:
        name, resource_spans = _field(doc, "resourceSpans", "resource_spans")
        groups = _each(_at(name, _arr, resource_spans), name, _json_resource_spans)
    except _Bad as exc:
        raise exc.to_error() from None
    return [sp for group in groups for sp in group]


def _json_syntax_message(exc: orjson.JSONDecodeError) -> str:
    msg = str(exc)
    low = msg.lower()
    if "recursion" in low or "depth" in low:
        return "malformed JSON: nested deeper than the parser's limit of 1024 levels"
    if "utf-8" in low or "utf8" in low or "surrogate" in low:
        return f"body is not valid UTF-8 JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    return f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
