"""OTLP/HTTP traces → Loopline rows (protocol spec §8). Pure: no I/O.

Pipeline (the HTTP route does the I/O between steps 2 and 3):

1. `decode_request(body, content_type)` (`decode`) — protobuf (`application/x-protobuf`) or
   OTLP/JSON (`application/json`: hex ids — base64 accepted too —, int64 as string or number,
   enums as ints or names, camelCase or snake_case keys) → a list of `OtlpSpan`. Body already
   gunzipped. Every field is type- and range-checked: a malformed request is an `OtlpError`
   naming where, e.g. `resourceSpans[0].scopeSpans[0].spans[3].status: expected an object, got
   a number` (`UnsupportedContentType` for another content type; the edge picks the status).
2. `map_spans(spans, header_parent)` (`targets`, with `semconv.map_span`) — each span → a
   Braintrust-shape row (§8.4) plus the `ParentRef` it targets (`braintrust.parent` span
   attribute, else the `x-bt-parent` header). The route resolves each distinct `ParentRef`
   (project by name/id, experiment by id) to an `ObjectRef` of the caller's org.
3. `attach_targets(batch, resolved)` (`targets`) — sets the object ids on each row, validates it
   with the shared row contract (`validate_row`, as `/logs3`) and returns the rows plus
   partial-success counts for rejected spans. Only these validated rows are published.
4. `encode_response(rejected, message, content_type)` — `ExportTraceServiceResponse` in the
   request's content type (protobuf clients fail on JSON answers).
"""

from loopline.ingest.otlp.decode import (
    JSON,
    MAX_ANY_DEPTH,
    PROTOBUF,
    OtlpError,
    OtlpEvent,
    OtlpSpan,
    OtlpTooLarge,
    UnsupportedContentType,
    decode_json,
    decode_protobuf,
    decode_request,
    wire_format,
)
from loopline.ingest.otlp.semconv import (
    LLM_OPERATIONS,
    MAX_NEST_DEPTH,
    MAX_TIME_UNIX_NANO,
    OPENINFERENCE_TYPES,
    STATUS_ERROR,
    SpanError,
    map_span,
    span_type,
)
from loopline.ingest.otlp.targets import (
    MAX_ERRORS_REPORTED,
    MappedSpan,
    OtlpBatch,
    OtlpResult,
    ParentRef,
    attach_targets,
    encode_response,
    map_spans,
    target_fields,
)

__all__ = [
    "JSON",
    "LLM_OPERATIONS",
    "MAX_ANY_DEPTH",
    "MAX_ERRORS_REPORTED",
    "MAX_NEST_DEPTH",
    "MAX_TIME_UNIX_NANO",
    "OPENINFERENCE_TYPES",
    "PROTOBUF",
    "STATUS_ERROR",
    "MappedSpan",
    "OtlpBatch",
    "OtlpError",
    "OtlpEvent",
    "OtlpResult",
    "OtlpSpan",
    "OtlpTooLarge",
    "ParentRef",
    "SpanError",
    "UnsupportedContentType",
    "attach_targets",
    "decode_json",
    "decode_protobuf",
    "decode_request",
    "encode_response",
    "map_span",
    "map_spans",
    "span_type",
    "target_fields",
    "wire_format",
]
