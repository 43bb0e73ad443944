"""The writer alone, stage by stage, on SDK-shaped spans (0.5-5 KB, a few of 1 MB), against the
embedded engine: what each step costs per span, and the store's own insert ceiling for these rows.

Prints spans/s for: envelope decode, base lookup, merge + columns, JSON encode of the insert, the
ClickHouse insert itself, the whole `Writer.handle` (single batch at a time), and the raw insert
ceiling (pre-encoded JSONEachRow, no Python in the loop) with and without the text indexes.

    python -m tests.bench.bench_writer [--spans 20000] [--batch 5000]
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
from typing import Any

import orjson
from loopline.common import stored_row
from loopline.common.bus import Message
from loopline.common.bus.memory import InProcessBus
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.rows import RowWrite
from loopline.common.schema import ROW_TABLES
from loopline.common.store import Store
from loopline.common.store.migrations import apply_migrations
from loopline.common.xact import XactIdGenerator
from loopline.ingest.writer import INSERT_SETTINGS, Writer, group_writes, merge_group
from loopline.ingest.writer.bases import load_bases

from tests.bench import machine_speed
from tests.bench.bench_ingest import make_batch


def envelopes(n: int, project_id: str, xact: XactIdGenerator) -> list[Message]:
    out: list[Message] = []
    while len(out) < n:
        x = xact.next()
        for row in make_batch(project_id, len(out)):
            w = RowWrite("org", project_id, "project_logs", "g", x, row)
            out.append(Message("loopline.rows", 0, len(out), w.key.encode(), w.encode()))
    return out[:n]


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} spans/s  ({seconds * 1e6 / n:6.1f} us/span)"


async def run(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-writer-"))
    store = Store(f"chdb://{base / 'ch'}")
    bus = InProcessBus()
    await bus.start()
    await store.open()
    await apply_migrations(store, ROW_TABLES)
    writer = Writer(store, bus)
    xact = XactIdGenerator()
    pid = uuid.uuid4().hex
    msgs = envelopes(args.spans, pid, xact)
    mb = sum(len(m.value) for m in msgs) / 1e6
    print(f"{len(msgs)} spans, {mb:.1f} MB of envelopes, batches of {args.batch}")
    print(machine_speed())
    batches = [msgs[i : i + args.batch] for i in range(0, len(msgs), args.batch)]
    t: dict[str, float] = dict.fromkeys(("decode", "bases", "merge", "encode", "insert"), 0.0)
    encoded: list[tuple[str, bytes]] = []
    for batch in batches:
        t0 = time.perf_counter()
        writes = [rows_topic.decode(m.value) for m in batch]
        t1 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        for group, by_id in group_writes(writes).items():
            t2 = time.perf_counter()
            bases = await load_bases(store, group, list(by_id))
            t3 = time.perf_counter()
            rows += merge_group(group, by_id, bases)
            t["bases"] += t3 - t2
            t["merge"] += time.perf_counter() - t3
        t4 = time.perf_counter()
        cols = stored_row.WRITE_COLUMNS
        body = b"\n".join([orjson.dumps(r) for r in rows])
        t5 = time.perf_counter()
        await store.insert_json("spans", rows, cols, settings=INSERT_SETTINGS["spans"])
        t6 = time.perf_counter()
        t["decode"] += t1 - t0
        t["encode"] += t5 - t4
        t["insert"] += (t6 - t5) - (t5 - t4)  # insert_json encodes again; count the store's part
        encoded.append(("spans", body))
    n = len(msgs)
    for k, v in t.items():
        print(f"  {k:<28}{rate(n, v)}")
    print(f"  {'sum of stages':<28}{rate(n, sum(t.values()))}")

    # the whole handler, on fresh ids (new rows, as in steady ingest)
    msgs2 = envelopes(args.spans, pid, xact)
    t0 = time.perf_counter()
    for i in range(0, len(msgs2), args.batch):
        await writer.handle(msgs2[i : i + args.batch])
    print(f"  {'Writer.handle':<28}{rate(n, time.perf_counter() - t0)}")

    # raw ceiling: pre-encoded bodies straight into the store, with and without the text indexes
    def raw_insert(table: str, body: bytes, extra: dict[str, Any] | None = None) -> None:
        store.client.raw_insert(
            f"{store.database}.{table}",
            list(stored_row.WRITE_COLUMNS),
            insert_block=body,
            settings={
                "date_time_input_format": "best_effort",
                "input_format_try_infer_dates": 0,
                **(extra or {}),
            },
            fmt="JSONEachRow",
        )

    t0 = time.perf_counter()
    for _, body in encoded:
        await asyncio.to_thread(raw_insert, "spans", body)
    print(f"  {'raw insert (text indexes)':<28}{rate(n, time.perf_counter() - t0)}")
    t0 = time.perf_counter()
    for _, body in encoded:
        await asyncio.to_thread(raw_insert, "spans", body, INSERT_SETTINGS["spans"])
    print(f"  {'raw insert (index on merge)':<28}{rate(n, time.perf_counter() - t0)}")
    await store.command(f"CREATE TABLE {store.database}.spans_noidx AS {store.database}.spans")
    for col in ("input", "output"):
        await store.command(
            f"ALTER TABLE {store.database}.spans_noidx DROP INDEX IF EXISTS idx_{col}_text, "
            f"DROP INDEX IF EXISTS idx_{col}_lc"
        )
    t0 = time.perf_counter()
    for _, body in encoded:
        await asyncio.to_thread(raw_insert, "spans_noidx", body)
    print(f"  {'raw insert (no text index)':<28}{rate(n, time.perf_counter() - t0)}")
    await store.close()
    await bus.stop()
    shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spans", type=int, default=20000)
    p.add_argument("--batch", type=int, default=5000)
    args = p.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
