"""The `parent` of an invoke (spec §4.1): where the invocation's span goes.

Three forms arrive:

* `""` / null: no active span (the SDK's noop export);
* the span-components export string, base64: V4 (byte 0 = 4, byte 1 = object type 1 experiment /
  2 project_logs / 3 playground_logs, byte 2 = n, then n entries of a field id and its bytes —
  3 span_id 8 bytes, 4 root_span_id 16 bytes, 1/2 object_id/row_id 16 bytes — and an optional
  JSON remainder with the other fields) or the older V3 (same header, every packed field a
  16-byte UUID). The logger's export may carry no object id but
  `compute_object_metadata_args: {project_name, project_id}`: the project is then found by name;
* the object form `{object_type, object_id, row_ids?: {id, span_id, root_span_id},
  propagated_event?}`.

`decode_parent` is pure and raises `Invalid` naming what is wrong (a 400).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any

from loopline.common.errors import Invalid

OBJECT_TYPES = {1: "experiment", 2: "project_logs", 3: "playground_logs"}
_V4_SIZES = {1: 16, 2: 16, 3: 8, 4: 16}
_FIELD_NAMES = {1: "object_id", 2: "row_id", 3: "span_id", 4: "root_span_id"}


@dataclass(frozen=True)
class SpanParent:
    """A decoded parent. `object_id` may be None when only `project_name` (or `project_id`)
    says where the logs go; `span_id` / `root_span_id` are None for a parent object without a
    span (the invocation is then a root span)."""

    object_type: str
    object_id: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    row_id: str | None = None
    span_id: str | None = None
    root_span_id: str | None = None
    propagated_event: dict[str, Any] | None = None


def _bad(message: str) -> Invalid:
    return Invalid(f"parent: {message}", field="parent")


def _from_fields(fields: dict[str, Any]) -> SpanParent:
    otype = fields.get("object_type")
    if otype not in OBJECT_TYPES.values():
        raise _bad(f"object_type must be one of {sorted(OBJECT_TYPES.values())}, got {otype!r}")
    args = fields.get("compute_object_metadata_args") or {}
    if not isinstance(args, dict):
        raise _bad("compute_object_metadata_args must be an object")
    object_id = fields.get("object_id") or None
    project_name = args.get("project_name") or None
    project_id = args.get("project_id") or None
    if object_id is None and project_name is None and project_id is None:
        raise _bad("names no object (object_id, or compute_object_metadata_args.project_name)")
    for name in ("object_id", "row_id", "span_id", "root_span_id"):
        v = fields.get(name)
        if v is not None and not isinstance(v, str):
            raise _bad(f"{name} must be a string")
    event = fields.get("propagated_event")
    if event is not None and not isinstance(event, dict):
        raise _bad("propagated_event must be an object")
    span_id, root = fields.get("span_id") or None, fields.get("root_span_id") or None
    if (span_id is None) != (root is None):
        raise _bad("span_id and root_span_id go together")
    return SpanParent(
        object_type=str(otype),
        object_id=str(object_id) if object_id else None,
        project_name=str(project_name) if project_name else None,
        project_id=str(project_id) if project_id else None,
        row_id=fields.get("row_id") or None,
        span_id=span_id,
        root_span_id=root,
        propagated_event=event,
    )


def _decode_string(text: str) -> SpanParent:
    try:
        raw = base64.b64decode(text.encode(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad(f"not a span export string (not base64: {exc})") from exc
    if len(raw) < 3:
        raise _bad("span export string too short")
    version = raw[0]
    if version not in (3, 4):
        raise _bad(f"span export version {version} is not supported (3 and 4 are)")
    otype = OBJECT_TYPES.get(raw[1])
    if otype is None:
        raise _bad(f"unknown object type byte {raw[1]}")
    fields: dict[str, Any] = {"object_type": otype}
    offset = 3
    for _ in range(raw[2]):
        if offset >= len(raw):
            raise _bad("span export string is truncated")
        fid = raw[offset]
        if fid not in _FIELD_NAMES:
            raise _bad(f"unknown field id {fid} in span export string")
        size = 16 if version == 3 else _V4_SIZES[fid]
        chunk = raw[offset + 1 : offset + 1 + size]
        if len(chunk) != size:
            raise _bad("span export string is truncated")
        fields[_FIELD_NAMES[fid]] = str(uuid.UUID(bytes=chunk)) if version == 3 else chunk.hex()
        offset += 1 + size
    if offset < len(raw):
        try:
            rest = json.loads(raw[offset:].decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _bad(f"the JSON part of the span export string is invalid: {exc}") from exc
        if not isinstance(rest, dict):
            raise _bad("the JSON part of the span export string is not an object")
        fields.update({k: v for k, v in rest.items() if k != "object_type"})
    return _from_fields(fields)


def decode_parent(value: Any) -> SpanParent | None:
    """The parent an invoke names, or None for no parent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return _decode_string(value.strip())
    if isinstance(value, dict):
        row_ids = value.get("row_ids") or {}
        if not isinstance(row_ids, dict):
            raise _bad("row_ids must be an object {id, span_id, root_span_id}")
        if not isinstance(value.get("object_id"), str) or not value.get("object_id"):
            raise _bad("object_id must be a non-empty string")
        return _from_fields(
            {
                "object_type": value.get("object_type"),
                "object_id": value.get("object_id"),
                "row_id": row_ids.get("id"),
                "span_id": row_ids.get("span_id"),
                "root_span_id": row_ids.get("root_span_id"),
                "propagated_event": value.get("propagated_event"),
            }
        )
    raise _bad(f"must be a span export string or an object, got {type(value).__name__}")
