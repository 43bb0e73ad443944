"""Reading results: decoding the store's values into response values, pivoting, and the next
page's cursor (keyset, whole traces or offset). The compiler decides how (a `CompiledQuery`'s
columns, keys and cursor mode); this module only reads the rows the store returned.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from loopline.btql import schema as S
from loopline.btql.cursor import encode_cursor

if TYPE_CHECKING:
    from loopline.btql.compiler import CompiledQuery

_JSON_SCHEMA: dict[str, dict[str, Any]] = {
    S.STRING: {"type": ["string", "null"]},
    S.NUMBER: {"type": ["number", "null"]},
    S.INTEGER: {"type": ["integer", "null"]},
    S.BOOL: {"type": ["boolean", "null"]},
    S.DATETIME: {"type": ["string", "null"], "format": "date-time"},
    S.XACT: {"type": ["string", "null"], "description": "Transaction id"},
    S.ARRAY: {"type": ["array", "null"], "items": {"type": "string"}},
    S.MAP: {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
    S.JSON: {},
    S.NULL: {"type": "null"},
}


@dataclass(frozen=True, slots=True)
class Column:
    """An output column: user-facing name, logical type, how to decode the ClickHouse value."""

    name: str
    type: str
    decode: str  # json | preview | datetime | number | value
    sql_alias: str

    def json_schema(self) -> dict[str, Any]:
        return dict(_JSON_SCHEMA.get(self.type, {}))


@dataclass(frozen=True, slots=True)
class Page:
    """One page of decoded results: rows as dicts, and the cursor of the next page (or None)."""

    data: list[dict[str, Any]]
    cursor: str | None


# ------------------------------------------------------------------------------------- decoding


def _json_int(text: str) -> int | float:
    """An integer of JSON text the response encoder (orjson, 64-bit) can write back; wider ones
    become floats, as every JSON parser in the write path reads them."""
    n = int(text)
    return n if -(2**63) <= n < 2**64 else float(text)


def _dec_json(v: Any) -> Any:
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        return v
    try:
        return orjson.loads(v)
    except orjson.JSONDecodeError:
        pass
    try:  # orjson refuses numbers beyond a double (1e400); the stdlib reads them as inf
        return json.loads(v, parse_int=_json_int)
    except ValueError:
        return v


def _dec_datetime(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.isoformat(timespec="microseconds") + "Z"
    if isinstance(v, dt.date):
        return v.isoformat() + "T00:00:00.000000Z"
    return v


def _dec_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _dec_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _dec_value(x) for k, x in v.items()}
    return v


_DECODERS = {
    "json": _dec_json,
    "preview": _dec_json,
    "datetime": _dec_datetime,
    "number": _dec_number,
    "value": _dec_value,
}


def _pivot(cq: CompiledQuery, pos: dict[str, int], rows: list[Any]) -> list[dict[str, Any]]:
    cols = list(cq.columns)
    dims = cols[: cq.ndims]
    key_col = dims[-1]
    row_dims = dims[:-1]
    measures = [c for c in cols[cq.ndims :]]
    pivoted = set(cq.pivot)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        vals = {c.name: _DECODERS[c.decode](r[pos[c.sql_alias]]) for c in cols}
        rk = tuple(json.dumps(vals[c.name], sort_keys=True, default=str) for c in row_dims)
        row = out.get(rk)
        if row is None:
            row = {c.name: vals[c.name] for c in row_dims}
            out[rk] = row
        kv = vals[key_col.name]
        kname = "null" if kv is None else kv if isinstance(kv, str) else json.dumps(kv)
        for m in measures:
            if m.name in pivoted:
                row[f"{kname}_{m.name}"] = vals[m.name]
            else:
                row.setdefault(m.name, vals[m.name])
    return list(out.values())


def read_page(
    cq: CompiledQuery, column_names: list[str] | tuple[str, ...], rows: list[Any] | tuple[Any, ...]
) -> Page:
    """Decode raw result rows into user rows and compute the next cursor."""
    rows = list(rows)
    if not rows:  # (some drivers report no column names for an empty result)
        return Page([], None)
    pos = {n: i for i, n in enumerate(column_names)}
    nk = len(cq.keys)
    key_idx = [pos[f"_k{i}"] for i in range(nk)] if cq.cursor_mode in ("keyset", "traces") else []
    cursor: str | None = None
    if cq.pivot:
        data = _pivot(cq, pos, rows)
        start = cq.offset
        page = data[start : start + cq.limit]
        if len(data) > start + cq.limit:
            cursor = encode_cursor(cq.fingerprint, offset=start + cq.limit)
        return Page(page, cursor)
    if cq.cursor_mode == "keyset":
        if len(rows) > cq.limit:
            rows = rows[: cq.limit]
            if rows:
                last = rows[-1]
                cursor = encode_cursor(cq.fingerprint, [last[i] for i in key_idx])
    elif cq.cursor_mode == "traces":
        units = 0
        prev: tuple[Any, ...] | None = None
        cut = len(rows)
        for i, r in enumerate(rows):
            unit = tuple(r[j] for j in key_idx[: cq._unit_keys])
            if unit != prev:
                units += 1
                prev = unit
                if units > cq.limit:
                    cut = i
                    break
        if units > cq.limit:
            rows = rows[:cut]
            if rows:
                cursor = encode_cursor(cq.fingerprint, [rows[-1][j] for j in key_idx[: cq._unit_keys]])
    else:
        if len(rows) > cq.limit:
            rows = rows[: cq.limit]
            cursor = encode_cursor(cq.fingerprint, offset=cq.offset + cq.limit)
    idx = [pos[c.sql_alias] for c in cq.columns]
    decs = [_DECODERS[c.decode] for c in cq.columns]
    names = [c.name for c in cq.columns]
    data = [{n: d(r[i]) for n, d, i in zip(names, decs, idx, strict=True)} for r in rows]
    return Page(data, cursor)
