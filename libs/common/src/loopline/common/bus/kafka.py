"""Apache Kafka bus backend: confluent-kafka (librdkafka) producer and consumers; aiokafka for
the admin client and offset reads.

Producer: idempotent, `acks=all`, keys hashed to partitions by Kafka's default partitioner, so
one key → one partition → per-key order. `publish` returns only when every message was
acknowledged and raises BusUnavailable otherwise (nothing is reported sent that was not).

Consumer: a group member with manual commits. It fetches a batch (in a thread of its own, off the
event loop), calls the handler, and commits exactly the batch's next offsets only after the
handler returned. A failing handler seeks back
to the batch start and gets the same messages after a backoff. On a rebalance the commit of a
partition this member lost fails and is dropped: the new owner resumes from the last committed
offset (at-least-once; consumers are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AIOTopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import KafkaException, Producer, TopicPartition
from loopline.common.bus.base import (
    BatchHandler,
    Bus,
    BusUnavailable,
    Consumer,
    ConsumerOptions,
    Message,
    OutMessage,
    TopicSpec,
)
from loopline.common.logging import get_logger
from loopline.common.metrics import timed_publish, track_consumer, untrack_consumer
from loopline.common.os_threads import naming

log = get_logger(__name__)

_T = TypeVar("_T")
#: a member takes at most this many messages from librdkafka's queue per call (see `_fetch`)
FETCH_CHUNK = 1000


class _AsyncProducer:
    """confluent-kafka (librdkafka) producer for asyncio: ~3x aiokafka's throughput here.

    A thread polls for delivery reports; each `send_all` resolves when every one of its
    messages was acknowledged (acks=all), or fails on the first delivery error.
    """

    def __init__(self, conf: dict[str, Any]) -> None:
        self._p = Producer(conf)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-producer-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._p.poll(0.05)

    async def send_all(self, topic: str, messages: Sequence[OutMessage]) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        state = {"left": len(messages)}
        lock = threading.Lock()

        def settle(err: Any) -> None:
            if fut.done():
                return
            if err is not None:
                fut.set_exception(KafkaException(err))
            else:
                fut.set_result(None)

        def on_delivery(err: Any, _msg: Any) -> None:  # runs in the poll thread
            with lock:
                state["left"] -= 1
                left = state["left"]
            if err is not None or left == 0:
                loop.call_soon_threadsafe(settle, err)

        for m in messages:
            while True:
                try:
                    self._p.produce(
                        topic, m.value, key=m.key, headers=list(m.headers) or None, on_delivery=on_delivery
                    )
                    break
                except BufferError:  # local queue full: back-pressure
                    await asyncio.sleep(0.005)
        await fut

    async def close(self) -> None:
        await asyncio.to_thread(self._p.flush, 10)
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 5)


class _KafkaConsumer(Consumer):
    """A group member: a librdkafka consumer whose every call runs in one thread of its own.

    librdkafka fetches, checks and queues records in its own threads (no GIL); the member's thread
    takes a batch from that queue and builds its `Message`s, so the event loop does no work per
    record (aiokafka read, decoded and unpacked every record on the loop: 12-18 us per 3.8 KB
    message of loop CPU, measured in a consume-only run). Rebalance callbacks run inside
    `consume`, so in that thread too, and only between batches: a batch's partitions stay this
    member's while its handler runs (as with a Java consumer), unless the member is deemed dead.
    """

    def __init__(
        self, bus: KafkaBus, topic: str, group: str, handler: BatchHandler, options: ConsumerOptions
    ) -> None:
        self.bus = bus
        self.topic = topic
        self.group = group
        self.handler = handler
        self.options = options
        self.generation = 0
        self._stopping = False
        self._closed = False
        self._left = False
        self._task: asyncio.Task[None] | None = None
        self._committed: dict[int, int] = {}
        self._assigned: set[int] = set()
        #: partition → its high watermark as of the last fetch (`lag`)
        self._highwater: dict[int, int] = {}
        #: fetched in order but beyond the last batch's bounds (count or bytes): the next batch's
        #: head; a revoked partition's messages are dropped from it (its new owner redelivers)
        self._pending: list[Message] = []
        #: every call on the librdkafka handle, in order, from this one thread
        self._io = ThreadPoolExecutor(
            1, thread_name_prefix="kafka-member", initializer=naming("ll-kafka-member")
        )
        # (librdkafka wants a fetch of at least `message.max.bytes`, 1 MB; the batch bound itself
        # is applied by `_fetch`)
        fetch_max = max(options.max_batch_bytes, 1 << 20) if options.max_batch_bytes else 64 << 20
        conf: dict[str, Any] = {
            "bootstrap.servers": bus.bootstrap,
            "client.id": f"{bus.client_id}-{group}",
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if options.from_beginning else "latest",
            "fetch.wait.max.ms": max(int(options.max_wait_s * 1000), 1),
            "fetch.max.bytes": fetch_max,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "receive.message.max.bytes": max(100_000_000, fetch_max + (1 << 20)),
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "retry.backoff.ms": 200,
            # a full prefetch queue postpones the next fetch by this much (librdkafka: 1 s, which
            # left the queue empty for most of that second while the handler drained it)
            "fetch.queue.backoff.ms": 10,
        }
        if options.max_poll_interval_s:
            conf["max.poll.interval.ms"] = int(options.max_poll_interval_s * 1000)
        self.consumer = KafkaConsumer(conf)

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    async def start(self) -> None:
        await self._call(
            functools.partial(
                self.consumer.subscribe,
                [self.topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
        )
        self._task = asyncio.create_task(self._run(), name=f"kafka-consumer-{self.group}")

    # -- in the member's thread ----------------------------------------------------------------

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.generation += 1
        self._assigned.update(tp.partition for tp in partitions)

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self.generation += 1
        gone = {tp.partition for tp in partitions}
        self._assigned -= gone
        for p in gone:
            self._highwater.pop(p, None)
        if gone and self._pending:
            self._pending = [m for m in self._pending if m.partition not in gone]

    def _fetch(self) -> list[Message]:
        """The next batch: what was left over, else the first message to arrive (waiting up to
        4 `max_wait_s`), then whatever else librdkafka has queued already, up to `max_batch`
        messages and (once reached) `max_batch_bytes` of values: as the in-process bus, it
        takes what is there and does not linger to fill a batch."""
        opts = self.options
        limit = opts.max_batch_bytes or float("inf")
        topic = self.topic
        size = sum(len(m.value) for m in self._pending)
        wait = 0.0 if self._pending else max(opts.max_wait_s, 0.01) * 4
        while True:
            want = min(opts.max_batch - len(self._pending), FETCH_CHUNK)
            if want <= 0 or size >= limit:
                break
            generation = self.generation
            got = self.consumer.consume(1 if wait else want, wait)
            pending = self._pending  # (a rebalance callback run by `consume` may have replaced it)
            for r in got:
                err = r.error()
                if err is not None:
                    if err.fatal():
                        raise KafkaException(err)
                    log.warning("kafka consumer error; retrying", topic=topic, error=str(err))
                    continue
                value = r.value() or b""
                size += len(value)
                headers = r.headers()
                # (a record, not an error: its partition and offset are set; the producers here
                # write headers as (str, bytes) pairs, which consume hands back as a list)
                pending.append(
                    Message(
                        topic,
                        r.partition(),  # type: ignore[arg-type]
                        r.offset(),  # type: ignore[arg-type]
                        r.key() or b"",
                        value,
                        tuple(headers) if headers else (),  # type: ignore[arg-type]
                        r.timestamp()[1],
                    )
                )
            if generation != self.generation:  # only partitions this member still has
                assigned = self._assigned
                self._pending = [m for m in pending if m.partition in assigned]
                size = sum(len(m.value) for m in self._pending)
            if not got or (not wait and len(got) < want):
                break  # nothing came in time, or the queue is drained
            wait = 0.0
        for p in self._assigned:
            with contextlib.suppress(KafkaException):
                marks = self.consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                if marks and marks[1] >= 0:
                    self._highwater[p] = marks[1]
        pending = self._pending
        n = min(len(pending), opts.max_batch)
        if opts.max_batch_bytes:
            size = 0
            for i in range(n):
                size += len(pending[i].value)
                if size >= opts.max_batch_bytes:
                    n = i + 1
                    break
        batch, self._pending = pending[:n], pending[n:]
        return batch

    def _seek_back(self, starts: dict[int, int]) -> None:
        """After a failed batch: every partition back to its first unhandled message; what was
        fetched beyond the batch is dropped (it comes again after the seek)."""
        for m in self._pending:
            starts.setdefault(m.partition, m.offset)
        self._pending = []
        for p, off in starts.items():
            if p in self._assigned:
                try:
                    self.consumer.seek(TopicPartition(self.topic, p, off))
                except KafkaException as exc:
                    log.warning("kafka seek failed", topic=self.topic, partition=p, error=repr(exc))

    def _commit(self, ends: dict[int, int], generation: int) -> None:
        offsets = [TopicPartition(self.topic, p, off) for p, off in ends.items() if p in self._assigned]
        if generation != self.generation or not offsets:
            return  # partitions moved while handling: the new owner redelivers from its commit
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("kafka commit failed (rebalance?); messages will be redelivered", error=repr(exc))
            return
        self._committed.update(ends)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pending = []
            self._highwater = {}
            self.consumer.close()

    # -- on the event loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.options.retry_backoff_s
        while not self._stopping:
            try:
                batch = await self._call(self._fetch)
            except KafkaException as exc:
                log.warning("kafka fetch failed; retrying", topic=self.topic, error=repr(exc))
                await asyncio.sleep(backoff)
                continue
            if not batch:
                continue
            generation = self.generation
            starts: dict[int, int] = {}
            ends: dict[int, int] = {}
            for m in batch:
                starts.setdefault(m.partition, m.offset)
                ends[m.partition] = m.offset + 1
            try:
                await self.handler(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "bus handler failed; redelivering",
                    topic=self.topic,
                    group=self.group,
                    error=repr(exc),
                    retry_in_s=backoff,
                )
                await self._call(self._seek_back, starts)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.options.retry_backoff_max_s)
                continue
            backoff = self.options.retry_backoff_s
            await self._call(self._commit, ends, generation)

    async def _leave(self) -> None:
        if self._left:
            return
        self._left = True
        self._highwater = {}
        await self._call(self._close)
        self._io.shutdown(wait=False)
        self.bus._members.discard(self)
        untrack_consumer(self)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._leave()

    async def kill(self) -> None:
        """Die abruptly: drop the batch in hand uncommitted and leave the group."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._leave()

    @property
    def lag(self) -> int:
        """Messages fetched-or-fetchable but not yet committed on this member's partitions (as of
        its last fetch; read from this member's own counts, never from the librdkafka handle,
        which another thread may be closing)."""
        total = 0
        for p, hw in list(self._highwater.items()):
            total += max(hw - self._committed.get(p, hw), 0)
        return total


class KafkaBus(Bus):
    def __init__(self, bootstrap: str, *, client_id: str = "loopline", default_partitions: int = 8) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.default_partitions = default_partitions
        self._producer: _AsyncProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._members: set[_KafkaConsumer] = set()

    async def start(self, timeout_s: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                self._admin = AIOKafkaAdminClient(
                    bootstrap_servers=self.bootstrap, client_id=f"{self.client_id}-admin"
                )
                await self._admin.start()
                self._producer = _AsyncProducer(
                    {
                        "bootstrap.servers": self.bootstrap,
                        "client.id": self.client_id,
                        "acks": "all",
                        "enable.idempotence": True,
                        "partitioner": "murmur2_random",  # same key → partition mapping as Java clients
                        "linger.ms": 5,
                        "batch.size": 1024 * 1024,
                        "message.max.bytes": 64 * 1024 * 1024,
                        "queue.buffering.max.kbytes": 256 * 1024,
                        "message.timeout.ms": 120_000,
                    }
                )
                self._probe = AIOKafkaConsumer(
                    bootstrap_servers=self.bootstrap,
                    client_id=f"{self.client_id}-probe",
                    enable_auto_commit=False,
                )
                await self._probe.start()
                return
            except KafkaError as exc:
                await self._close_clients()
                if asyncio.get_running_loop().time() > deadline:
                    raise BusUnavailable(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
                log.warning("kafka not reachable yet; retrying", bootstrap=self.bootstrap, error=repr(exc))
                await asyncio.sleep(1.0)

    async def _close_clients(self) -> None:
        if self._producer is not None:
            await self._producer.close()
        for c in (self._admin, self._probe):
            if c is not None:
                with contextlib.suppress(Exception):
                    await c.close() if isinstance(c, AIOKafkaAdminClient) else await c.stop()
        self._producer = None
        self._admin = self._probe = None

    async def stop(self) -> None:
        for m in list(self._members):
            await m.stop()
        await self._close_clients()

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        assert self._admin is not None, "bus not started"
        existing = set(await self._admin.list_topics())
        new = [
            NewTopic(t.name, num_partitions=t.partitions, replication_factor=1, topic_configs=t.config)
            for t in topics
            if t.name not in existing
        ]
        if not new:
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            await self._admin.create_topics(new)

    async def publish(self, topic: str, messages: Sequence[OutMessage], timeout_s: float = 10.0) -> None:
        producer = self._producer
        if producer is None:
            raise BusUnavailable("bus is not running")
        if not messages:
            return
        try:
            with timed_publish(topic):
                await asyncio.wait_for(producer.send_all(topic, messages), timeout=timeout_s)
        except (TimeoutError, KafkaError, KafkaException) as exc:
            raise BusUnavailable(f"Kafka did not acknowledge the messages: {exc!r}") from exc

    async def subscribe(
        self, topic: str, group: str, handler: BatchHandler, options: ConsumerOptions | None = None
    ) -> Consumer:
        member = _KafkaConsumer(self, topic, group, handler, options or ConsumerOptions())
        await member.start()
        self._members.add(member)
        track_consumer(member, topic, group)
        return member

    async def healthy(self) -> bool:
        if self._admin is None:
            return False
        try:
            await asyncio.wait_for(self._admin.list_topics(), timeout=2.0)
            return True
        except Exception:
            return False

    async def end_offsets(self, topic: str) -> dict[int, int]:
        assert self._probe is not None, "bus not started"
        parts = self._probe.partitions_for_topic(topic)
        if not parts:
            await self._probe._client.force_metadata_update()
            self._probe._client.add_topic(topic)
            await self._probe._client.force_metadata_update()
            parts = self._probe.partitions_for_topic(topic) or set()
        tps = [AIOTopicPartition(topic, p) for p in parts]
        if not tps:
            return {}
        ends = await self._probe.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}

    async def committed_offsets(self, topic: str, group: str) -> dict[int, int]:
        assert self._admin is not None, "bus not started"
        offsets = await self._admin.list_consumer_group_offsets(group)
        return {
            tp.partition: meta.offset
            for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0
        }
