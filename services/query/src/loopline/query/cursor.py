"""Pagination cursors for fetch and async BTQL results: a position, base64url-encoded JSON.

They are not signed, and need not be: a cursor holds only where the next page starts (a
`(created, id)` key for fetch, a row offset for an async result); which rows can be read comes
from the principal and the request path, never from the cursor. So an edited cursor can only
move the caller within rows it may read anyway. A cursor that does not decode to the expected
shape is a 400 (`CursorError`, or the reader's own check). BTQL query cursors are
`loopline.btql.cursor`'s, bound to the query by a fingerprint.
"""

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
