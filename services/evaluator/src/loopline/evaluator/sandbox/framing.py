"""Length-prefixed orjson frames: the only format spoken on the sandbox pipes.

A frame is a 4-byte big-endian payload length followed by one orjson document. Every reader is
given a maximum payload size and refuses a longer frame before reading it, so a peer cannot make
the other side buffer without bound.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import orjson

HEADER = struct.Struct(">I")


class FrameError(Exception):
    """A frame was truncated, too large or not valid JSON."""


def encode_frame(value: Any) -> bytes:
    payload = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"frame is not valid JSON: {exc}") from exc


def payload_length(header: bytes, max_bytes: int) -> int:
    if len(header) != HEADER.size:
        raise FrameError("truncated frame header")
    (length,) = HEADER.unpack(header)
    if length > max_bytes:
        raise FrameError(f"frame of {length} bytes exceeds the limit of {max_bytes} bytes")
    return int(length)


def write_frame_fd(fd: int, value: Any) -> None:
    """Blocking write of one frame to a file descriptor (used inside the sandbox)."""
    view = memoryview(encode_frame(value))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_exactly_fd(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed in the middle of a frame" if chunks else "pipe closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame_fd(fd: int, max_bytes: int) -> Any:
    """Blocking read of one frame; EOFError on a clean end of stream."""
    length = payload_length(read_exactly_fd(fd, HEADER.size), max_bytes)
    return decode_payload(read_exactly_fd(fd, length))


class FrameBuffer:
    """Incremental decoder for a non-blocking reader: feed bytes, take whole frames."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) >= HEADER.size:
            # refuse an oversized frame as soon as its header is known
            payload_length(bytes(self._buf[: HEADER.size]), self.max_bytes)

    @property
    def pending(self) -> int:
        return len(self._buf)

    def take(self) -> list[Any]:
        frames: list[Any] = []
        while len(self._buf) >= HEADER.size:
            length = payload_length(bytes(self._buf[: HEADER.size]), self.max_bytes)
            end = HEADER.size + length
            if len(self._buf) < end:
                break
            frames.append(decode_payload(bytes(self._buf[HEADER.size : end])))
            del self._buf[:end]
            if len(self._buf) >= HEADER.size:
                payload_length(bytes(self._buf[: HEADER.size]), self.max_bytes)
        return frames
