"""Recognise the SDK's own object-fetch BTQL body and serve it as a plain object fetch.

The body (protocol spec §2.5): `select: [{"op": "star"}]`, `from: <experiment|dataset|
project_logs>('<id>')`, optional `cursor`, `limit`, and a top-level `version`. Anything more
(filters, sorts, other selects) is a general BTQL query and goes to the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectFetch:
    object_type: str
    object_id: str
    limit: Any
    cursor: str | None
    version: Any


_SOURCES = {"experiment", "dataset", "project_logs"}
_ALLOWED_KEYS = {"select", "from", "cursor", "limit"}


def as_object_fetch(body: dict[str, Any]) -> ObjectFetch | None:
    q = body.get("query")
    if not isinstance(q, dict) or set(q) - _ALLOWED_KEYS:
        return None
    if q.get("select") != [{"op": "star"}]:
        return None
    src = q.get("from")
    if not isinstance(src, dict) or src.get("op") != "function":
        return None
    name = src.get("name")
    args = src.get("args")
    if not (isinstance(name, dict) and name.get("op") == "ident" and isinstance(name.get("name"), list)):
        return None
    parts = name["name"]
    if len(parts) != 1 or parts[0] not in _SOURCES:
        return None
    if not (
        isinstance(args, list)
        and len(args) == 1
        and isinstance(args[0], dict)
        and args[0].get("op") == "literal"
    ):
        return None
    oid = args[0].get("value")
    if not isinstance(oid, str):
        return None
    cursor = q.get("cursor")
    return ObjectFetch(
        parts[0], oid, q.get("limit"), cursor if isinstance(cursor, str) else None, body.get("version")
    )
