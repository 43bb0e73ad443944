"""A bus view whose topics and consumer groups carry a prefix (isolates tenants of one cluster,
or test runs sharing a broker)."""

from __future__ import annotations

from collections.abc import Sequence

from loopline.common.bus.base import (
    BatchHandler,
    Bus,
    Consumer,
    ConsumerOptions,
    Message,
    OutMessage,
    TopicSpec,
)


class PrefixedBus(Bus):
    def __init__(self, inner: Bus, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def _t(self, topic: str) -> str:
        return self.prefix + topic

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        await self.inner.ensure_topics([TopicSpec(self._t(t.name), t.partitions, t.config) for t in topics])

    async def publish(self, topic: str, messages: Sequence[OutMessage], timeout_s: float = 10.0) -> None:
        await self.inner.publish(self._t(topic), messages, timeout_s)

    async def subscribe(
        self, topic: str, group: str, handler: BatchHandler, options: ConsumerOptions | None = None
    ) -> Consumer:
        prefix_len = len(self.prefix)

        async def unprefixed(batch: list[Message]) -> None:
            await handler(
                [
                    Message(
                        m.topic[prefix_len:], m.partition, m.offset, m.key, m.value, m.headers, m.timestamp_ms
                    )
                    for m in batch
                ]
            )

        return await self.inner.subscribe(self._t(topic), self.prefix + group, unprefixed, options)

    async def healthy(self) -> bool:
        return await self.inner.healthy()

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return await self.inner.end_offsets(self._t(topic))

    async def committed_offsets(self, topic: str, group: str) -> dict[int, int]:
        return await self.inner.committed_offsets(self._t(topic), self.prefix + group)
