"""Reading request bodies safely (an edge module): size limits (413), gzip, JSON with positioned
errors (400)."""

from __future__ import annotations

import zlib
from typing import Any, Final

import orjson
from fastapi import Request
from loopline.common.errors import ServiceError

#: Bodies larger than this are decoded, validated and encoded on a worker thread, off the event
#: loop: a 32 MiB `/logs3` body of 100,000 small rows took about a second of CPU, during which no
#: other request (not even `/healthz`) was answered. Smaller ones stay inline: a hop costs more
#: than it spares. The thread holds the GIL for the same work (no parallelism), and each hop costs
#: a wake-up of the loop through its self-pipe and two GIL hand-overs under contention; with the
#: limit at 256 KiB every SDK batch of 100 spans (≈ 370 KB) took three hops, and a profile of the
#: saturated server showed the pool threads spending about as much CPU waiting for the GIL and
#: waking the loop as on the work (tests/bench/profile_ingest.py). At 1 MiB the loop is held at
#: most ≈ 30 ms by one body.
THREAD_BODY_BYTES: Final = 1024 * 1024


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, decompressed if gzip/deflate; 413 past `max_bytes` (either side)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ServiceError(
            413,
            f"request body of {int(declared)} bytes exceeds the limit of {max_bytes} bytes",
            limit=max_bytes,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ServiceError(413, f"request body exceeds the limit of {max_bytes} bytes", limit=max_bytes)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower().strip()
    if encoding in ("gzip", "deflate"):
        body = _inflate(body, max_bytes, gzip=encoding == "gzip")
    elif encoding not in ("", "identity"):
        raise ServiceError(415, f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none")
    return body


def _inflate(data: bytes, max_bytes: int, *, gzip: bool) -> bytes:
    d = zlib.decompressobj(wbits=31 if gzip else 15)
    try:
        out = d.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise ServiceError(400, f"body is not valid {'gzip' if gzip else 'deflate'} data: {exc}") from exc
    if len(out) > max_bytes or d.unconsumed_tail:
        raise ServiceError(413, f"decompressed body exceeds the limit of {max_bytes} bytes", limit=max_bytes)
    if not d.eof:  # a cut-off stream inflates to a prefix that may parse (a shorter protobuf)
        raise ServiceError(
            400, f"body is not valid {'gzip' if gzip else 'deflate'} data: the stream is truncated"
        )
    return out


def parse_json(body: bytes) -> Any:
    if not body:
        raise ServiceError(400, "empty body: expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        if "depth" in msg.lower() or "recursion" in msg.lower():
            raise ServiceError(
                400, "JSON is nested deeper than the limit of 1024 levels", position=exc.pos
            ) from exc
        if "utf-8" in msg.lower() or "utf8" in msg.lower():
            raise ServiceError(400, f"body is not valid UTF-8: {msg}", position=exc.pos) from exc
        raise ServiceError(
            400,
            f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
        ) from exc
