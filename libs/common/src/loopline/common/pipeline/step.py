"""The step contract, backpressure (`Rejected`, `submit_waiting`), and the two simplest steps.

A step takes batches (`submit`), does its work, and hands its output on to the next step. A step
that cannot take a batch now raises `Rejected`; the caller waits on `room()` and submits again
(`submit_waiting` does both and records the wait in `loopline_pipeline_backpressure_seconds_total`).
`join()` returns when every batch submitted so far went through this step and all after it, and
raises the first failure of any of them; `close()` cancels work still in flight (after a failure).
Steps are built for one pipeline run (one bus batch) and thrown away after it.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from loopline.common.metrics import PIPELINE_BACKPRESSURE_SECONDS, PIPELINE_STEP_SECONDS
from loopline.common.pipeline.batch import Batch

T = TypeVar("T")
U = TypeVar("U")


class Rejected(Exception):
    """The step cannot take this batch now (its bounded hand-off is full): wait on `room()`."""


class Step(abc.ABC, Generic[T]):
    name: str = "step"

    @abc.abstractmethod
    async def submit(self, batch: Batch[T]) -> None:
        """Take `batch`, or raise Rejected. The work may go on in the background until `join`."""

    async def room(self) -> None:
        """Return when a submit that was Rejected may be tried again."""

    @abc.abstractmethod
    async def join(self) -> None:
        """Wait until everything submitted passed through this step and the following ones."""

    async def close(self) -> None:
        """Cancel whatever is still in flight (the run failed)."""


async def submit_waiting(step: Step[T], batch: Batch[T], pipeline: str) -> None:
    """Submit, waiting for room as long as the step rejects; the wait is measured."""
    while True:
        try:
            await step.submit(batch)
            return
        except Rejected:
            t0 = time.perf_counter()
            await step.room()
            PIPELINE_BACKPRESSURE_SECONDS.labels(pipeline, step.name).inc(time.perf_counter() - t0)


class Done(Step[Any]):
    """The end of a chain: drops what it gets (the last real step did the work)."""

    name = "done"

    async def submit(self, batch: Batch[Any]) -> None:
        return None

    async def join(self) -> None:
        return None


class Collect(Step[T]):
    """The end of a chain that keeps every value it gets (tests, and callers that want them)."""

    name = "collect"

    def __init__(self) -> None:
        self.values: list[T] = []

    async def submit(self, batch: Batch[T]) -> None:
        self.values.append(batch.value)

    async def join(self) -> None:
        return None


class RunTask(Step[T], Generic[T, U]):
    """Runs `fn` on each batch and hands its result on. Times `fn` alone per batch
    (`loopline_pipeline_step_seconds{pipeline, step}`); the next step's time is its own."""

    def __init__(
        self, pipeline: str, name: str, fn: Callable[[Batch[T]], Awaitable[U]], next_step: Step[U]
    ) -> None:
        self.pipeline = pipeline
        self.name = name
        self.fn = fn
        self.next = next_step
        self._seconds = PIPELINE_STEP_SECONDS.labels(pipeline, name)

    async def submit(self, batch: Batch[T]) -> None:
        t0 = time.perf_counter()
        out = await self.fn(batch)
        self._seconds.observe(time.perf_counter() - t0)
        await submit_waiting(self.next, batch.with_value(out), self.pipeline)

    async def join(self) -> None:
        await self.next.join()

    async def close(self) -> None:
        await self.next.close()
