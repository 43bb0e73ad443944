"""A bounded hand-off: the next step runs in the background, at most `depth` batches at once.

It lets a step start on its next batch while the steps after it still work on the previous one
(e.g. merge batch n+1 while batch n is being inserted), the way Snuba runs its ClickHouse writes
two at a time. When `depth` batches are in flight it rejects (`Rejected`): the step before waits
for one to finish, and that wait is the backpressure metric. Order between batches in flight is
not kept: use it only where the steps after it do not care (writes carrying their own versions).
A failure of any batch in flight is raised by the next `submit`, `room` or `join`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Generic, TypeVar

from loopline.common.pipeline.batch import Batch
from loopline.common.pipeline.step import Rejected, Step, submit_waiting

T = TypeVar("T")


class BoundedHandOff(Step[T], Generic[T]):
    def __init__(self, pipeline: str, depth: int, next_step: Step[T]) -> None:
        if depth < 1:
            raise ValueError("a hand-off needs a depth of at least 1")
        self.pipeline = pipeline
        self.depth = depth
        self.next = next_step
        self.name = next_step.name  # backpressure is reported as waiting for the next step
        self._in_flight: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None and self._error is None:
            self._error = task.exception()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    async def submit(self, batch: Batch[T]) -> None:
        self._raise_failure()
        if len(self._in_flight) >= self.depth:
            raise Rejected(f"{self.depth} batches in flight to {self.next.name}")
        task = asyncio.create_task(submit_waiting(self.next, batch, self.pipeline))
        self._in_flight.add(task)
        task.add_done_callback(self._reap)

    async def room(self) -> None:
        if self._in_flight:
            done, _ = await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self._reap(task)  # now, not when the loop runs the done callbacks
        self._raise_failure()

    async def join(self) -> None:
        while self._in_flight:
            done, _ = await asyncio.wait(set(self._in_flight))
            for task in done:
                self._reap(task)
        self._raise_failure()
        await self.next.join()

    async def close(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        for task in list(self._in_flight):
            with contextlib.suppress(BaseException):
                await task
        await self.next.close()
