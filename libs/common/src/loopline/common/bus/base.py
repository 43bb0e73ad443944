"""The bus interface: keyed, batched publish; consumer groups with batch handlers.

Delivery is at-least-once: a consumer commits a batch's offsets only after its handler
returned without raising. A handler that raises gets the same messages again (after a
backoff); a consumer that dies before committing leaves them to the next group member.
Messages with the same key land in the same partition and are handled in publish order.
"""

from __future__ import annotations

import abc
import zlib
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field


class BusError(Exception):
    """Base class of bus failures."""


class BusUnavailable(BusError):
    """The bus could not accept (or acknowledge) a publish in time. Nothing may be assumed sent."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message as a consumer sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class OutMessage:
    """One message to publish."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


BatchHandler = Callable[[list[Message]], Awaitable[None]]

#: Set by a consumer around its handler call when it can tell the handler its next batch.
NEXT_BATCH: ContextVar[Callable[[int], list[Message] | None] | None] = ContextVar(
    "bus_next_batch", default=None
)


def take_next_batch(min_messages: int = 1) -> list[Message] | None:
    """Inside a bus handler: the batch it will be handed next, when its consumer can tell (the
    in-process bus can; Kafka's consumer cannot: None) and it already holds `min_messages` or
    more. Taking it fixes the next batch: the consumer hands exactly these messages next, unless
    the batch in hand fails or its partitions move (then it fetches again from its commits, and
    the handler gets the messages it then reads). Nothing of the next batch is committed before
    its own handler returns; the handler may only start work that depends on the messages alone
    (the writer has its worker process prepare the next batch while it inserts this one)."""
    take = NEXT_BATCH.get()
    return take(min_messages) if take is not None else None


@dataclass(slots=True)
class ConsumerOptions:
    """How a consumer fetches and retries."""

    max_batch: int = 1000
    #: a batch stops growing once its values reach this many bytes (0: no bound; a first
    #: message bigger than that still comes alone)
    max_batch_bytes: int = 0
    max_wait_s: float = 0.05
    retry_backoff_s: float = 0.2
    retry_backoff_max_s: float = 5.0
    # When true, consumption starts at the earliest retained offset for a group with no commit.
    from_beginning: bool = True
    # Kafka: the longest a handler may run before the member is deemed stuck and its partitions
    # move (None: the client's default, 5 minutes). Long-running handlers (eval jobs) raise it;
    # a member that dies is still noticed by its missing heartbeats within the session timeout.
    max_poll_interval_s: float | None = None


@dataclass(slots=True)
class TopicSpec:
    name: str
    partitions: int = 8
    config: dict[str, str] = field(default_factory=dict)


def partition_for(key: bytes, partitions: int) -> int:
    """Stable key → partition mapping used by the in-process backend (Kafka uses murmur2)."""
    return zlib.crc32(key) % partitions


class Consumer(abc.ABC):
    """A running group member. `stop()` finishes the batch in hand, commits it, and leaves."""

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @property
    @abc.abstractmethod
    def lag(self) -> int:
        """Messages published but not yet committed for this consumer's assigned partitions."""


class Bus(abc.ABC):
    """A message bus backend (in-process or Apache Kafka)."""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        """Create topics that do not exist yet (idempotent)."""

    @abc.abstractmethod
    async def publish(self, topic: str, messages: Sequence[OutMessage], timeout_s: float = 10.0) -> None:
        """Publish and wait until every message is acknowledged (acks=all for Kafka).

        Raises BusUnavailable if that did not happen within `timeout_s`; then the caller must
        assume none of them was delivered (some may have been: consumers are idempotent).
        """

    @abc.abstractmethod
    async def subscribe(
        self,
        topic: str,
        group: str,
        handler: BatchHandler,
        options: ConsumerOptions | None = None,
    ) -> Consumer:
        """Join `group` on `topic` and start handling batches in the background."""

    @abc.abstractmethod
    async def healthy(self) -> bool:
        """True when the bus is reachable (for /readyz)."""

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Partition → offset one past the last acknowledged message."""
        raise NotImplementedError

    async def committed_offsets(self, topic: str, group: str) -> dict[int, int]:
        """Partition → the group's committed offset (0 / absent when none)."""
        raise NotImplementedError

    async def wait_caught_up(
        self, topic: str, group: str, targets: dict[int, int], timeout_s: float, poll_s: float = 0.01
    ) -> bool:
        """Wait until `group` committed at least `targets` on every partition (read-your-writes)."""
        import asyncio
        import time

        deadline = time.monotonic() + timeout_s
        delay = poll_s
        while True:
            committed = await self.committed_offsets(topic, group)
            if all(committed.get(p, 0) >= off for p, off in targets.items() if off > 0):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
