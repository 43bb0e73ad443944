"""A write-ahead journal that makes the in-process bus survive `kill -9`.

Every published batch is appended to the current segment file (one `os.write`) before `publish`
returns, so an acknowledged message is in the operating system's page cache even if the process
dies right after; with `fsync=True` each batch is also flushed to the disk (power-loss safe, much
slower). Consumer-group commits are kept in `commits.json` (written to a temporary file and
renamed, so it is always whole) at most every `COMMIT_DELAY_S`: a commit made sooner after the
last write is written by `flush_commits`, which the bus calls that much later (and at stop). On
start, `recover()` reads the segments back: the bus restores every message a group has not
committed, and groups resume where they committed as of the last write (messages handled but not
committed, or committed in the last `COMMIT_DELAY_S` before a crash, are delivered again;
consumers are idempotent). Acknowledged messages are never at stake here: a publish is written
before it returns.

Records: `<len u32><crc32 u32><payload>`; a torn or corrupt tail (the write a kill interrupted) is
detected by length or checksum and cut off. Segments are deleted whole once every group has
committed past every record in them.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from loopline.common.bus.base import Message
from loopline.common.logging import get_logger

log = get_logger(__name__)

_FRAME = struct.Struct("<II")  # payload length, crc32(payload)
_HEAD = struct.Struct("<HIQQIIH")  # topic len, partition, offset, timestamp, key len, value len, headers
_HDR = struct.Struct("<HI")  # header name len, header value len
_SEGMENT_SUFFIX = ".log"
#: How long a commit may wait before `commits.json` is written again. The writer commits every
#: batch, and the rewrites (open, write, close, rename) on the event loop took 6.5% of its CPU at
#: saturation, 3.5 µs per span (tests/bench/profile_ingest.py).
COMMIT_DELAY_S: Final = 0.1

Floors = Callable[[str, int], int]


def encode(m: Message) -> bytes:
    return b"".join(_record(m))


def _record(m: Message) -> list[bytes]:
    """One record's pieces, frame first (`encode` joins them; `append` writes them as they are,
    so a message's value is not copied into a record and a batch)."""
    topic = m.topic.encode()
    head = b"".join(
        (
            _HEAD.pack(
                len(topic), m.partition, m.offset, m.timestamp_ms, len(m.key), len(m.value), len(m.headers)
            ),
            topic,
            m.key,
        )
    )
    crc = zlib.crc32(m.value, zlib.crc32(head))
    size = len(head) + len(m.value)
    parts = [b"", head, m.value]
    for name, value in m.headers:
        nb = name.encode()
        hdr = _HDR.pack(len(nb), len(value)) + nb
        crc = zlib.crc32(value, zlib.crc32(hdr, crc))
        size += len(hdr) + len(value)
        parts += (hdr, value)
    parts[0] = _FRAME.pack(size, crc)
    return parts


def _decode(payload: bytes) -> Message:
    tl, partition, offset, ts, kl, vl, nh = _HEAD.unpack_from(payload, 0)
    at = _HEAD.size
    topic = payload[at : at + tl].decode()
    at += tl
    key = payload[at : at + kl]
    at += kl
    value = payload[at : at + vl]
    at += vl
    headers = []
    for _ in range(nh):
        nl, hl = _HDR.unpack_from(payload, at)
        at += _HDR.size
        name = payload[at : at + nl].decode()
        at += nl
        headers.append((name, payload[at : at + hl]))
        at += hl
    return Message(topic, partition, offset, key, value, tuple(headers), ts)


def read_segment(path: Path) -> tuple[list[Message], int, bool]:
    """Messages of a segment, the byte length of its valid prefix, and whether a tail was bad."""
    data = path.read_bytes()
    out: list[Message] = []
    at = 0
    while at + _FRAME.size <= len(data):
        n, crc = _FRAME.unpack_from(data, at)
        start = at + _FRAME.size
        payload = data[start : start + n]
        if len(payload) < n or zlib.crc32(payload) != crc:
            return out, at, True
        try:
            out.append(_decode(payload))
        except (struct.error, UnicodeDecodeError):
            return out, at, True
        at = start + n
    return out, at, at != len(data)


#: pieces per `os.writev` call (POSIX guarantees at least 16; Linux takes 1024)
_IOV_MAX: Final = min(os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024, 1024)


def _write_all(fd: int, parts: list[bytes]) -> int:
    """Write `parts` in order with as few system calls as `writev` allows (no joined copy of a
    batch); returns the bytes written. A short write goes on where it stopped."""
    total = 0
    i = 0
    while i < len(parts):
        chunk = parts[i : i + _IOV_MAX]
        want = sum(len(p) for p in chunk)
        done = os.writev(fd, chunk)
        total += done
        if done < want:  # rare (a signal, a full disk): finish this chunk piece by piece
            view = memoryview(b"".join(chunk))[done:]
            while view:
                n = os.write(fd, view)
                view = view[n:]
            total += want - done
        i += len(chunk)
    return total


@dataclass
class _Segment:
    path: Path
    ranges: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) → max offset
    size: int = 0


@dataclass
class Recovered:
    messages: dict[str, dict[int, list[Message]]]  # topic → partition → messages in offset order
    commits: dict[str, dict[str, dict[int, int]]]  # topic → group → partition → next offset
    partitions: dict[str, int]  # topic → partition count
    ends: dict[str, dict[int, int]]  # topic → partition → end offset seen


class Journal:
    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = False,
        segment_bytes: int = 64 << 20,
        commit_delay_s: float = COMMIT_DELAY_S,
    ) -> None:
        self.dir = Path(directory)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.commit_delay_s = commit_delay_s
        self._commits_dirty = False
        self._commits_written = -math.inf
        self._segments: list[_Segment] = []
        self._fd: int | None = None
        self._commits: dict[str, dict[str, dict[int, int]]] = {}
        self._partitions: dict[str, int] = {}
        self._last_gc = 0.0

    # ------------------------------------------------------------------ recovery
    def recover(self) -> Recovered:
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self._read_json("topics.json")
        self._partitions = {str(k): int(v) for k, v in meta.items()}
        raw_commits = self._read_json("commits.json")
        self._commits = {
            str(t): {str(g): {int(p): int(o) for p, o in ps.items()} for g, ps in gs.items()}
            for t, gs in raw_commits.items()
        }
        messages: dict[str, dict[int, list[Message]]] = {}
        ends: dict[str, dict[int, int]] = {}
        paths = sorted(self.dir.glob(f"*{_SEGMENT_SUFFIX}"), key=lambda p: int(p.stem))
        for i, path in enumerate(paths):
            msgs, valid, torn = read_segment(path)
            if torn:
                if i == len(paths) - 1:
                    log.warning("bus journal: cutting off a torn tail", segment=path.name, at_byte=valid)
                    with open(path, "r+b") as f:
                        f.truncate(valid)
                else:
                    log.error("bus journal: corrupt record inside a closed segment", segment=path.name)
            seg = _Segment(path, size=valid)
            for m in msgs:
                parts = messages.setdefault(m.topic, {}).setdefault(m.partition, [])
                if parts and m.offset <= parts[-1].offset:
                    continue  # a duplicate from a re-journaled message (never written twice today)
                parts.append(m)
                seg.ranges[(m.topic, m.partition)] = m.offset
                e = ends.setdefault(m.topic, {})
                e[m.partition] = max(e.get(m.partition, 0), m.offset + 1)
            self._segments.append(seg)
        for topic, groups in self._commits.items():
            e = ends.setdefault(topic, {})
            for offs in groups.values():
                for p, o in offs.items():
                    e[p] = max(e.get(p, 0), o)
        n = sum(len(ps) for t in messages.values() for ps in t.values())
        if n:
            log.info("bus journal recovered", messages=n, segments=len(paths))
        self._open_new_segment()
        return Recovered(messages, self._commits, dict(self._partitions), ends)

    def _read_json(self, name: str) -> dict[str, Any]:
        path = self.dir / name
        if not path.exists():
            return {}
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            log.error("bus journal: unreadable file ignored", file=name)
            return {}
        return data if isinstance(data, dict) else {}

    def _write_json(self, name: str, data: object) -> None:
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.dir / name)

    # ------------------------------------------------------------------ writing
    def _open_new_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        seq = int(self._segments[-1].path.stem) + 1 if self._segments else 0
        path = self.dir / f"{seq:012d}{_SEGMENT_SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segments.append(_Segment(path))

    def topic_created(self, topic: str, partitions: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._partitions.get(topic) != partitions:
            self._partitions[topic] = partitions
            self._write_json("topics.json", self._partitions)

    def append(self, messages: list[Message]) -> None:
        """Write a published batch; returns once the OS has it (and the disk, with fsync)."""
        if self._fd is None:
            raise RuntimeError("journal is not open (call recover() first)")
        seg = self._segments[-1]
        parts = [p for m in messages for p in _record(m)]
        seg.size += _write_all(self._fd, parts)
        if self.fsync:
            os.fsync(self._fd)
        for m in messages:
            seg.ranges[(m.topic, m.partition)] = m.offset
        if seg.size >= self.segment_bytes:
            self._open_new_segment()

    def commit(self, topic: str, group: str, offsets: dict[int, int], floors: Floors) -> bool:
        """Remember a group's committed offsets, written at once unless `commits.json` was written
        less than `commit_delay_s` ago; now and then delete fully consumed segments. Returns
        whether offsets wait to be written (the caller then calls `flush_commits` after
        `commit_delay_s`)."""
        mine = self._commits.setdefault(topic, {}).setdefault(group, {})
        mine.update(offsets)
        self._commits_dirty = True
        now = time.monotonic()
        if now - self._commits_written >= self.commit_delay_s:
            self.flush_commits()
        if now - self._last_gc >= 1.0:
            self._last_gc = now
            self.gc(floors)
        return self._commits_dirty

    def flush_commits(self) -> None:
        """Write the commits not written yet."""
        if self._commits_dirty:
            self._write_json("commits.json", self._commits)
            self._commits_dirty = False
            self._commits_written = time.monotonic()

    def gc(self, floors: Floors) -> int:
        """Delete closed segments whose every record is below its partition's floor."""
        removed = 0
        for seg in list(self._segments[:-1]):
            if all(off < floors(t, p) for (t, p), off in seg.ranges.items()):
                with contextlib.suppress(FileNotFoundError):
                    seg.path.unlink()
                self._segments.remove(seg)
                removed += 1
        return removed

    def segments(self) -> Iterator[Path]:
        return (s.path for s in self._segments)

    def close(self) -> None:
        self.flush_commits()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
