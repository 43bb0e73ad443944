"""Logical rows ⇄ the columns of the `spans` / `dataset_rows` tables (see common/schema.py).

`to_columns` turns a merged logical row (Braintrust shape, `RowState`) into the column
dict the writer inserts: JSON fields as verbatim JSON text ('' = field absent, 'null' = null),
typed companions (`scores_map`/`metrics_map` with finite numbers only, `span_name`/`span_type`,
`is_root`, `start_time`/`end_time`/`duration`) and `extra` for unknown top-level fields.

`state_from_columns` reads columns back into a `RowState` (the writer's merge base);
`to_read_row` builds the read-side row of spec §5.2 (`_xact_id` as a string, object ids, no
control fields). JSON values round-trip exactly: unicode, floats (shortest repr), nested nulls,
empty objects, and integers beyond 64 bits (stdlib fallback both ways).

Pure (depends only on `loopline.common` and orjson): the writer (ingest) writes with it and the
query service reads with it, so it lives here, owned by neither.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeGuard

import orjson
from loopline.common.object_types import LOG_ID_OF
from loopline.common.rows import (
    DATASET,
    EXPERIMENT,
    PROMPT_SESSION,
    format_created,
    parse_created,
)


@dataclass(slots=True)
class RowState:
    """A logical row after some writes: Braintrust shape (`id`, data fields, unknown fields and the
    server-managed `audit_data`), no control fields and no object ids."""

    row: dict[str, Any]
    xact_id: int
    deleted: bool = False

    @property
    def id(self) -> str:
        return str(self.row["id"])


#: JSON-text columns that hold a top-level row field of the same name.
JSON_FIELDS: Final = (
    "span_attributes",
    "input",
    "output",
    "expected",
    "error",
    "scores",
    "metadata",
    "metrics",
    "context",
    "origin",
    "comment",
    "audit_data",
)
#: Top-level logical-row keys with a home of their own (anything else goes to `extra`).
_COLUMN_FIELDS: Final = frozenset(
    {"id", "created", "span_id", "root_span_id", "span_parents", "tags", *JSON_FIELDS}
)

#: Columns the writer inserts (MATERIALIZED columns excluded), in a fixed order.
WRITE_COLUMNS: Final = (
    "org_id",
    "project_id",
    "object_type",
    "object_id",
    "id",
    "_xact_id",
    "_is_deleted",
    "created",
    "span_id",
    "root_span_id",
    "span_parents",
    "is_root",
    "span_attributes",
    "span_name",
    "span_type",
    "input",
    "output",
    "expected",
    "error",
    "scores",
    "scores_map",
    "metadata",
    "metrics",
    "metrics_map",
    "start_time",
    "end_time",
    "duration",
    "tags",
    "context",
    "origin",
    "comment",
    "audit_data",
    "extra",
    "intent",
    "intent_confidence",
)
#: Columns needed to rebuild a row's state (the writer's merge base).
STATE_COLUMNS: Final = (
    "id",
    "_xact_id",
    "_is_deleted",
    "created",
    "span_id",
    "root_span_id",
    "span_parents",
    "tags",
    *JSON_FIELDS,
    "extra",
)
#: Columns `to_read_row` needs.
READ_COLUMNS: Final = ("org_id", "project_id", "object_type", "object_id", *STATE_COLUMNS)

# 0001-01-01 .. 2299-12-31 is DateTime64's range; metrics outside 1970..2299 are not unix seconds.
_MAX_UNIX_S: Final = 10_413_791_999.0

_OBJECT_ID_FIELD: Final = {
    EXPERIMENT: "experiment_id",
    DATASET: "dataset_id",
    PROMPT_SESSION: "prompt_session_id",
}
_LOG_ID: Final = LOG_ID_OF

# orjson reads an integer beyond 64 bits (below -2**63 or above 2**64-1) as a float, silently,
# and such a float is <= -2**63 or >= 2**64: text whose value holds one is parsed again with json.
_WIDE_BELOW: Final = -(2.0**63)
_WIDE_FROM: Final = 2.0**64


def _may_be_wide(value: Any) -> bool:
    """Whether orjson's `value` holds a float that may have been an integer beyond 64 bits in the
    text (any float <= -2**63 or >= 2**64; a float written so, e.g. 1e300, is read again too).
    Every other number orjson reads as json does (integers exactly, floats correctly rounded).
    Walks containers with a stack (no recursion limit); strings are not looked into, so this
    costs per value, not per character as a scan of the text for long digit runs did."""
    t = type(value)
    if t is float:
        return not _WIDE_BELOW < value < _WIDE_FROM
    if t is not dict and t is not list:
        return False
    stack: list[Any] = [value]
    while stack:
        c = stack.pop()
        for x in c.values() if type(c) is dict else c:
            tx = type(x)
            if tx is float:
                if not _WIDE_BELOW < x < _WIDE_FROM:
                    return True
            elif tx is dict or tx is list:
                stack.append(x)
    return False


# -- exact JSON text ------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """JSON text of a value; integers beyond 64 bits and lone surrogates fall back to stdlib."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def loads(text: str) -> Any:
    """Inverse of `dumps`: orjson, or json where orjson may have read a number differently
    (integers beyond 64 bits; numbers beyond a double, 1e400, which orjson refuses) or refuses
    the text (lone surrogates)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    return json.loads(text) if _may_be_wide(value) else value


# -- helpers --------------------------------------------------------------------------------


def _finite(v: Any) -> bool:
    t = type(v)
    return t is int or (t is float and math.isfinite(v))


def _number_map(obj: Any) -> dict[str, float]:
    if type(obj) is not dict:
        return {}
    out: dict[str, float] = {}
    for k, v in obj.items():
        if _finite(v):
            try:
                out[k] = float(v)
            except OverflowError:  # int too large for a float
                continue
    return out


def _unix(v: Any) -> datetime | None:
    if not _finite(v) or not 0 <= v <= _MAX_UNIX_S:
        return None
    return datetime.fromtimestamp(float(v), UTC)


def _created_dt(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    if isinstance(v, str):
        return parse_created(v)
    raise ValueError(f"row has no valid created timestamp: {v!r}")


# -- logical row → columns ------------------------------------------------------------------


def _canonical_created(v: Any) -> TypeGuard[str]:
    """`v` is already in `format_created`'s form (what validation and merging leave)."""
    return type(v) is str and len(v) == 32 and v[10] == "T" and v[19] == "." and v.endswith("+00:00")


def to_columns(
    row: Mapping[str, Any],
    *,
    xact_id: int,
    deleted: bool = False,
    org_id: str,
    project_id: str,
    object_type: str,
    object_id: str,
    for_insert: bool = False,
) -> dict[str, Any]:
    """Column dict for one stored version of a logical row (see `WRITE_COLUMNS`).

    `row` must carry `id` and `created` (merge.apply_defaults guarantees both).

    `for_insert`: the writer's JSONEachRow form (`insert_line`): a JSON field holding an object
    or array stays that value instead of its text, and a canonical `created` stays a string. The
    insert reads such a value into its String column as its JSON text, byte for byte what
    `dumps` gives (`Store.insert_json`'s settings), so the row is serialised once instead of
    field by field and then again, escaped, as strings of the line."""
    raw_created = row.get("created")
    created: datetime | str = (
        raw_created if for_insert and _canonical_created(raw_created) else _created_dt(raw_created)
    )
    span_attributes = row.get("span_attributes")
    metrics = row.get("metrics")
    parents = row.get("span_parents")
    tags = row.get("tags")
    cols: dict[str, Any] = {
        "org_id": org_id,
        "project_id": project_id,
        "object_type": object_type,
        "object_id": object_id,
        "id": str(row["id"]),
        "_xact_id": int(xact_id),
        "_is_deleted": 1 if deleted else 0,
        "created": created,
        "span_id": row.get("span_id") or "",
        "root_span_id": row.get("root_span_id") or "",
        "span_parents": [p if type(p) is str else dumps(p) for p in parents] if type(parents) is list else [],
        "is_root": not parents,
        "tags": [t if type(t) is str else dumps(t) for t in tags] if type(tags) is list else [],
    }
    if for_insert:
        for f in JSON_FIELDS:
            if f in row:
                v = row[f]
                cols[f] = v if type(v) is dict or type(v) is list else dumps(v)
            else:
                cols[f] = ""
    else:
        for f in JSON_FIELDS:
            cols[f] = dumps(row[f]) if f in row else ""
    name = typ = ""
    if type(span_attributes) is dict:
        n = span_attributes.get("name")
        t = span_attributes.get("type")
        name = n if type(n) is str else ""
        typ = t if type(t) is str else ""
    cols["span_name"] = name
    cols["span_type"] = typ
    cols["scores_map"] = _number_map(row.get("scores"))
    cols["metrics_map"] = _number_map(metrics)
    start = end = None
    duration = None
    if type(metrics) is dict:
        ms, me = metrics.get("start"), metrics.get("end")
        start = _unix(ms)
        end = _unix(me)
        if start is not None and end is not None:
            duration = float(me) - float(ms)  # type: ignore[arg-type]  # finite numbers (checked)
    cols["start_time"] = start if start is not None else created
    cols["end_time"] = end
    cols["duration"] = duration
    extra = {k: v for k, v in row.items() if k not in _COLUMN_FIELDS}
    cols["extra"] = (extra if for_insert else dumps(extra)) if extra else ""
    intent = extra.get("intent")
    conf = extra.get("intent_confidence")
    cols["intent"] = intent if type(intent) is str else ""
    cols["intent_confidence"] = float(conf) if _finite(conf) else 0.0  # type: ignore[arg-type]
    return cols


def state_to_columns(
    state: RowState,
    *,
    org_id: str,
    project_id: str,
    object_type: str,
    object_id: str,
    for_insert: bool = False,
) -> dict[str, Any]:
    return to_columns(
        state.row,
        xact_id=state.xact_id,
        deleted=state.deleted,
        org_id=org_id,
        project_id=project_id,
        object_type=object_type,
        object_id=object_id,
        for_insert=for_insert,
    )


def insert_line(cols: dict[str, Any]) -> bytes:
    """The JSONEachRow line of a `for_insert` column dict. A value orjson cannot write (an
    integer beyond 64 bits or a lone surrogate, which only rows stored before the storage
    contract can hold) falls back to the field's `dumps` text."""
    try:
        return orjson.dumps(cols)
    except TypeError:
        fixed = {
            k: dumps(v) if (k in _TEXT_COLUMNS and (type(v) is dict or type(v) is list)) else v
            for k, v in cols.items()
        }
        return orjson.dumps(fixed)


_TEXT_COLUMNS: Final = frozenset({*JSON_FIELDS, "extra"})


# -- columns → logical row ------------------------------------------------------------------


def row_from_columns(cols: Mapping[str, Any]) -> dict[str, Any]:
    """The logical row (Braintrust shape, unknown fields at top level) stored in `cols`."""
    row: dict[str, Any] = {"id": cols["id"]}
    created = cols.get("created")
    if created is not None and created != "":
        row["created"] = format_created(_created_dt(created))
    for f in ("span_id", "root_span_id"):
        v = cols.get(f)
        if v:
            row[f] = v
    parents = cols.get("span_parents")
    row["span_parents"] = list(parents) if parents else None
    tags = cols.get("tags")
    if tags:
        row["tags"] = list(tags)
    for f in JSON_FIELDS:
        text = cols.get(f)
        if text:
            row[f] = loads(text)
    extra = cols.get("extra")
    if extra:
        for k, v in loads(extra).items():
            row.setdefault(k, v)
    return row


def state_from_columns(cols: Mapping[str, Any]) -> RowState:
    """The writer's merge base from a stored version (`STATE_COLUMNS`)."""
    return RowState(row_from_columns(cols), int(cols["_xact_id"]), bool(cols.get("_is_deleted")))


_READ_DEFAULTS: Final = (
    "span_attributes",
    "input",
    "output",
    "expected",
    "error",
    "scores",
    "metadata",
    "metrics",
    "tags",
    "context",
    "origin",
)


def to_read_row(cols: Mapping[str, Any], *, audit_log: bool = False) -> dict[str, Any]:
    """The read-side row (spec §5.2) of a stored version (`READ_COLUMNS`).

    `_xact_id` is a string; object ids by type (`project_id` + `experiment_id` / `dataset_id` /
    `prompt_session_id`, or `org_id` + `log_id` for project logs/prompts); standard fields that
    were never written read as null; `is_root`; unknown fields at top level; no control fields;
    `audit_data` (the row's change history) only when `audit_log` asks for it."""
    row = row_from_columns(cols)
    if not audit_log:
        row.pop("audit_data", None)
    otype = cols.get("object_type")
    out: dict[str, Any] = {"id": row.pop("id"), "_xact_id": str(cols["_xact_id"])}
    out["project_id"] = cols.get("project_id")
    if otype in _LOG_ID:
        out["org_id"] = cols.get("org_id")
        out["log_id"] = _LOG_ID[otype]
    elif otype in _OBJECT_ID_FIELD:
        out[_OBJECT_ID_FIELD[otype]] = cols.get("object_id")
    for f in _READ_DEFAULTS:
        out[f] = None
    out.update(row)
    out["is_root"] = not row.get("span_parents")
    return out
