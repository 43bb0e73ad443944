"""The in-process bus holds no message longer than it must (issue 10, defect 7)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loopline.common.bus import BusUnavailable, ConsumerOptions, Message, OutMessage, TopicSpec
from loopline.common.bus.memory import InProcessBus


async def test_committed_messages_are_released_at_once() -> None:
    bus = InProcessBus(default_partitions=2, capacity=1000)
    await bus.start()
    await bus.ensure_topics([TopicSpec("t", 2)])
    seen: list[Message] = []
    done = asyncio.Event()

    async def handle(batch: list[Message]) -> None:
        seen.extend(batch)
        if len(seen) == 6:
            done.set()

    await bus.subscribe("t", "g", handle, ConsumerOptions(max_batch=100, max_wait_s=0))
    await bus.publish("t", [OutMessage(f"k{i}".encode(), b"x" * 1_000_000) for i in range(6)])
    await asyncio.wait_for(done.wait(), 10)
    for _ in range(100):  # the commit follows the handler's return
        if all(not p.log for p in bus._topics["t"].partitions):
            break
        await asyncio.sleep(0.01)
    parts = bus._topics["t"].partitions
    assert [len(p.log) for p in parts] == [0, 0] and [p.nbytes for p in parts] == [0, 0]
    assert sum(p.end for p in parts) == 6  # offsets go on where they were
    await bus.stop()


async def test_a_topic_nobody_consumes_keeps_at_most_retain_bytes(tmp_path: Path) -> None:
    bus = InProcessBus(default_partitions=1, capacity=10_000, retain_bytes=10_000, journal_dir=tmp_path)
    await bus.start()
    for i in range(50):
        await bus.publish("dlq", [OutMessage(b"k", bytes([i]) * 1_000)])
    part = bus._topics["dlq"].partitions[0]
    assert part.nbytes <= 10_000 and part.nbytes == sum(len(m.value) for m in part.log)
    assert part.end == 50 and [m.value[0] for m in part.log] == list(range(50 - len(part.log), 50))
    await bus.stop()


async def test_the_byte_bound_is_off_at_zero() -> None:
    bus = InProcessBus(default_partitions=1, capacity=10_000, retain_bytes=0)
    await bus.start()
    for _ in range(20):
        await bus.publish("dlq", [OutMessage(b"k", b"y" * 1_000)])
    assert len(bus._topics["dlq"].partitions[0].log) == 20
    await bus.stop()


async def test_publish_waits_while_a_partition_holds_capacity_bytes() -> None:
    bus = InProcessBus(default_partitions=1, capacity=1000, capacity_bytes=10_000)
    await bus.start()
    await bus.ensure_topics([TopicSpec("rows", 1)])
    gate = asyncio.Event()
    seen: list[Message] = []

    async def handle(batch: list[Message]) -> None:
        await gate.wait()
        seen.extend(batch)

    await bus.subscribe("rows", "writer", handle, ConsumerOptions(max_batch=100, max_wait_s=0))
    await bus.publish("rows", [OutMessage(b"k", b"a" * 6_000)])  # an empty partition takes any size
    try:
        await bus.publish("rows", [OutMessage(b"k", b"b" * 6_000)], timeout_s=0.3)
        raise AssertionError("publish past the byte bound did not wait")
    except BusUnavailable:
        pass
    blocked = asyncio.create_task(bus.publish("rows", [OutMessage(b"k", b"c" * 6_000)], timeout_s=30))
    await asyncio.sleep(0.1)
    assert not blocked.done()
    gate.set()  # the consumer commits: room again
    await asyncio.wait_for(blocked, 30)
    for _ in range(200):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert [m.value[:1] for m in seen] == [b"a", b"c"]
    await bus.stop()


async def test_small_values_are_held_right_sized() -> None:
    import tracemalloc

    import orjson

    bus = InProcessBus(default_partitions=1, capacity=100_000, retain_bytes=0)
    await bus.start()
    expected = [orjson.dumps({"ids": [f"id-{i}"] * 3, "n": i}) for i in range(2000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        values = [orjson.dumps({"ids": [f"id-{i}"] * 3, "n": i}) for i in range(2000)]  # 4 KiB each
        await bus.publish("notices", [OutMessage(b"k", v) for v in values])
        del values
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 2000 * 1024, held  # the values' own size and the messages, not 2000 x 4 KiB
    assert [m.value for m in bus._topics["notices"].partitions[0].log] == expected
    await bus.stop()


async def test_a_batch_stops_growing_once_it_reaches_max_batch_bytes() -> None:
    bus = InProcessBus(default_partitions=2, capacity=1000)
    await bus.start()
    await bus.ensure_topics([TopicSpec("t", 2)])
    sizes = [300, 300, 300, 2000, 300, 300, 300, 300]
    await bus.publish("t", [OutMessage(f"k{i}".encode(), b"x" * n) for i, n in enumerate(sizes)])
    batches: list[list[int]] = []
    done = asyncio.Event()

    async def handle(batch: list[Message]) -> None:
        batches.append([len(m.value) for m in batch])
        if sum(len(b) for b in batches) == len(sizes):
            done.set()

    await bus.subscribe("t", "g", handle, ConsumerOptions(max_batch=100, max_batch_bytes=1000, max_wait_s=0))
    await asyncio.wait_for(done.wait(), 10)
    assert sorted(n for b in batches for n in b) == sorted(sizes)  # every message, once
    assert len(batches) > 1
    for b in batches:  # a batch ends with the message that reached the bound
        assert sum(b[:-1]) < 1000
    await bus.stop()
