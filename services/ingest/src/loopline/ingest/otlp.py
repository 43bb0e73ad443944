"""OTLP/HTTP traces → Loopline rows (protocol spec §8). Pure: no I/O.

Pipeline (the HTTP route does the I/O between steps 2 and 3):

1. `decode_request(body, content_type)` — protobuf (`application/x-protobuf`) or OTLP/JSON
   (`application/json`: hex ids — base64 accepted too —, int64 as string or number, enums as
   ints or names, camelCase or snake_case keys) → a list of `OtlpSpan`. Body already gunzipped.
2. `map_spans(spans, header_parent)` — each span → a Braintrust-shape row (§8.4) plus the
   `ParentRef` it targets (`braintrust.parent` span attribute, else the `x-bt-parent` header).
   The route resolves each distinct `ParentRef` (project by name/id, experiment by id) to an
   `ObjectRef` of the caller's org.
3. `attach_targets(batch, resolved)` — sets the object ids on each row, validates it with the
   `/logs3` validator and returns the rows plus partial-success counts for rejected spans.
4. `encode_response(rejected, message, content_type)` — `ExportTraceServiceResponse` in the
   request's content type (protobuf clients fail on JSON answers).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from google.protobuf.message import DecodeError
from loopline.common.rows import (
    EXPERIMENT,
    PROJECT_LOGS,
    ObjectRef,
    RowValidationError,
    ValidatedRow,
    format_created,
    validate_row,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"

STATUS_ERROR: Final = 2
_STATUS_NAMES: Final = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}

LLM_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
#: OpenInference span kind → our span type.
OPENINFERENCE_TYPES: Final = {
    "LLM": "llm",
    "EMBEDDING": "llm",
    "TOOL": "tool",
    "CHAIN": "task",
    "AGENT": "task",
    "RETRIEVER": "function",
    "RERANKER": "function",
    "GUARDRAIL": "function",
    "EVALUATOR": "score",
}
_MESSAGE_EVENTS: Final = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
#: Attribute families we parse into row fields; they are not copied into `metadata`
#: (unless the span sets `braintrust.otel.preserve_attributes`).
_PARSED_PREFIXES: Final = (
    "braintrust.",
    "gen_ai.request.",
    "gen_ai.usage.",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.token_count.",
    "llm.usage.",
    "input.",
    "output.",
    "ai.prompt",
    "ai.response.text",
    "ai.response.object",
    "ai.response.toolCalls",
    "ai.usage.",
    "ai.model.",
    "traceloop.entity.input",
    "traceloop.entity.output",
)
_PARSED_EXACT: Final = frozenset(
    {
        "gen_ai.system",
        "gen_ai.provider.name",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "llm.model_name",
        "llm.provider",
        "llm.invocation_parameters",
        "metadata",
        "tag.tags",
        "openinference.span.kind",
    }
)
_PARENT_KINDS: Final = ("project_id", "project_name", "experiment_id")
_HEX: Final = re.compile(r"^[0-9a-fA-F]*$")
MAX_ERRORS_REPORTED: Final = 5


class OtlpError(ValueError):
    """A request that cannot be decoded at all (HTTP status attached: 400 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


@dataclass(frozen=True, slots=True)
class ParentRef:
    """Where a span goes: `project_id:<id>`, `project_name:<name>` or `experiment_id:<id>`."""

    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> ParentRef | None:
        kind, sep, value = text.strip().partition(":")
        if not sep or kind not in _PARENT_KINDS or not value:
            return None
        return cls(kind, value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(slots=True)
class MappedSpan:
    parent: ParentRef
    row: dict[str, Any]


@dataclass(slots=True)
class OtlpBatch:
    """Mapped spans awaiting target resolution, plus the spans already rejected."""

    spans: list[MappedSpan] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def parents(self) -> set[ParentRef]:
        return {s.parent for s in self.spans}

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS_REPORTED:
            self.errors.append(reason)


@dataclass(slots=True)
class OtlpResult:
    rows: list[dict[str, Any]]
    rejected: int
    error_message: str
    validated: list[ValidatedRow] = field(default_factory=list)  # `rows`, validated, same order


# -- content types --------------------------------------------------------------------------


def wire_format(content_type: str | None) -> str:
    """`PROTOBUF` or `JSON` for a request Content-Type; OtlpError(415) otherwise."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct in ("application/x-protobuf", "application/protobuf", "application/vnd.google.protobuf"):
        return PROTOBUF
    if ct == "application/json" or ct.endswith("+json"):
        return JSON
    raise OtlpError(
        415, f"unsupported Content-Type {content_type!r}: use application/x-protobuf or application/json"
    )


# -- decoding: protobuf ---------------------------------------------------------------------


def _finite_or_str(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _pb_value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return _finite_or_str(v.double_value)
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def _pb_attrs(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in kvs}


def decode_protobuf(body: bytes) -> list[OtlpSpan]:
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpError(400, f"body is not a valid protobuf ExportTraceServiceRequest: {exc}") from exc
    out: list[OtlpSpan] = []
    for rs in req.resource_spans:
        resource = _pb_attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for sp in ss.spans:
                out.append(
                    OtlpSpan(
                        trace_id=sp.trace_id.hex(),
                        span_id=sp.span_id.hex(),
                        parent_span_id=sp.parent_span_id.hex(),
                        name=sp.name,
                        kind=int(sp.kind),
                        start_time_unix_nano=int(sp.start_time_unix_nano),
                        end_time_unix_nano=int(sp.end_time_unix_nano),
                        attributes=_pb_attrs(sp.attributes),
                        events=[
                            OtlpEvent(e.name, int(e.time_unix_nano), _pb_attrs(e.attributes))
                            for e in sp.events
                        ],
                        status_code=int(sp.status.code),
                        status_message=sp.status.message,
                        resource=resource,
                        scope_name=ss.scope.name,
                        scope_version=ss.scope.version,
                    )
                )
    return out


# -- decoding: OTLP/JSON --------------------------------------------------------------------


def _get(d: Mapping[str, Any], camel: str, snake: str) -> Any:
    v = d.get(camel)
    return d.get(snake) if v is None else v


def _int64(v: Any, what: str) -> int:
    if v is None or v == "":
        return 0
    if type(v) is int:
        return v
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            pass
    if type(v) is float and v.is_integer():
        return int(v)
    raise OtlpError(400, f"{what}: expected an integer (number or decimal string), got {v!r}")


def _json_id(v: Any, nbytes: int, what: str) -> str:
    """Hex id from OTLP/JSON (hex per spec; base64 as protobuf's JSON mapping emits)."""
    if v is None or v == "":
        return ""
    if not isinstance(v, str):
        raise OtlpError(400, f"{what}: expected a hex string, got {v!r}")
    if len(v) == 2 * nbytes and _HEX.match(v):
        return v.lower()
    try:
        raw = base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == nbytes:
        return raw.hex()
    raise OtlpError(400, f"{what}: expected {2 * nbytes} hex digits, got {v!r}")


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    if "stringValue" in v or "string_value" in v:
        return _get(v, "stringValue", "string_value")
    if "boolValue" in v or "bool_value" in v:
        return bool(_get(v, "boolValue", "bool_value"))
    if "intValue" in v or "int_value" in v:
        return _int64(_get(v, "intValue", "int_value"), "intValue")
    if "doubleValue" in v or "double_value" in v:
        d = _get(v, "doubleValue", "double_value")
        try:
            return _finite_or_str(float(d))
        except (TypeError, ValueError):
            raise OtlpError(400, f"doubleValue: expected a number, got {d!r}") from None
    if "arrayValue" in v or "array_value" in v:
        arr = _get(v, "arrayValue", "array_value") or {}
        return [_json_value(x) for x in (arr.get("values") or [])]
    if "kvlistValue" in v or "kvlist_value" in v:
        kvl = _get(v, "kvlistValue", "kvlist_value") or {}
        return _json_attrs(kvl.get("values") or [])
    if "bytesValue" in v or "bytes_value" in v:
        return _get(v, "bytesValue", "bytes_value")
    return None


def _json_attrs(kvs: Any) -> dict[str, Any]:
    if not isinstance(kvs, list):
        return {}
    out: dict[str, Any] = {}
    for kv in kvs:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = _json_value(kv.get("value"))
    return out


def _enum(v: Any, names: Mapping[str, int] | None = None) -> int:
    if type(v) is int:
        return v
    if isinstance(v, str):
        if names and v in names:
            return names[v]
        if v.startswith("SPAN_KIND_"):
            return {
                "UNSPECIFIED": 0,
                "INTERNAL": 1,
                "SERVER": 2,
                "CLIENT": 3,
                "PRODUCER": 4,
                "CONSUMER": 5,
            }.get(v[10:], 0)
        if v.isdigit():
            return int(v)
    return 0


def decode_json(body: bytes) -> list[OtlpSpan]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(400, f"malformed JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise OtlpError(400, "body must be a JSON ExportTraceServiceRequest object")
    out: list[OtlpSpan] = []
    for rs in _get(doc, "resourceSpans", "resource_spans") or []:
        if not isinstance(rs, dict):
            continue
        resource = _json_attrs((rs.get("resource") or {}).get("attributes"))
        scope_list = (
            _get(rs, "scopeSpans", "scope_spans")
            or _get(rs, "instrumentationLibrarySpans", "instrumentation_library_spans")
            or []
        )
        for ss in scope_list:
            if not isinstance(ss, dict):
                continue
            scope = ss.get("scope") or _get(ss, "instrumentationLibrary", "instrumentation_library") or {}
            for sp in ss.get("spans") or []:
                if not isinstance(sp, dict):
                    continue
                status = sp.get("status") or {}
                out.append(
                    OtlpSpan(
                        trace_id=_json_id(_get(sp, "traceId", "trace_id"), 16, "traceId"),
                        span_id=_json_id(_get(sp, "spanId", "span_id"), 8, "spanId"),
                        parent_span_id=_json_id(
                            _get(sp, "parentSpanId", "parent_span_id"), 8, "parentSpanId"
                        ),
                        name=str(sp.get("name") or ""),
                        kind=_enum(sp.get("kind")),
                        start_time_unix_nano=_int64(
                            _get(sp, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano"
                        ),
                        end_time_unix_nano=_int64(
                            _get(sp, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano"
                        ),
                        attributes=_json_attrs(sp.get("attributes")),
                        events=[
                            OtlpEvent(
                                str(e.get("name") or ""),
                                _int64(_get(e, "timeUnixNano", "time_unix_nano"), "timeUnixNano"),
                                _json_attrs(e.get("attributes")),
                            )
                            for e in (sp.get("events") or [])
                            if isinstance(e, dict)
                        ],
                        status_code=_enum(status.get("code"), _STATUS_NAMES),
                        status_message=str(status.get("message") or ""),
                        resource=resource,
                        scope_name=str(scope.get("name") or ""),
                        scope_version=str(scope.get("version") or ""),
                    )
                )
    return out


def decode_request(body: bytes, content_type: str | None) -> list[OtlpSpan]:
    """Spans of an ExportTraceServiceRequest in either wire format (body already decompressed)."""
    if wire_format(content_type) == PROTOBUF:
        return decode_protobuf(body)
    return decode_json(body)


# -- mapping helpers ------------------------------------------------------------------------


def _maybe_json(v: Any) -> Any:
    """A JSON string's value; anything else (or invalid JSON) unchanged."""
    if isinstance(v, str):
        s = v.strip()
        if s[:1] in ("{", "[", '"') or s in ("null", "true", "false"):
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                return v
    return v


def _strict_json(v: Any) -> tuple[bool, Any]:
    """(ok, value) of a `*_json` attribute: must be a string holding valid JSON."""
    if not isinstance(v, str):
        return False, None
    try:
        return True, orjson.loads(v)
    except orjson.JSONDecodeError:
        return False, None


def _nest(flat: Mapping[str, Any]) -> Any:
    """Re-nest dotted keys (`0.role`, `0.tool_calls.1.name`): numeric segments become lists."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = root
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
                node[p] = nxt
            node = nxt
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _prefixed(attrs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    n = len(prefix)
    return {k[n:]: v for k, v in attrs.items() if k.startswith(prefix) and len(k) > n}


def _flat_messages(attrs: Mapping[str, Any], prefix: str, unwrap: str | None = None) -> list[Any] | None:
    flat = _prefixed(attrs, prefix)
    if not flat:
        return None
    nested = _nest(flat)
    if not isinstance(nested, list):
        return None
    out = []
    for m in nested:
        if unwrap is not None and isinstance(m, dict) and isinstance(m.get(unwrap), dict):
            m = m[unwrap]
        out.append(m)
    return out or None


def _parts_text(parts: Any) -> str | None:
    if isinstance(parts, str):
        return parts
    if (
        isinstance(parts, list)
        and parts
        and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("content"), str)
            for p in parts
        )
    ):
        return "".join(p["content"] for p in parts)
    return None


def _genai_messages(v: Any) -> list[Any] | None:
    """`gen_ai.input/output.messages` (parts form) → chat messages; all-text parts become `content`."""
    msgs = _maybe_json(v)
    if not isinstance(msgs, list):
        return None
    out = []
    for m in msgs:
        if isinstance(m, dict) and "parts" in m:
            text = _parts_text(m["parts"])
            if text is not None:
                m = {**{k: x for k, x in m.items() if k != "parts"}, "content": text}
        out.append(m)
    return out


def _event_messages(events: Sequence[OtlpEvent]) -> tuple[list[Any] | None, list[Any] | None]:
    inputs: list[Any] = []
    outputs: list[Any] = []
    for e in events:
        role = _MESSAGE_EVENTS.get(e.name)
        if role is not None:
            msg: dict[str, Any] = {"role": e.attributes.get("role") or role}
            for k, v in e.attributes.items():
                if k in ("role", "gen_ai.system", "gen_ai.provider.name"):
                    continue
                msg[k] = (
                    _maybe_json(v)
                    if k in ("tool_calls", "content") and isinstance(v, str) and v[:1] in "[{"
                    else v
                )
            inputs.append(msg)
        elif e.name == "gen_ai.choice":
            m = _maybe_json(e.attributes.get("message"))
            if isinstance(m, dict):
                choice = {"role": "assistant", **m}
            else:
                choice = {"role": "assistant"}
                if "content" in e.attributes:
                    choice["content"] = e.attributes["content"]
            if "finish_reason" in e.attributes:
                choice["finish_reason"] = e.attributes["finish_reason"]
            outputs.append(choice)
        elif e.name == "gen_ai.content.prompt" and "gen_ai.prompt" in e.attributes:
            p = _maybe_json(e.attributes["gen_ai.prompt"])
            inputs.extend(p if isinstance(p, list) else [p])
        elif e.name == "gen_ai.content.completion" and "gen_ai.completion" in e.attributes:
            c = _maybe_json(e.attributes["gen_ai.completion"])
            outputs.extend(c if isinstance(c, list) else [c])
    return inputs or None, outputs or None


def _num(v: Any) -> int | float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v if not isinstance(v, float) or math.isfinite(v) else None
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return None
        if not math.isfinite(f):
            return None
        return int(f) if f.is_integer() and "." not in v else f
    return None


def _first(attrs: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        v = attrs.get(k)
        if v is not None:
            return v
    return None


def _unix_seconds(ns: int) -> float:
    return (ns // 1000) / 1e6


# -- mapping --------------------------------------------------------------------------------


def span_type(attrs: Mapping[str, Any], explicit: Any = None) -> str:
    if isinstance(explicit, str) and explicit:
        return explicit
    op = attrs.get("gen_ai.operation.name")
    if op in LLM_OPERATIONS or attrs.get("gen_ai.request.model") is not None:
        return "llm"
    if op == "execute_tool" or attrs.get("gen_ai.tool.name") is not None:
        return "tool"
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in OPENINFERENCE_TYPES:
        return OPENINFERENCE_TYPES[kind.upper()]
    if attrs.get("ai.model.id") is not None:
        return "llm"
    return "task"


def _is_parsed(key: str) -> bool:
    return key in _PARSED_EXACT or key.startswith(_PARSED_PREFIXES)


def map_span(span: OtlpSpan) -> dict[str, Any]:
    """The Braintrust-shape row of one span (§8.4), without object ids."""
    a = span.attributes
    row: dict[str, Any] = {
        "id": span.span_id,
        "span_id": span.span_id,
        "root_span_id": span.trace_id,
        "span_parents": [span.parent_span_id] if span.parent_span_id else None,
    }
    metadata: dict[str, Any] = {}
    metrics: dict[str, Any] = {}

    # braintrust.* fields set directly
    bt: dict[str, Any] = {}
    for f in ("input", "output", "expected"):
        if f"braintrust.{f}_json" in a:
            ok, val = _strict_json(a[f"braintrust.{f}_json"])
            if ok:
                bt[f] = val
            else:
                metadata[f"braintrust.{f}_json"] = a[f"braintrust.{f}_json"]
        elif f"braintrust.{f}" in a:
            bt[f] = _maybe_json(a[f"braintrust.{f}"])
    for f in ("metadata", "metrics", "scores", "span_attributes", "context"):
        v = a.get(f"braintrust.{f}", a.get(f"braintrust.{f}_json"))
        v = _maybe_json(v)
        if isinstance(v, dict):
            bt[f] = v
    sa_dotted = _prefixed(a, "braintrust.span_attributes.")
    if sa_dotted:
        nested = _nest(sa_dotted)
        if isinstance(nested, dict):
            bt["span_attributes"] = {**bt.get("span_attributes", {}), **nested}
    tags = _maybe_json(a.get("braintrust.tags"))
    if tags is None:
        tags = _maybe_json(a.get("tag.tags"))
    if isinstance(tags, list):
        row["tags"] = [t if isinstance(t, str) else orjson.dumps(t).decode() for t in tags]

    # span attributes
    sattrs: dict[str, Any] = {"name": span.name}
    explicit = bt.get("span_attributes", {})
    sattrs.update(explicit)
    sattrs["type"] = span_type(a, explicit.get("type"))
    if not sattrs.get("name"):
        sattrs["name"] = span.name
    row["span_attributes"] = sattrs
    is_tool = sattrs["type"] == "tool"

    # input / output
    ev_in, ev_out = _event_messages(span.events)
    row["input"] = _pick_input(a, bt, ev_in, is_tool)
    row["output"] = _pick_output(a, bt, ev_out, is_tool)
    if "expected" in bt:
        row["expected"] = bt["expected"]

    # metadata
    model = _first(a, "gen_ai.request.model", "llm.model_name", "ai.model.id", "gen_ai.response.model")
    if model is not None:
        metadata["model"] = model
    for k, v in _prefixed(a, "gen_ai.request.").items():
        if k != "model":
            metadata[k] = v
    inv = _maybe_json(a.get("llm.invocation_parameters"))
    if isinstance(inv, dict):
        for k, v in inv.items():
            metadata.setdefault(k, v)
    provider = _first(a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "ai.model.provider")
    if provider is not None:
        metadata["provider"] = provider
    oi_meta = _maybe_json(a.get("metadata"))
    if isinstance(oi_meta, dict):
        metadata.update(oi_meta)
    elif oi_meta is not None:
        metadata["metadata"] = oi_meta
    preserve = a.get("braintrust.otel.preserve_attributes") is True
    for k, v in a.items():
        if preserve or not _is_parsed(k):
            metadata.setdefault(k, v)
    if "metadata" in bt:
        metadata.update(bt["metadata"])
    otel: dict[str, Any] = {}
    if span.resource:
        otel["resource"] = span.resource
    if span.scope_name or span.scope_version:
        otel["scope"] = {"name": span.scope_name, "version": span.scope_version}
    if otel:
        metadata.setdefault("otel", otel)
    if metadata:
        row["metadata"] = metadata

    # metrics
    if span.start_time_unix_nano:
        metrics["start"] = _unix_seconds(span.start_time_unix_nano)
        row["created"] = format_created(datetime.fromtimestamp(span.start_time_unix_nano // 1000 / 1e6, UTC))
    if span.end_time_unix_nano:
        metrics["end"] = _unix_seconds(span.end_time_unix_nano)
    prompt = _num(
        _first(
            a,
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
            "ai.usage.inputTokens",
            "ai.usage.promptTokens",
        )
    )
    completion = _num(
        _first(
            a,
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
            "ai.usage.outputTokens",
            "ai.usage.completionTokens",
        )
    )
    total = _num(
        _first(
            a,
            "gen_ai.usage.total_tokens",
            "llm.token_count.total",
            "llm.usage.total_tokens",
            "ai.usage.totalTokens",
        )
    )
    if prompt is not None:
        metrics["prompt_tokens"] = prompt
    if completion is not None:
        metrics["completion_tokens"] = completion
    if total is None and (prompt is not None or completion is not None):
        total = (prompt or 0) + (completion or 0)
    if total is not None:
        metrics["tokens"] = total
    cached = _num(
        _first(a, "gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read")
    )
    if cached is not None:
        metrics["prompt_cached_tokens"] = cached
    created_tokens = _num(
        _first(a, "gen_ai.usage.cache_creation.input_tokens", "llm.token_count.prompt_details.cache_write")
    )
    if created_tokens is not None:
        metrics["prompt_cache_creation_tokens"] = created_tokens
    if "metrics" in bt:
        metrics.update({k: v for k, v in bt["metrics"].items() if _num(v) is not None or v is None})
    if metrics:
        row["metrics"] = metrics
    if "scores" in bt:
        row["scores"] = bt["scores"]
    if "context" in bt:
        row["context"] = bt["context"]

    # error
    if span.status_code == STATUS_ERROR:
        row["error"] = _error_text(span)
    return row


def _pick_input(a: Mapping[str, Any], bt: Mapping[str, Any], ev: list[Any] | None, is_tool: bool) -> Any:
    if "input" in bt:
        return bt["input"]
    if ev:
        return ev
    msgs = _genai_messages(a.get("gen_ai.input.messages"))
    if msgs is not None:
        sys_text = _parts_text(_maybe_json(a.get("gen_ai.system_instructions")))
        if sys_text is not None:
            msgs = [{"role": "system", "content": sys_text}, *msgs]
        return msgs
    if "gen_ai.prompt" in a:
        return _maybe_json(a["gen_ai.prompt"])
    flat = _flat_messages(a, "gen_ai.prompt.")
    if flat is not None:
        return flat
    flat = _flat_messages(a, "llm.input_messages.", unwrap="message")
    if flat is not None:
        return flat
    if "input.value" in a:
        return _mime_value(a["input.value"], a.get("input.mime_type"))
    if is_tool and "gen_ai.tool.call.arguments" in a:
        return _maybe_json(a["gen_ai.tool.call.arguments"])
    for k in ("ai.prompt.messages", "ai.prompt", "traceloop.entity.input"):
        if k in a:
            return _maybe_json(a[k])
    return None


def _pick_output(a: Mapping[str, Any], bt: Mapping[str, Any], ev: list[Any] | None, is_tool: bool) -> Any:
    if "output" in bt:
        return bt["output"]
    if ev:
        return ev
    msgs = _genai_messages(a.get("gen_ai.output.messages"))
    if msgs is not None:
        return msgs
    if "gen_ai.completion" in a:
        return _maybe_json(a["gen_ai.completion"])
    flat = _flat_messages(a, "gen_ai.completion.")
    if flat is not None:
        return flat
    flat = _flat_messages(a, "llm.output_messages.", unwrap="message")
    if flat is not None:
        return flat
    if "output.value" in a:
        return _mime_value(a["output.value"], a.get("output.mime_type"))
    if is_tool and "gen_ai.tool.call.result" in a:
        return _maybe_json(a["gen_ai.tool.call.result"])
    for k in ("ai.response.text", "ai.response.object", "ai.response.toolCalls", "traceloop.entity.output"):
        if k in a:
            return _maybe_json(a[k])
    return None


def _mime_value(v: Any, mime: Any) -> Any:
    if isinstance(mime, str) and "json" in mime.lower():
        ok, val = _strict_json(v)
        return val if ok else v
    return v


def _error_text(span: OtlpSpan) -> str:
    if span.status_message:
        return span.status_message
    for e in span.events:
        if e.name == "exception":
            t = e.attributes.get("exception.type")
            m = e.attributes.get("exception.message")
            if t and m:
                return f"{t}: {m}"
            if t or m:
                return str(t or m)
    return "error"


def map_spans(spans: Iterable[OtlpSpan], header_parent: str | None) -> OtlpBatch:
    """Map decoded spans to rows, each with the parent it targets (`braintrust.parent` span
    attribute over the `x-bt-parent` header). Spans with bad ids or no usable parent are
    rejected (counted for the partial-success response)."""
    default = ParentRef.parse(header_parent) if header_parent else None
    batch = OtlpBatch()
    for sp in spans:
        if len(sp.trace_id) != 32 or sp.trace_id == "0" * 32:
            batch.reject(f"span {sp.span_id or '?'}: invalid trace id {sp.trace_id!r}")
            continue
        if len(sp.span_id) != 16 or sp.span_id == "0" * 16:
            batch.reject(f"span in trace {sp.trace_id}: invalid span id {sp.span_id!r}")
            continue
        if sp.parent_span_id and len(sp.parent_span_id) != 16:
            batch.reject(f"span {sp.span_id}: invalid parent span id {sp.parent_span_id!r}")
            continue
        parent = default
        attr_parent = sp.attributes.get("braintrust.parent")
        if isinstance(attr_parent, str) and attr_parent:
            parent = ParentRef.parse(attr_parent)
            if parent is None:
                batch.reject(
                    f"span {sp.span_id}: braintrust.parent {attr_parent!r} is not project_id:, project_name: or experiment_id:"
                )
                continue
        if parent is None:
            why = f"x-bt-parent {header_parent!r} is not usable" if header_parent else "no x-bt-parent header"
            batch.reject(
                f"span {sp.span_id}: {why} and no braintrust.parent attribute: cannot tell where it belongs"
            )
            continue
        batch.spans.append(MappedSpan(parent, map_span(sp)))
    return batch


def target_fields(ref: ObjectRef) -> dict[str, str]:
    """The row fields that point a row at `ref` (project logs or an experiment)."""
    if ref.object_type == PROJECT_LOGS:
        return {"project_id": ref.object_id, "log_id": "g"}
    if ref.object_type == EXPERIMENT:
        return {"experiment_id": ref.object_id}
    raise ValueError(f"OTLP spans cannot target a {ref.object_type}")


def attach_targets(batch: OtlpBatch, resolved: Mapping[ParentRef, ObjectRef | None]) -> OtlpResult:
    """Point each row at its resolved object and validate it like a `/logs3` row.

    `resolved[parent]` is None (or missing) when the parent does not exist in the caller's org
    (or, for `project_name:`, could not be created): those spans are rejected."""
    rows: list[dict[str, Any]] = []
    validated: list[ValidatedRow] = []
    rejected = batch.rejected
    errors = list(batch.errors)

    def reject(msg: str) -> None:
        nonlocal rejected
        rejected += 1
        if len(errors) < MAX_ERRORS_REPORTED:
            errors.append(msg)

    for ms in batch.spans:
        ref = resolved.get(ms.parent)
        if ref is None:
            reject(f"span {ms.row['span_id']}: {ms.parent} does not exist")
            continue
        row = {**ms.row, **target_fields(ref)}
        try:
            validated.append(validate_row(row, f"span {ms.row['span_id']}"))
        except RowValidationError as exc:
            reject(str(exc))
            continue
        rows.append(row)
    message = ""
    if rejected:
        message = "; ".join(errors)
        if rejected > len(errors):
            message += f" (and {rejected - len(errors)} more)"
    return OtlpResult(rows, rejected, message, validated)


# -- responses ------------------------------------------------------------------------------


def encode_response(rejected: int, message: str, content_type: str | None) -> tuple[bytes, str]:
    """(body, media type) of an ExportTraceServiceResponse in the request's wire format."""
    fmt = wire_format(content_type) if content_type else PROTOBUF
    if fmt == PROTOBUF:
        resp = ExportTraceServiceResponse()
        if rejected or message:
            resp.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
            )
        return resp.SerializeToString(), PROTOBUF
    if not rejected and not message:
        return b"{}", JSON
    ps: dict[str, Any] = {"rejectedSpans": rejected}
    if message:
        ps["errorMessage"] = message
    return orjson.dumps({"partialSuccess": ps}), JSON
