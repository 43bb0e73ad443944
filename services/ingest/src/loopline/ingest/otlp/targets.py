"""Where OTLP spans go, and the partial-success bookkeeping. Pure: no I/O.

`map_spans` maps decoded spans to rows and picks each one's `ParentRef` (`braintrust.parent`
span attribute, else the `x-bt-parent` header); `attach_targets` points each row at its resolved
object and validates it with the shared row contract (`validate_row`, as `/logs3` does), and
checks that it encodes within the row limit. Only rows that passed all of that are returned, to
be published; every other span is rejected and counted for OTLP's `partialSuccess`.
`encode_response` writes the `ExportTraceServiceResponse` in the request's wire format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from loopline.common.object_types import PROJECT_LOGS_LOG_ID
from loopline.common.rows import (
    EXPERIMENT,
    PROJECT_LOGS,
    ObjectRef,
    RowValidationError,
    ValidatedRow,
    validate_row,
)
from loopline.ingest.otlp.decode import PROTOBUF, OtlpError, OtlpSpan, OtlpTooLarge, clip, wire_format
from loopline.ingest.otlp.semconv import SpanError, map_span
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

_PARENT_KINDS: Final = ("project_id", "project_name", "experiment_id")
#: Longest project name (as the control plane allows) and object id in a parent reference.
MAX_PROJECT_NAME: Final = 1024
MAX_OBJECT_ID: Final = 256
MAX_ERRORS_REPORTED: Final = 5
#: Longest single error message in a partial-success answer.
MAX_ERROR_CHARS: Final = 500


def _has_control_chars(s: str) -> bool:
    return any(c < " " or c == "\x7f" for c in s)


@dataclass(frozen=True, slots=True)
class ParentRef:
    """Where a span goes: `project_id:<id>`, `project_name:<name>` or `experiment_id:<id>`."""

    kind: str
    value: str

    @classmethod
    def check(cls, text: str) -> ParentRef | str:
        """The reference in `text`, or why it is not one (a message for the client)."""
        kind, sep, value = text.strip().partition(":")
        if not sep or kind not in _PARENT_KINDS:
            return "expected project_id:<id>, project_name:<name> or experiment_id:<id>"
        if not value.strip():
            return f"the {kind} is empty"
        if _has_control_chars(value):
            return f"the {kind} contains control characters"
        if kind == "project_name":
            if len(value) > MAX_PROJECT_NAME:
                return f"the project name is {len(value)} characters, over the limit of {MAX_PROJECT_NAME}"
        elif len(value) > MAX_OBJECT_ID or value != value.strip() or " " in value:
            return f"the {kind} is not an object id (at most {MAX_OBJECT_ID} characters, no spaces)"
        return cls(kind, value)

    @classmethod
    def parse(cls, text: str) -> ParentRef | None:
        ref = cls.check(text)
        return ref if isinstance(ref, ParentRef) else None

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
            self.errors.append(reason if len(reason) <= MAX_ERROR_CHARS else reason[:MAX_ERROR_CHARS] + "…")


@dataclass(slots=True)
class OtlpResult:
    rows: list[dict[str, Any]]
    rejected: int
    error_message: str
    validated: list[ValidatedRow] = field(default_factory=list)  # `rows`, validated, same order


def _valid_hex_id(v: str, nbytes: int) -> bool:
    return len(v) == 2 * nbytes and v != "0" * (2 * nbytes)


def map_spans(spans: Iterable[OtlpSpan], header_parent: str | None) -> OtlpBatch:
    """Map decoded spans to rows, each with the parent it targets (`braintrust.parent` span
    attribute over the `x-bt-parent` header). Spans with bad ids, timestamps the store cannot
    hold or no usable parent are rejected (counted for the partial-success response)."""
    default: ParentRef | None = None
    header_problem = "no x-bt-parent header"
    if header_parent:
        checked = ParentRef.check(header_parent)
        if isinstance(checked, ParentRef):
            default = checked
        else:
            header_problem = f"x-bt-parent {clip(header_parent)} is not usable ({checked})"
    batch = OtlpBatch()
    for sp in spans:
        if not _valid_hex_id(sp.trace_id, 16):
            batch.reject(f"span {clip(sp.span_id or '?', 32)}: invalid trace id {clip(sp.trace_id, 32)}")
            continue
        if not _valid_hex_id(sp.span_id, 8):
            batch.reject(f"span in trace {sp.trace_id}: invalid span id {clip(sp.span_id, 32)}")
            continue
        if sp.parent_span_id and len(sp.parent_span_id) != 16:
            batch.reject(f"span {sp.span_id}: invalid parent span id {clip(sp.parent_span_id, 32)}")
            continue
        parent = default
        attr_parent = sp.attributes.get("braintrust.parent")
        if isinstance(attr_parent, str) and attr_parent:
            checked = ParentRef.check(attr_parent)
            if not isinstance(checked, ParentRef):
                batch.reject(
                    f"span {sp.span_id}: braintrust.parent {clip(attr_parent)} is not project_id:, "
                    f"project_name: or experiment_id: ({checked})"
                )
                continue
            parent = checked
        if parent is None:
            batch.reject(
                f"span {sp.span_id}: {header_problem} and no braintrust.parent attribute: cannot tell where it belongs"
            )
            continue
        try:
            row = map_span(sp)
        except SpanError as exc:
            batch.reject(f"span {sp.span_id}: {exc}")
            continue
        batch.spans.append(MappedSpan(parent, row))
    return batch


def target_fields(ref: ObjectRef) -> dict[str, str]:
    """The row fields that point a row at `ref` (project logs or an experiment)."""
    if ref.object_type == PROJECT_LOGS:
        return {"project_id": ref.object_id, "log_id": PROJECT_LOGS_LOG_ID}
    if ref.object_type == EXPERIMENT:
        return {"experiment_id": ref.object_id}
    raise ValueError(f"OTLP spans cannot target a {ref.object_type}")


def attach_targets(
    batch: OtlpBatch,
    resolved: Mapping[ParentRef, ObjectRef | None],
    *,
    reasons: Mapping[ParentRef, str] | None = None,
    max_row_bytes: int | None = None,
    max_total_bytes: int | None = None,
) -> OtlpResult:
    """Point each row at its resolved object and validate it like a `/logs3` row.

    `resolved[parent]` is None (or missing) when the parent does not exist in the caller's org
    (or, for `project_name:`, could not be created; `reasons[parent]` says why): those spans are
    rejected. So is a row that `validate_row` refuses, that does not encode as JSON (nested
    too deep for the bus envelope) or that is over `max_row_bytes` encoded. A request whose
    rows together exceed `max_total_bytes` (resource attributes are copied into every span's
    row) is refused whole: OtlpTooLarge."""
    rows: list[dict[str, Any]] = []
    validated: list[ValidatedRow] = []
    tally = OtlpBatch(rejected=batch.rejected, errors=list(batch.errors))
    total = 0
    for ms in batch.spans:
        span = f"span {ms.row['span_id']}"
        ref = resolved.get(ms.parent)
        if ref is None:
            why = (reasons or {}).get(ms.parent) or "does not exist"
            tally.reject(f"{span}: {ms.parent} {why}")
            continue
        row = {**ms.row, **target_fields(ref)}
        try:
            # from_json: the mapper builds rows only of what orjson.loads could make (decoded
            # protobuf strings are valid UTF-8, integers 64-bit, doubles finite or strings;
            # OTLP/JSON and JSON-text attributes are parsed by orjson; its own floats are
            # finite): only the depth is left to walk (the fuzz tests check the full walk agrees)
            v = validate_row(row, span, from_json=True)
        except RowValidationError as exc:
            tally.reject(str(exc))
            continue
        try:
            in_list = orjson.dumps([v.row])  # inside a list: the bus envelope nests it once
        except orjson.JSONEncodeError as exc:
            tally.reject(f"{span}: cannot be encoded as JSON: {exc}")
            continue
        size = len(in_list) - 2
        v.encoded = in_list[1:-1]  # the envelope carries these bytes (not encoded again)
        if max_row_bytes is not None and size > max_row_bytes:
            tally.reject(f"{span}: its row is {size} bytes, over the row limit of {max_row_bytes} bytes")
            continue
        total += size
        if max_total_bytes is not None and total > max_total_bytes:
            raise OtlpTooLarge(
                f"the request's spans make more than {max_total_bytes} bytes of rows (resource "
                "attributes are stored with every span): send fewer spans per request",
            )
        validated.append(v)
        rows.append(row)
    message = ""
    if tally.rejected:
        message = "; ".join(tally.errors)
        if tally.rejected > len(tally.errors):
            message += f" (and {tally.rejected - len(tally.errors)} more)"
    return OtlpResult(rows, tally.rejected, message, validated)


# -- responses ------------------------------------------------------------------------------


def encode_response(rejected: int, message: str, content_type: str | None) -> tuple[bytes, str]:
    """(body, media type) of an ExportTraceServiceResponse in the request's wire format."""
    try:
        fmt = wire_format(content_type) if content_type else PROTOBUF
    except OtlpError:
        fmt = PROTOBUF
    if fmt == PROTOBUF:
        resp = ExportTraceServiceResponse()
        if rejected or message:
            resp.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
            )
        return resp.SerializeToString(), PROTOBUF
    if not rejected and not message:
        return b"{}", "application/json"
    ps: dict[str, Any] = {"rejectedSpans": rejected}
    if message:
        ps["errorMessage"] = message
    return orjson.dumps({"partialSuccess": ps}), "application/json"
