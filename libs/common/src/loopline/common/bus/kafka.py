"""Apache Kafka bus backend (aiokafka).

Producer: idempotent, `acks=all`, keys hashed to partitions by Kafka's default partitioner, so
one key → one partition → per-key order. `publish` returns only when every message was
acknowledged and raises BusUnavailable otherwise (nothing is reported sent that was not).

Consumer: a group member with manual commits. It fetches a batch, calls the handler, and commits
exactly the batch's next offsets only after the handler returned. A failing handler seeks back
to the batch start and gets the same messages after a backoff. On a rebalance the commit of a
partition this member lost fails and is dropped: the new owner resumes from the last committed
offset (at-least-once; consumers are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from confluent_kafka import KafkaException, Producer
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

log = get_logger(__name__)


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


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # (aiokafka ships no types)
    def __init__(self, member: _KafkaConsumer) -> None:
        self.member = member

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.member.generation += 1

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.member.generation += 1


class _KafkaConsumer(Consumer):
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
        self._task: asyncio.Task[None] | None = None
        self._committed: dict[TopicPartition, int] = {}
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bus.bootstrap,
            client_id=f"{bus.client_id}-{group}",
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if options.from_beginning else "latest",
            max_poll_records=options.max_batch,
            fetch_max_wait_ms=max(int(options.max_wait_s * 1000), 1),
            fetch_max_bytes=options.max_batch_bytes or 64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
            request_timeout_ms=30_000,
            retry_backoff_ms=200,
            **(
                {"max_poll_interval_ms": int(options.max_poll_interval_s * 1000)}
                if options.max_poll_interval_s
                else {}
            ),
        )

    async def start(self) -> None:
        self.consumer.subscribe([self.topic], listener=_Rebalance(self))
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"kafka-consumer-{self.group}")

    async def _run(self) -> None:
        backoff = self.options.retry_backoff_s
        while not self._stopping:
            try:
                fetched = await self.consumer.getmany(
                    timeout_ms=max(int(self.options.max_wait_s * 1000), 10) * 4,
                    max_records=self.options.max_batch,
                )
            except KafkaError as exc:
                log.warning("kafka fetch failed; retrying", topic=self.topic, error=repr(exc))
                await asyncio.sleep(backoff)
                continue
            if not fetched:
                continue
            generation = self.generation
            batch: list[Message] = []
            starts: dict[TopicPartition, int] = {}
            ends: dict[TopicPartition, int] = {}
            for tp, records in fetched.items():
                if not records:
                    continue
                starts[tp] = records[0].offset
                ends[tp] = records[-1].offset + 1
                batch.extend(
                    Message(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key or b"",
                        r.value or b"",
                        tuple((k, v) for k, v in (r.headers or ())),
                        r.timestamp,
                    )
                    for r in records
                )
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
                for tp, off in starts.items():
                    with contextlib.suppress(Exception):
                        self.consumer.seek(tp, off)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.options.retry_backoff_max_s)
                continue
            backoff = self.options.retry_backoff_s
            assigned = self.consumer.assignment()
            offsets = {tp: off for tp, off in ends.items() if tp in assigned}
            if generation != self.generation or not offsets:
                continue  # partitions moved while handling: the new owner redelivers from its commit
            try:
                await self.consumer.commit(offsets)
                self._committed.update(offsets)
            except KafkaError as exc:
                log.warning("kafka commit failed (rebalance?); messages will be redelivered", error=repr(exc))

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()
        self.bus._members.discard(self)
        untrack_consumer(self)

    async def kill(self) -> None:
        """Die abruptly: drop the batch in hand uncommitted and leave the group."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.consumer.stop()
        self.bus._members.discard(self)
        untrack_consumer(self)

    @property
    def lag(self) -> int:
        """Messages fetched-or-fetchable but not yet committed on this member's partitions."""
        total = 0
        for tp in self.consumer.assignment():
            hw = self.consumer.highwater(tp)
            if hw is None:
                continue
            total += max(hw - self._committed.get(tp, hw), 0)
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
        tps = [TopicPartition(topic, p) for p in parts]
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
