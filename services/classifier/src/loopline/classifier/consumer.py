"""The running consumer of `loopline.rows.committed` (pipeline.py's steps), as a worker that can be
stopped and started again (a stopped classifier leaves its group's offsets where they were: the
committed notices wait on the bus, its lag grows, and it resumes from there) and reports its lag."""

from __future__ import annotations

from loopline.classifier.pipeline import GROUP, LabelTraces, build_pipeline
from loopline.classifier.settings import ClassifierSettings
from loopline.common.bus import Bus, Consumer, ConsumerOptions
from loopline.common.messages import committed


class LabelConsumer:
    def __init__(self, bus: Bus, step: LabelTraces, settings: ClassifierSettings) -> None:
        self.bus = bus
        self.step = step
        self.options = ConsumerOptions(max_batch=settings.batch_size, max_wait_s=settings.batch_wait_s)
        self._consumer: Consumer | None = None

    @property
    def running(self) -> bool:
        return self._consumer is not None

    async def start(self) -> None:
        if self._consumer is None:
            self._consumer = await self.bus.subscribe(
                committed.TOPIC, GROUP, build_pipeline(self.step), self.options
            )

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def lag(self) -> int | None:
        """Committed notices not yet handled by the classifier group (None: the bus cannot say)."""
        try:
            ends = await self.bus.end_offsets(committed.TOPIC)
            done = await self.bus.committed_offsets(committed.TOPIC, GROUP)
        except Exception:
            return None
        return sum(max(end - done.get(p, 0), 0) for p, end in ends.items())
