"""The bounded hand-off alone: at most `depth` batches in flight, Rejected beyond, failures raised."""

from __future__ import annotations

import asyncio

import pytest
from loopline.common.pipeline import Batch, BoundedHandOff, Collect, Rejected, Step


class _Gate(Step[int]):
    """A slow next step: each batch waits until the test opens its gate."""

    name = "gate"

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.started: list[int] = []
        self.done: list[int] = []

    async def submit(self, batch: Batch[int]) -> None:
        self.started.append(batch.value)
        gate = self.gates.setdefault(batch.value, asyncio.Event())
        await gate.wait()
        if batch.value < 0:
            raise ValueError(f"bad batch {batch.value}")
        self.done.append(batch.value)

    def open(self, value: int) -> None:
        self.gates.setdefault(value, asyncio.Event()).set()

    async def join(self) -> None:
        return None


async def test_two_deep_overlaps_and_then_rejects() -> None:
    gate = _Gate()
    h = BoundedHandOff("t-ho", 2, gate)
    await h.submit(Batch(1, []))
    await h.submit(Batch(2, []))  # returns at once: the hand-off runs them in the background
    await asyncio.sleep(0)
    assert gate.started == [1, 2] and gate.done == []
    with pytest.raises(Rejected):
        await h.submit(Batch(3, []))
    gate.open(2)
    await h.room()  # one slot free
    await h.submit(Batch(3, []))
    gate.open(1)
    gate.open(3)
    await h.join()
    assert sorted(gate.done) == [1, 2, 3]


async def test_a_failure_in_flight_is_raised_by_join() -> None:
    gate = _Gate()
    h = BoundedHandOff("t-ho", 2, gate)
    await h.submit(Batch(-1, []))
    gate.open(-1)
    with pytest.raises(ValueError, match="bad batch -1"):
        await h.join()


async def test_close_cancels_what_is_in_flight() -> None:
    gate = _Gate()
    h = BoundedHandOff("t-ho", 1, gate)
    await h.submit(Batch(5, []))
    await asyncio.sleep(0)
    await h.close()
    assert gate.done == []


async def test_depth_one_is_sequential_in_order() -> None:
    end: Collect[int] = Collect()
    h = BoundedHandOff("t-ho", 1, end)
    for i in range(3):
        while True:
            try:
                await h.submit(Batch(i, []))
                break
            except Rejected:
                await h.room()
    await h.join()
    assert end.values == [0, 1, 2]
