"""Opaque, tamper-evident pagination cursors."""

from __future__ import annotations

import base64
from typing import Any

import orjson


class CursorError(ValueError):
    pass


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4))
        state = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise CursorError(
            "invalid cursor: pass back the 'cursor' value of the previous page unchanged"
        ) from exc
    if not isinstance(state, dict):
        raise CursorError("invalid cursor: pass back the 'cursor' value of the previous page unchanged")
    return state
