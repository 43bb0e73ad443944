"""Opaque pagination cursors: base64url(JSON) of the last row's sort-key values (keyset) or of an
offset (aggregate queries), tagged with a fingerprint of the query and scope they belong to.

A cursor carries values only; their SQL types come from the query being compiled, and they
reach ClickHouse as typed query parameters, so a tampered cursor can at worst select other rows
of the same scope.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

from loopline.btql.errors import BindError

MAX_CURSOR_LENGTH = 8192
VERSION = 1


def _norm(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m-%d 00:00:00.000000")
    if isinstance(v, Decimal):
        return float(v)
    return str(v)


def encode_cursor(fingerprint: str, keys: list[Any] | None = None, offset: int | None = None) -> str:
    payload: dict[str, Any] = {"v": VERSION, "f": fingerprint}
    if keys is not None:
        payload["k"] = [_norm(k) for k in keys]
    if offset is not None:
        payload["o"] = offset
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad(why: str) -> BindError:
    return BindError(f"invalid cursor ({why}): pass back the 'cursor' of the previous page of the same query")


def cursor_mismatch() -> BindError:
    """A cursor of this query and scope whose payload does not fit it (keys or offset)."""
    return BindError("invalid cursor (it belongs to a different query)")


def cursor_offset(payload: dict[str, Any]) -> int:
    """The offset of an aggregate query's cursor."""
    if payload.get("o") is None:
        raise cursor_mismatch()
    return int(payload["o"])


def decode_cursor(token: str, fingerprint: str) -> dict[str, Any]:
    if not isinstance(token, str) or not token or len(token) > MAX_CURSOR_LENGTH:
        raise _bad("malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad("malformed") from None
    if not isinstance(payload, dict) or payload.get("v") != VERSION:
        raise _bad("unknown version")
    if payload.get("f") != fingerprint:
        raise _bad("it belongs to a different query")
    keys = payload.get("k")
    if keys is not None and not isinstance(keys, list):
        raise _bad("malformed")
    off = payload.get("o")
    if off is not None and (isinstance(off, bool) or not isinstance(off, int) or off < 0):
        raise _bad("malformed")
    return payload


def check_key(value: Any, kind: str, nullable: bool) -> Any:
    """Validate one decoded key value against the SQL kind of its sort key."""
    if value is None:
        if not nullable:
            raise _bad("null key")
        return None
    if kind in ("string", "datetime", "raw"):
        if not isinstance(value, str):
            raise _bad("wrong key type")
        if kind == "datetime":
            try:
                dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
            except ValueError:
                raise _bad("bad timestamp") from None
        return value
    if kind in ("integer", "xact"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad("wrong key type")
        if kind == "xact" and not 0 <= value < 2**64:
            raise _bad("bad transaction id")
        if kind == "integer" and not -(2**63) <= value < 2**63:
            raise _bad("integer out of range")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad("wrong key type")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _bad("wrong key type")
        return value
    raise _bad("unsupported key")
