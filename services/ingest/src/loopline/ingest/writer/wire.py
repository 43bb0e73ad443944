"""What crosses the pipes between the writer and its worker process (offload.py): bytes only.

Each way one frame, `<u64 length><payload>`, written with `writev` (a batch's message values go
out as they are, no joined copy) and read into one buffer:

- request: `<u32 n><n u32 value lengths><the n values>`: a bus batch's message values;
- answer: `<u8 0><u32 meta length><u32 detail length><meta><detail><one body per table>`, where
  `meta` (orjson) holds what the writer needs when every row of the batch is new and merged by
  the worker (steady ingest): the undecodable messages, each group's key and row ids (the
  existence read), and per table its body's length, its row count and the announcements its
  rows make (`loopline.rows.committed` keys and values); a body is the table's JSONEachRow lines
  joined by newlines, in the order the writer inserts them. `detail` (orjson, read only when the
  writer must merge some rows itself) gives each row's writes, whether the worker merged it, its
  lines' lengths and its announced fields. `<u8 1><text>` is a failure in the worker.

Measured against the multiprocessing pickles it replaces (a list of bytes one way, a dataclass
per row with its lines and announced dicts back, unpickled in the writer's process): see the
README's ingest section.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from loopline.common.bus import OutMessage
from loopline.common.messages import committed
from loopline.ingest.writer.steps import GroupKey

#: The fields of a written row that the announcement (`committed.from_written`) reads.
ANNOUNCED = (
    "org_id",
    "project_id",
    "object_type",
    "object_id",
    "id",
    "root_span_id",
    "_xact_id",
    "_is_deleted",
)

_LEN: Final = struct.Struct("<Q")
_COUNT: Final = struct.Struct("<I")
_ANSWER: Final = struct.Struct("<BII")
#: a pipe of 1 MiB (Linux's default maximum) instead of 64 KiB: 16 times fewer wake-ups per batch
PIPE_BYTES: Final = 1 << 20
_IOV_MAX: Final = min(os.sysconf("SC_IOV_MAX"), 1024)
assert array("I").itemsize == 4


class WorkerFailed(RuntimeError):
    """The worker raised while preparing a batch (its traceback is the message)."""


@dataclass(slots=True)
class PreparedRow:
    """One logical row's writes, merged onto no stored state: `lines` to insert (one per stored
    version) with `announced` fields each; `writes` are the batch indexes of its writes."""

    writes: list[int]
    lines: list[bytes] = field(default_factory=list)
    announced: list[dict[str, Any]] = field(default_factory=list)
    #: False when the row must be merged by the writer itself (its group names a parent to
    #: resolve, or its merge failed here; the writer's merge then rejects it with the reason)
    ok: bool = True


@dataclass(slots=True)
class PreparedBatch:
    """A bus batch after `prepare`: messages that are not row writes (index, reason), and the
    rows by group, in bus order."""

    undecodable: list[tuple[int, str]] = field(default_factory=list)
    groups: dict[GroupKey, dict[str, PreparedRow]] = field(default_factory=dict)


@dataclass(slots=True)
class TableBody:
    """One table's rows of a batch as the worker encoded them (in insert order)."""

    table: str
    body: memoryview
    count: int
    announcements: list[OutMessage]


@dataclass(slots=True)
class Handed:
    """The worker's answer, as the writer reads it: `meta` at once, `detail` when asked."""

    undecodable: list[tuple[int, str]]
    #: each group's key and row ids, in bus order
    groups: list[tuple[GroupKey, list[str]]]
    #: every row of every group was merged by the worker (none left to the writer)
    ok: bool
    tables: list[TableBody]
    _detail: memoryview

    def batch(self) -> PreparedBatch:
        """The whole prepared batch, row by row (when the writer merges some rows itself)."""
        out = PreparedBatch(self.undecodable)
        bodies = {t.table: t.body for t in self.tables}
        at = dict.fromkeys(bodies, 0)
        for (key, _), rows in zip(self.groups, orjson.loads(self._detail), strict=True):
            table, org, project, otype, oid = key
            body, pos = bodies.get(table), at.get(table, 0)
            group = out.groups[key] = {}
            for row_id, writes, ok, lengths, announced in rows:
                lines = []
                for n in lengths:
                    assert body is not None
                    lines.append(bytes(body[pos : pos + n]))
                    pos += n + 1
                group[row_id] = PreparedRow(
                    writes,
                    lines,
                    [
                        {
                            "org_id": org,
                            "project_id": project,
                            "object_type": otype,
                            "object_id": oid,
                            "id": row_id,
                            "root_span_id": root,
                            "_xact_id": xact,
                            "_is_deleted": deleted,
                        }
                        for root, xact, deleted in announced
                    ],
                    ok,
                )
            if table in at:
                at[table] = pos
        return out


# -- the writer's side -----------------------------------------------------------------------


def request(values: Sequence[bytes]) -> list[bytes]:
    """The request frame's pieces for a batch's message values."""
    lengths = array("I", [len(v) for v in values])
    return [_COUNT.pack(len(values)), lengths.tobytes(), *values]


def decode_prepared(frame: bytearray | memoryview) -> Handed:
    """The worker's answer frame → `Handed` (bodies are views of `frame`, not copies)."""
    view = memoryview(frame)
    if frame[0] != 0:
        raise WorkerFailed("the writer's worker process failed: " + bytes(view[1:]).decode(errors="replace"))
    _, meta_len, detail_len = _ANSWER.unpack_from(frame, 0)
    at = _ANSWER.size
    meta = orjson.loads(view[at : at + meta_len])
    at += meta_len
    detail = view[at : at + detail_len]
    at += detail_len
    tables = []
    for table, size, count, announcements in meta["t"]:
        tables.append(
            TableBody(
                table,
                view[at : at + size],
                count,
                [OutMessage(k.encode(), v.encode()) for k, v in announcements],
            )
        )
        at += size
    return Handed(
        [(i, reason) for i, reason in meta["u"]],
        [((g[0], g[1], g[2], g[3], g[4]), g[5]) for g in meta["g"]],
        meta["ok"],
        tables,
        detail,
    )


# -- the worker's side -----------------------------------------------------------------------


def split_values(frame: bytearray | memoryview) -> list[memoryview]:
    """A request frame → its values (views of `frame`)."""
    (n,) = _COUNT.unpack_from(frame, 0)
    lengths = array("I")
    lengths.frombytes(frame[_COUNT.size : _COUNT.size + 4 * n])
    view = memoryview(frame)
    at = _COUNT.size + 4 * n
    out = []
    for size in lengths:
        out.append(view[at : at + size])
        at += size
    return out


def encode_prepared(batch: PreparedBatch) -> list[bytes]:
    """The answer frame's pieces for a prepared batch (see the module docstring)."""
    lines_by_table: dict[str, list[bytes]] = {}
    announced_by_table: dict[str, list[dict[str, Any]]] = {}
    groups: list[list[Any]] = []
    detail: list[list[Any]] = []
    ok = True
    for key, rows in batch.groups.items():
        lines = lines_by_table.setdefault(key[0], [])
        announced = announced_by_table.setdefault(key[0], [])
        groups.append([*key, list(rows)])
        d = []
        for row_id, r in rows.items():
            ok = ok and r.ok
            lines += r.lines
            announced += r.announced
            d.append(
                [
                    row_id,
                    r.writes,
                    r.ok,
                    [len(line) for line in r.lines],
                    [(a["root_span_id"], a["_xact_id"], a["_is_deleted"]) for a in r.announced],
                ]
            )
        detail.append(d)
    tables = []
    bodies: list[bytes] = []  # the lines and their newlines, as pieces (writev: no joined copy)
    for table, lines in lines_by_table.items():
        messages = committed.from_written(announced_by_table[table]) if ok else []
        out = [committed.CONTRACT.out(m) for m in messages]
        size = sum(len(line) for line in lines) + max(len(lines) - 1, 0)
        tables.append([table, size, len(lines), [(m.key.decode(), m.value.decode()) for m in out]])
        for i, line in enumerate(lines):
            if i:
                bodies.append(b"\n")
            bodies.append(line)
    meta = orjson.dumps({"u": batch.undecodable, "g": groups, "ok": ok, "t": tables})
    detail_bytes = orjson.dumps(detail)
    return [_ANSWER.pack(0, len(meta), len(detail_bytes)), meta, detail_bytes, *bodies]


def error_frame(text: str) -> list[bytes]:
    return [b"\x01", text.encode(errors="replace")]


# -- frames on pipes -------------------------------------------------------------------------


def grow_pipe(fd: int) -> None:
    """Make a pipe hold `PIPE_BYTES` (fewer wake-ups of the other side); best effort."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def write_frame(fd: int, parts: list[bytes]) -> None:
    """Write one frame: its length, then `parts` (`writev`, as few calls as it allows)."""
    pieces: list[Any] = [_LEN.pack(sum(len(p) for p in parts)), *parts]
    i = 0
    while i < len(pieces):
        chunk = pieces[i : i + _IOV_MAX]
        done = os.writev(fd, chunk)
        want = sum(len(p) for p in chunk)
        if done < want:  # interrupted part way: finish the chunk piece by piece
            view = memoryview(b"".join(chunk))[done:]
            while view:
                view = view[os.write(fd, view) :]
        i += len(chunk)


def read_frame(fd: int) -> bytearray:
    """Read one frame's payload; EOFError when the pipe closed before a whole frame."""
    (size,) = _LEN.unpack(_read_exactly(fd, bytearray(_LEN.size)))
    buf = bytearray(size)
    _read_exactly(fd, memoryview(buf))
    return buf


class FrameReader:
    """Reads frames into one buffer kept between them (up to `keep` bytes; a bigger frame gets a
    buffer of its own): a fresh 48 MiB buffer per batch cost its page faults and zeroing (reading
    such a frame took 25-27 ms of CPU, 10-11 with the buffer kept). The buffer is reused only
    when nothing still views the last frame read into it (a resize then succeeds); otherwise the
    frame gets a new buffer, which is kept instead."""

    def __init__(self, fd: int, keep: int = 64 << 20) -> None:
        self.fd = fd
        self.keep = keep
        self._buf = bytearray(0)

    def read(self) -> memoryview:
        (size,) = _LEN.unpack(_read_exactly(self.fd, bytearray(_LEN.size)))
        if size > self.keep:
            view = memoryview(bytearray(size))
        else:
            if len(self._buf) < size:
                self._buf = bytearray(min(max(size, 2 * len(self._buf)), self.keep))
            elif not _unviewed(self._buf):
                self._buf = bytearray(size)  # the last frame is still in use: a buffer its size
            view = memoryview(self._buf)[:size]
        _read_exactly(self.fd, view)
        return view


def _unviewed(buf: bytearray) -> bool:
    """No memoryview of `buf` is alive (a bytearray cannot be resized while one is)."""
    try:
        buf.append(0)
    except BufferError:
        return False
    del buf[-1]
    return True


def _read_exactly(fd: int, buf: bytearray | memoryview) -> bytearray | memoryview:
    """Fill `buf` from `fd` (returns it); EOFError when the pipe closes first."""
    view = memoryview(buf)
    at = 0
    while at < len(view):
        n = os.readv(fd, [view[at:]])
        if n == 0:
            raise EOFError("pipe closed")
        at += n
    return buf
