"""The writer's look-ahead, A/B interleaved in one process: a writer with its worker process
drains a backlog of SDK-shaped spans from the in-process bus, with the look-ahead prepare (the
worker prepares batch N+1 while N is inserted) and without it (they take turns), alternately.

    ./dev bench writer_lookahead [--spans 60000] [--batch 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from loopline.common.bus import ConsumerOptions, OutMessage, TopicSpec
from loopline.common.bus.memory import InProcessBus
from loopline.common.schema import ROW_TABLES
from loopline.common.store import Store, apply_migrations
from loopline.common.topics import ROWS
from loopline.common.xact import XactIdGenerator
from loopline.ingest.writer import Writer, prepared
from loopline.ingest.writer.offload import Offload

from tests.bench.bench_writer import envelopes


async def one(
    store: Store, offload: Offload, ahead: bool, n: int, batch: int, xact: XactIdGenerator
) -> float:
    msgs = envelopes(n, uuid.uuid4().hex, xact)
    bus = InProcessBus()
    await bus.start()
    await bus.ensure_topics([TopicSpec(ROWS, 8)])
    await bus.publish(ROWS, [OutMessage(m.key, m.value) for m in msgs])
    orig = prepared.take_next_batch
    if not ahead:
        prepared.take_next_batch = lambda min_messages=1: None  # type: ignore[assignment]
    writer = Writer(store, bus, offload)
    t0 = time.perf_counter()
    c = await bus.subscribe(
        ROWS,
        "writer",
        writer.handle,
        ConsumerOptions(max_batch=batch, max_batch_bytes=48 << 20, max_wait_s=0.05),
    )
    while c.lag > 0:  # noqa: ASYNC110 - the bus has no drained event; a 2 ms poll is below the noise
        await asyncio.sleep(0.002)
    dt = time.perf_counter() - t0
    await bus.stop()
    prepared.take_next_batch = orig  # type: ignore[assignment]
    assert writer.prepare is not None
    print(
        f"  {'ahead' if ahead else 'turns':<6} {n / dt:>8,.0f} spans/s  {dt * 1e6 / n:6.1f} us/span"
        f"  batches={writer.stats.batches} ahead used={writer.prepare.used_ahead}",
        flush=True,
    )
    return n / dt


async def run(n: int, batch: int, rounds: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="overlap-ab-"))
    store = Store(f"chdb://{base / 'ch'}")
    await store.open()
    await apply_migrations(store, ROW_TABLES)
    offload = Offload()
    await offload.start()
    xact = XactIdGenerator()
    res: dict[bool, list[float]] = {False: [], True: []}
    try:
        for r in range(rounds):
            for ahead in (False, True) if r % 2 == 0 else (True, False):
                res[ahead].append(await one(store, offload, ahead, n, batch, xact))
    finally:
        offload.close()
        await store.close()
        shutil.rmtree(base, ignore_errors=True)
    for ahead, v in res.items():
        print(
            f"{'ahead' if ahead else 'turns'}: {', '.join(f'{x:,.0f}' for x in v)} spans/s; median {sorted(v)[len(v) // 2]:,.0f}"
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spans", type=int, default=60_000)
    p.add_argument("--batch", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    asyncio.run(run(args.spans, args.batch, args.rounds))


if __name__ == "__main__":
    main()
