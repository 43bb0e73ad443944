"""Message bus: one interface, two backends (in-process and Apache Kafka)."""

from loopline.common.bus.base import (
    BatchHandler,
    Bus,
    BusError,
    BusUnavailable,
    Consumer,
    ConsumerOptions,
    Message,
    OutMessage,
    TopicSpec,
    partition_for,
    take_next_batch,
)

__all__ = [
    "BatchHandler",
    "Bus",
    "BusError",
    "BusUnavailable",
    "Consumer",
    "ConsumerOptions",
    "Message",
    "OutMessage",
    "TopicSpec",
    "partition_for",
    "take_next_batch",
]
