"""`take_next_batch`: a handler of the in-process bus may take its next batch while it handles
one; the member then hands exactly that batch next, and commits each batch only after its own
handler returned, in order. A failed batch or a rebalance drops the taken batch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from loopline.common.bus import ConsumerOptions, Message, OutMessage, TopicSpec, take_next_batch
from loopline.common.bus.memory import InProcessBus

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["memory", "memory-journal"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProcessBus]:
    b = InProcessBus(journal_dir=tmp_path / "bus" if request.param == "memory-journal" else None)
    await b.start()
    await b.ensure_topics([TopicSpec("t", 1)])
    yield b
    await b.stop()


def _out(lo: int, hi: int) -> list[OutMessage]:
    return [OutMessage(b"k", str(i).encode()) for i in range(lo, hi)]


def _offsets(batch: list[Message] | None) -> list[int]:
    return [m.offset for m in batch or []]


async def _until(cond: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_the_taken_batch_comes_next_and_each_commits_after_its_handler(bus: InProcessBus) -> None:
    await bus.publish("t", _out(0, 15))
    delivered: list[list[int]] = []
    taken: list[list[int]] = []
    committed_at_start: list[int] = []

    async def handler(batch: list[Message]) -> None:
        committed_at_start.append((await bus.committed_offsets("t", "g")).get(0, 0))
        delivered.append(_offsets(batch))
        taken.append(_offsets(take_next_batch()))
        assert _offsets(take_next_batch()) == taken[-1]  # taking again gives the same batch
        if len(delivered) == 1:
            await bus.publish("t", _out(15, 40))  # after the take: not in the taken batch

    await bus.subscribe("t", "g", handler, ConsumerOptions(max_batch=10))
    await _until(lambda: (bus._topics["t"].groups["g"].committed.get(0, 0)) == 40)
    assert delivered == [
        [*range(0, 10)],
        [*range(10, 15)],
        [*range(15, 25)],
        [*range(25, 35)],
        [*range(35, 40)],
    ]
    assert taken == [*delivered[1:], []]
    # a batch's handler starts only once the batch before it is committed
    assert committed_at_start == [0, 10, 15, 25, 35]


async def test_a_taken_batch_smaller_than_asked_is_not_taken(bus: InProcessBus) -> None:
    await bus.publish("t", _out(0, 12))
    delivered: list[list[int]] = []

    async def handler(batch: list[Message]) -> None:
        delivered.append(_offsets(batch))
        if len(delivered) == 1:
            assert take_next_batch(5) is None  # two messages wait: not enough
            await bus.publish("t", _out(12, 20))

    await bus.subscribe("t", "g", handler, ConsumerOptions(max_batch=10))
    await _until(lambda: bus._topics["t"].groups["g"].committed.get(0, 0) == 20)
    assert delivered == [list(range(0, 10)), list(range(10, 20))]  # fetched afresh, fuller


async def test_outside_a_handler_there_is_no_next_batch(bus: InProcessBus) -> None:
    await bus.publish("t", _out(0, 5))
    assert take_next_batch() is None


async def test_a_failed_batch_drops_the_taken_one_and_commits_nothing_past_itself(
    bus: InProcessBus,
) -> None:
    await bus.publish("t", _out(0, 30))
    delivered: list[list[int]] = []
    committed_at_start: list[int] = []

    async def handler(batch: list[Message]) -> None:
        committed_at_start.append((await bus.committed_offsets("t", "g")).get(0, 0))
        delivered.append(_offsets(batch))
        assert take_next_batch() is not None or batch[-1].offset == 29
        if len(delivered) == 2:  # the second batch fails once, after it took the third
            raise RuntimeError("insert failed")

    await bus.subscribe("t", "g", handler, ConsumerOptions(max_batch=10, retry_backoff_s=0.01))
    await _until(lambda: bus._topics["t"].groups["g"].committed.get(0, 0) == 30)
    assert delivered == [list(range(0, 10)), list(range(10, 20)), list(range(10, 20)), list(range(20, 30))]
    assert committed_at_start == [0, 10, 10, 20]


async def test_a_rebalance_drops_the_taken_batch(bus: InProcessBus) -> None:
    await bus.publish("t", _out(0, 30))
    delivered: list[list[int]] = []
    others: list[object] = []

    async def idle(batch: list[Message]) -> None:
        raise AssertionError("the second member has no partition")

    async def handler(batch: list[Message]) -> None:
        delivered.append(_offsets(batch))
        nxt = take_next_batch()
        if not others:
            assert _offsets(nxt) == [*range(10, 20)]
            others.append(await bus.subscribe("t", "g", idle, ConsumerOptions(max_batch=10)))
            assert take_next_batch() == nxt  # taken already; the member drops it after the rebalance

    await bus.subscribe("t", "g", handler, ConsumerOptions(max_batch=10))
    await _until(lambda: bus._topics["t"].groups["g"].committed.get(0, 0) == 30)
    # the batch in hand during the rebalance is not committed: delivered again from the commit
    assert delivered == [[*range(0, 10)], [*range(0, 10)], [*range(10, 20)], [*range(20, 30)]]
