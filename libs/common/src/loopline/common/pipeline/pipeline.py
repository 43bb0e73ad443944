"""A consumer as a chain of steps, run once per bus batch; the bus handler is the pipeline itself.

    handler = Pipeline("writer", [decode(rows.CONTRACT), run_task("group", group), ...],
                       dead_letters=sink)
    await bus.subscribe(topic, group, handler, options)

`Pipeline.__call__` builds the chain for the batch, submits the bus batch to its first step,
waits (`join`) until every step is done with everything, then hands the run's `Invalid`
messages to `dead_letters` in one call, and only then returns. The bus commits the batch's
offsets after the handler returns, so durability is the bus's: a step that raises (the store is
down) makes the handler raise, nothing is committed, and the bus redelivers the whole batch.
Every step must therefore be idempotent under redelivery, and so must the dead-letter sink.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from loopline.common.messages.contract import MessageDecodeError, TopicContract
from loopline.common.metrics import DEAD_LETTERS
from loopline.common.pipeline.batch import Batch, Invalid
from loopline.common.pipeline.hand_off import BoundedHandOff
from loopline.common.pipeline.step import Done, RunTask, Step, submit_waiting

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M")

#: builds one step of a chain, given the pipeline's name and the step after it
StepFactory = Callable[[str, Step[Any]], Step[Any]]
DeadLetterSink = Callable[[Sequence[Invalid]], Awaitable[None]]


def run_task(name: str, fn: Callable[[Batch[T]], Awaitable[U]]) -> StepFactory:
    """A step that runs `fn` on each batch and hands the result on (timed per step)."""
    return lambda pipeline, next_step: RunTask(pipeline, name, fn, next_step)


def hand_off(depth: int) -> StepFactory:
    """Run the steps after this point in the background, `depth` batches at most (see hand_off.py)."""
    return lambda pipeline, next_step: BoundedHandOff(pipeline, depth, next_step)


def decode(contract: TopicContract[M], name: str = "decode") -> StepFactory:
    """Bus messages → the topic's messages; what does not decode is Invalid with the reason."""

    async def _decode(batch: Batch[Sequence[Any]]) -> list[M]:
        out: list[M] = []
        read = contract.read
        for m in batch.value:
            try:
                out.append(read(m))
            except MessageDecodeError as exc:
                batch.reject(m, str(exc))
        return out

    return run_task(name, _decode)


class Pipeline(Generic[T]):
    def __init__(
        self, name: str, steps: Sequence[StepFactory], *, dead_letters: DeadLetterSink | None = None
    ) -> None:
        if not steps:
            raise ValueError("a pipeline needs at least one step")
        self.name = name
        self.steps = tuple(steps)
        self.dead_letters = dead_letters
        self._dead_letters_total = DEAD_LETTERS.labels(name)

    def build(self, last: Step[Any] | None = None) -> Step[T]:
        """The chain for one run, ending in `last` (default: `Done`)."""
        step: Step[Any] = last if last is not None else Done()
        for factory in reversed(self.steps):
            step = factory(self.name, step)
        return step

    async def run(self, value: T, last: Step[Any] | None = None) -> list[Invalid]:
        """Put `value` through the chain; returns the run's Invalid messages (not yet sunk)."""
        first = self.build(last)
        invalid: list[Invalid] = []
        try:
            await submit_waiting(first, Batch(value, invalid), self.name)
            await first.join()
        except BaseException:
            await first.close()
            raise
        return invalid

    async def handle(self, value: T, last: Step[Any] | None = None) -> list[Invalid]:
        """`run`, then the run's Invalid messages to the dead-letter sink; returns them."""
        invalid = await self.run(value, last)
        if invalid:
            if self.dead_letters is None:
                raise RuntimeError(f"pipeline {self.name} rejected messages but has no dead-letter sink")
            await self.dead_letters(invalid)
            self._dead_letters_total.inc(len(invalid))
        return invalid

    async def __call__(self, value: T) -> None:
        """The bus handler: returns only after every step and the dead-letter sink are done."""
        await self.handle(value)
