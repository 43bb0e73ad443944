"""BTQL results as Parquet (`fmt: "parquet"`): one column per output column.

Typed columns keep their type (string, int64, float64, bool, timestamp[us, UTC]); JSON-valued
columns (objects, arrays, or values of mixed types) are JSON text, as peers' exports do.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from loopline import btql


def _iso(v: str) -> dt.datetime:
    return dt.datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith("Z") else v)


def _column(values: list[Any], logical: str | None) -> pa.Array:
    present = [v for v in values if v is not None]
    if logical == "datetime" and all(isinstance(v, str) for v in present):
        return pa.array([None if v is None else _iso(v) for v in values], type=pa.timestamp("us", tz="UTC"))
    kinds = {type(v) for v in present}
    if kinds <= {str}:
        return pa.array(values, type=pa.string())
    if kinds <= {bool}:
        return pa.array(values, type=pa.bool_())
    if kinds <= {int} and all(-(2**63) <= v < 2**63 for v in present):
        return pa.array(values, type=pa.int64())
    if kinds <= {int, float}:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], type=pa.string())


def to_parquet(cq: btql.CompiledQuery, data: list[dict[str, Any]]) -> bytes:
    if cq.pivot:  # pivoted columns are only known from the rows
        names = list(dict.fromkeys(k for row in data for k in row))
        logical: dict[str, str] = {c.name: c.type for c in cq.columns}
    else:
        names = cq.column_names
        logical = {c.name: c.type for c in cq.columns}
    table = pa.table({n: _column([row.get(n) for row in data], logical.get(n)) for n in names})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()
