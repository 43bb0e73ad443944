"""The journaled in-process bus: what a crash leaves on disk comes back, and nothing more."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from loopline.common.bus import ConsumerOptions, Message, OutMessage, TopicSpec
from loopline.common.bus.journal import Journal, encode, read_segment
from loopline.common.bus.memory import InProcessBus

pytestmark = pytest.mark.timeout(60)


def out(n: int, start: int = 0) -> list[OutMessage]:
    return [
        OutMessage(f"k{i % 5}".encode(), f"v{i}".encode(), (("h", b"x"),)) for i in range(start, start + n)
    ]


def logs(d: Path) -> list[Path]:
    return list(d.glob("*.log"))


def append_bytes(path: Path, data: bytes) -> int:
    with open(path, "ab") as f:
        f.write(data)
    return os.path.getsize(path)


async def until(cond: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def started(d: Path, **kw: object) -> InProcessBus:
    bus = InProcessBus(default_partitions=3, journal_dir=d, **kw)  # type: ignore[arg-type]
    await bus.start()
    await bus.ensure_topics([TopicSpec("t", 3)])
    return bus


async def test_crash_keeps_uncommitted_and_resumes_at_commit(tmp_path: Path) -> None:
    bus = await started(tmp_path)
    seen: list[bytes] = []
    gate = asyncio.Event()

    async def handler(batch: list[Message]) -> None:
        if len(seen) >= 40:
            await gate.wait()  # stuck mid-way: nothing after the first 40 gets committed
        seen.extend(m.value for m in batch)

    await bus.subscribe("t", "g", handler, ConsumerOptions(max_batch=10, max_wait_s=0))
    await bus.publish("t", out(100))
    await until(lambda: len(seen) >= 40)
    assert bus.journal is not None
    await asyncio.sleep(2 * bus.journal.commit_delay_s)  # the last commits reach commits.json
    committed_before = {p: o for p, o in bus._topics["t"].groups["g"].committed.items()}
    # the process "dies": no stop(), no drain; a new bus opens the same directory
    bus2 = await started(tmp_path)
    again: list[bytes] = []

    async def handler2(batch: list[Message]) -> None:
        again.extend(m.value for m in batch)

    await bus2.subscribe("t", "g", handler2, ConsumerOptions(max_batch=10, max_wait_s=0))
    await until(lambda: len(set(seen[:40]) | set(again)) >= 100)
    assert set(seen[:40]) | set(again) == {f"v{i}".encode() for i in range(100)}
    # what was committed is not delivered again; only what was handled but not committed may be
    g2 = bus2._topics["t"].groups["g"]
    assert all(g2.committed[p] >= committed_before.get(p, 0) for p in range(3))
    assert len(again) <= 100 - sum(committed_before.values()) + 10
    # offsets continue after the recovered ones, headers and keys survive
    await bus2.publish("t", out(1, start=100))
    await until(lambda: b"v100" in again)
    ends = await bus2.end_offsets("t")
    assert sum(ends.values()) == 101
    gate.set()
    await bus2.stop()


async def test_torn_tail_is_cut_off(tmp_path: Path) -> None:
    bus = await started(tmp_path)
    await bus.publish("t", out(10))
    assert bus.journal is not None
    seg = list(bus.journal.segments())[-1]
    # a kill in the middle of a write: half a record at the end
    half = encode(Message("t", 0, 99, b"k", b"x" * 100))[:50]
    size_before = append_bytes(seg, half)
    bus2 = InProcessBus(default_partitions=3, journal_dir=tmp_path)
    await bus2.start()
    assert append_bytes(seg, b"") == size_before - len(half)
    got: list[bytes] = []

    async def handler(batch: list[Message]) -> None:
        got.extend(m.value for m in batch)

    await bus2.subscribe("t", "g", handler, ConsumerOptions(max_wait_s=0))
    await until(lambda: len(got) == 10)
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(10))
    await bus2.stop()


def test_corrupt_record_detected_by_checksum(tmp_path: Path) -> None:
    path = tmp_path / "000000000000.log"
    good = encode(Message("t", 1, 5, b"k", b"value", (("a", b"b"),), 7))
    bad = bytearray(encode(Message("t", 1, 6, b"k", b"value")))
    bad[-1] ^= 0xFF
    path.write_bytes(good + bytes(bad))
    msgs, valid, torn = read_segment(path)
    assert [m.offset for m in msgs] == [5] and valid == len(good) and torn
    assert msgs[0] == Message("t", 1, 5, b"k", b"value", (("a", b"b"),), 7)


async def test_consumed_segments_are_deleted(tmp_path: Path) -> None:
    bus = InProcessBus(default_partitions=2, journal_dir=tmp_path)
    bus.journal = Journal(tmp_path, segment_bytes=2_000)  # tiny segments
    await bus.start()
    await bus.ensure_topics([TopicSpec("t", 2)])
    n = 0

    async def handler(batch: list[Message]) -> None:
        nonlocal n
        n += len(batch)

    await bus.subscribe("t", "g", handler, ConsumerOptions(max_wait_s=0))
    for i in range(20):
        await bus.publish("t", out(20, start=i * 20))
    await until(lambda: n == 400)
    assert max(int(p.stem) for p in logs(tmp_path)) >= 5  # it rotated through many segments
    await bus.stop()  # a final cleanup on stop
    assert len(logs(tmp_path)) <= 2
    # nothing is lost by cleanup: a restart has nothing to redeliver, and new publishes flow
    bus2 = await started(tmp_path)
    assert sum(len(p.log) for p in bus2._topics["t"].partitions) == 0
    assert sum((await bus2.end_offsets("t")).values()) == 400
    await bus2.stop()


async def test_fsync_mode_and_url(tmp_path: Path) -> None:
    from loopline.common.bus.factory import bus_from_url

    bus = bus_from_url(f"memory://?journal={tmp_path}&fsync=1")
    assert isinstance(bus, InProcessBus) and bus.journal is not None and bus.journal.fsync
    await bus.start()
    await bus.publish("t", out(3))
    await bus.stop()
    with pytest.raises(ValueError, match="unknown option"):
        bus_from_url("memory://?jornal=/x")
