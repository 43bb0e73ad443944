"""Kafka broker restart while producing: no publish is reported sent unless it was; every
acknowledged message is consumed after the broker is back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from loopline.common.bus import BusUnavailable, ConsumerOptions, Message, OutMessage, TopicSpec
from loopline.common.bus.kafka import KafkaBus

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


async def test_acknowledged_messages_survive_a_broker_restart(restartable_kafka: Any) -> None:
    broker = restartable_kafka
    bus = KafkaBus(broker.bootstrap, default_partitions=4)
    await bus.start()
    await bus.ensure_topics([TopicSpec("restart", 4)])
    acked: set[bytes] = set()
    failed = 0
    stop = asyncio.Event()

    async def producer() -> None:
        nonlocal failed
        i = 0
        deadline = time.monotonic() + 90
        while not stop.is_set() and time.monotonic() < deadline:
            batch = [OutMessage(f"k{(i + j) % 16}".encode(), f"m{i + j}".encode()) for j in range(50)]
            i += 50
            try:
                await bus.publish("restart", batch, timeout_s=2.0)
                acked.update(m.value for m in batch)
            except BusUnavailable:
                failed += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(producer())
    await asyncio.sleep(2)
    before_stop = len(acked)
    await asyncio.to_thread(broker.stop)
    await asyncio.sleep(4)  # publishes during the outage must fail, not pretend
    await asyncio.to_thread(broker.start)
    await asyncio.sleep(6)
    stop.set()
    await task
    assert before_stop > 0 and failed > 0, (before_stop, failed)

    seen: set[bytes] = set()

    async def handler(batch: list[Message]) -> None:
        seen.update(m.value for m in batch)

    consumer = await bus.subscribe("restart", "restart-check", handler, ConsumerOptions(max_batch=5000))
    deadline = time.monotonic() + 90
    while not acked <= seen and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a bounded wait
        await asyncio.sleep(0.2)
    missing = acked - seen
    await consumer.stop()
    await bus.stop()
    assert not missing, f"{len(missing)} acknowledged messages were lost, e.g. {sorted(missing)[:5]}"
