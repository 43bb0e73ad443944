"""Bus throughput: 1 KB keyed messages, produce → consume → commit, in-process and Apache Kafka.

    python -m tests.bench.bench_bus [--messages 200000]
Targets on 2 cores: ≥ 200k msg/s in-process, ≥ 50k msg/s through Kafka.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from loopline.common.bus import Bus, ConsumerOptions, Message, OutMessage, TopicSpec
from loopline.common.bus.factory import bus_from_url

ROOT = Path(__file__).resolve().parents[2]


async def run_one(bus: Bus, n: int, size: int = 1024) -> tuple[float, float]:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    await bus.ensure_topics([TopicSpec(topic, 8)])
    value = os.urandom(size // 2).hex().encode()
    msgs = [OutMessage(f"key-{i % 5000}".encode(), value) for i in range(n)]
    done = asyncio.Event()
    got = 0

    async def handler(batch: list[Message]) -> None:
        nonlocal got
        got += len(batch)
        if got >= n:
            done.set()

    consumer = await bus.subscribe(
        topic, f"g-{topic}", handler, ConsumerOptions(max_batch=5000, max_wait_s=0.01)
    )
    t0 = time.perf_counter()
    chunk = 2000
    sem = asyncio.Semaphore(16)

    async def pub(i: int) -> None:
        async with sem:
            await bus.publish(topic, msgs[i : i + chunk], timeout_s=120)

    await asyncio.gather(*(pub(i) for i in range(0, n, chunk)))
    produced = time.perf_counter() - t0
    await asyncio.wait_for(done.wait(), timeout=300)
    total = time.perf_counter() - t0
    await consumer.stop()
    return n / produced, n / total


def report(name: str, n: int, produce_rate: float, e2e_rate: float) -> None:
    print(
        f"{name:<12} {n:>9,} msgs  produce+ack {produce_rate:>10,.0f} msg/s   "
        f"produce→consume→commit {e2e_rate:>10,.0f} msg/s  {e2e_rate * 1024 / 1e6:>7.1f} MB/s",
        flush=True,
    )


async def main_async(n: int) -> None:
    mem = bus_from_url("memory://", default_partitions=8)
    mem.capacity = max(n, 100_000)  # type: ignore[attr-defined]
    await mem.start()
    report("in-process", n, *await run_one(mem, n))
    await mem.stop()

    # the journaled in-process bus `loopline up` uses: every publish written to disk first
    for fsync in (False, True):
        jdir = Path(tempfile.mkdtemp(prefix="bench-journal-"))
        try:
            jb = bus_from_url(f"memory://?journal={jdir}&fsync={int(fsync)}", default_partitions=8)
            jb.capacity = max(n, 100_000)  # type: ignore[attr-defined]
            await jb.start()
            m = n if not fsync else min(n, 50_000)
            report("journal+fsync" if fsync else "journaled", m, *await run_one(jb, m))
            await jb.stop()
        finally:
            shutil.rmtree(jdir, ignore_errors=True)

    bootstrap = os.environ.get("LOOPLINE_TEST_KAFKA")
    local = None
    if not bootstrap:
        sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
        from broker import KafkaError, LocalKafka, free_port

        try:
            local = LocalKafka(
                port=free_port(), data_dir=Path(tempfile.mkdtemp(prefix="bench-kafka-"))
            ).start()
            bootstrap = local.bootstrap
        except KafkaError as exc:
            print(f"kafka: skipped ({exc})")
            return
    try:
        kb = bus_from_url(f"kafka://{bootstrap}", default_partitions=8)
        await kb.start()
        report("kafka", n, *await run_one(kb, n))
        await kb.stop()
    finally:
        if local is not None:
            local.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200_000)
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    asyncio.run(main_async(args.messages))


if __name__ == "__main__":
    main()
