"""Classifier freshness: ingest → label visible in BTQL, at a steady rate of chat-shaped root spans.

A `loopline up` (embedded store; the in-process bus, or with `--bus kafka` a local Kafka broker
from deploy/kafka, or LOOPLINE_TEST_KAFKA's) with one `Intent` classifier; a sender posts
`--rate` spans/s to /logs3 in batches every `--tick` seconds for `--seconds`; an observer polls
BTQL for the pending ids (`select: id, classifications | filter: id in [...]`) and records when
each span's label is first seen. A span's freshness is from the moment its /logs3 request was
sent to the end of the first BTQL answer that shows its label (an upper bound: the poll period
and the query's own time are included). Target (issue 13): p95 ≤ 2 s at 500 spans/s.

Figures only, no pass/fail: the machine is shared and loaded (the machine speed line and the load
average are printed with them).

    ./dev python -m tests.bench.bench_classifier_freshness [--rate 500] [--seconds 30] [--bus kafka]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.bench import machine_speed
from tests.support.running import RunningLoopline, free_port

ROOT = Path(__file__).resolve().parents[2]

TAXONOMY: dict[str, Any] = {
    "facet": "Intent",
    "labels": [
        {
            "name": "refund",
            "description": "wants money back",
            "examples": ["I want a refund", "money back please"],
        },
        {
            "name": "card_lost",
            "description": "lost or stolen card",
            "examples": ["I lost my card", "card stolen"],
        },
        {"name": "password", "description": "cannot log in", "examples": ["reset my password", "locked out"]},
        {"name": "weather", "description": "weather forecast questions", "examples": ["will it rain"]},
    ],
    "threshold": 0.3,
}
TEXTS = (
    "please refund my last order",
    "somebody stole my card at the station",
    "I forgot my password and cannot log in",
    "will it rain in Paris tomorrow?",
    "how do I get my money back for a double charge",
    "my card was swallowed by the ATM",
)


OPENERS = ("", "hi, ", "hello there. ", "quick question: ", "urgent - ", "sorry to bother you but ")
CLOSERS = ("", " thanks", " asap", " please help", " (order {n})", " - it is the {n}th time I ask")


def request_text(n: int) -> str:
    """Distinct texts (a repeated text would be cheaper to label than real traffic)."""
    text = OPENERS[n % len(OPENERS)] + TEXTS[(n // 7) % len(TEXTS)] + CLOSERS[(n // 3) % len(CLOSERS)]
    return text.format(n=n)


@dataclass
class Run:
    sent: dict[str, float] = field(default_factory=dict)  # id → when its request was sent (tracked)
    total: int = 0  # spans sent, tracked or not
    every: int = 1  # every n-th span is tracked (keeps the observer's queries small)
    seen: dict[str, float] = field(default_factory=dict)  # id → when its label was first seen
    appeared: dict[str, float] = field(default_factory=dict)  # id → when the span itself was first seen
    posts: int = 0
    post_errors: int = 0
    polls: int = 0
    poll_seconds: list[float] = field(default_factory=list)
    sending: bool = True


def chat_span(row_id: str, pid: str, text: str) -> dict[str, Any]:
    return {
        "id": row_id,
        "span_id": row_id,
        "root_span_id": row_id,
        "project_id": pid,
        "log_id": "g",
        "input": [
            {"role": "system", "content": "You are a bank's assistant."},
            {"role": "user", "content": text},
        ],
        "output": "ok",
    }


async def send(
    client: httpx.AsyncClient, pid: str, run: Run, rate: float, seconds: float, tick: float
) -> float:
    """Post `rate * tick` spans every `tick` seconds; the rate actually offered."""
    per_tick = max(1, round(rate * tick))
    inflight: set[asyncio.Task[None]] = set()
    limit = asyncio.Semaphore(16)

    async def post(rows: list[dict[str, Any]]) -> None:
        async with limit:
            t = time.monotonic()
            run.total += len(rows)
            for r in rows:
                if r.pop("_tracked"):
                    run.sent[r["id"]] = t
            try:
                resp = await client.post("/logs3", content=orjson.dumps({"rows": rows}))
                run.posts += 1
                if resp.status_code != 200:
                    run.post_errors += 1
            except httpx.HTTPError:
                run.post_errors += 1

    start = time.monotonic()
    n = 0
    k = 0
    while time.monotonic() - start < seconds:
        rows = [
            {
                **chat_span(f"f{k}-{i}-{uuid.uuid4().hex[:6]}", pid, request_text(n + i)),
                "_tracked": (n + i) % run.every == 0,
            }
            for i in range(per_tick)
        ]
        n += per_tick
        k += 1
        task = asyncio.get_running_loop().create_task(post(rows))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
        await asyncio.sleep(max(0.0, start + k * tick - time.monotonic()))
    elapsed = time.monotonic() - start
    await asyncio.gather(*inflight)
    run.sending = False
    return n / elapsed


async def observe(client: httpx.AsyncClient, pid: str, run: Run, period: float, drain_s: float) -> None:
    """Poll BTQL for the pending ids until all are labelled (or `drain_s` after sending ends)."""
    drain_until: float | None = None
    while True:
        pending = [i for i in run.sent if i not in run.seen]
        if not run.sending:
            drain_until = drain_until or time.monotonic() + drain_s
            if not pending or time.monotonic() > drain_until:
                return
        for chunk in (pending[j : j + 2000] for j in range(0, len(pending), 2000)):
            ids = ", ".join(f"'{i}'" for i in chunk)
            q = f"select: id, classifications | from: project_logs('{pid}') | filter: id in [{ids}] | limit: 5000"
            t0 = time.monotonic()
            r = await client.post("/btql", json={"query": q})
            t1 = time.monotonic()
            run.polls += 1
            run.poll_seconds.append(t1 - t0)
            if r.status_code != 200:
                continue
            for row in r.json()["data"]:
                run.appeared.setdefault(row["id"], t1)
                if (row.get("classifications") or {}).get("Intent") and row["id"] not in run.seen:
                    run.seen[row["id"]] = t1
        await asyncio.sleep(period)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


@contextlib.contextmanager
def bus_url(kind: str, base: Path) -> Iterator[str]:
    """The bus the server runs on: the in-process one, or Kafka (LOOPLINE_TEST_KAFKA's broker, else a
    local broker from deploy/kafka for the run)."""
    if kind == "memory":
        yield "memory://"
        return
    if os.environ.get("LOOPLINE_TEST_KAFKA"):
        yield f"kafka://{os.environ['LOOPLINE_TEST_KAFKA']}"
        return
    sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
    from broker import LocalKafka  # type: ignore[import-not-found]

    local = LocalKafka(port=free_port(), data_dir=base / "kafka")
    local.start()
    try:
        yield f"kafka://{local.bootstrap}"
    finally:
        local.stop()


async def bench(args: argparse.Namespace) -> None:
    print(machine_speed(), flush=True)
    base = Path(tempfile.mkdtemp(prefix="bench-clf-fresh-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, base, True)
        bus = stack.enter_context(bus_url(args.bus, base))
        await _bench(args, base, bus)


async def _bench(args: argparse.Namespace, base: Path, bus: str) -> None:
    env = {"LOOPLINE_LOG_LEVEL": "WARNING"}
    if bus.startswith("kafka://"):  # topics of their own on a shared broker
        env["LOOPLINE_TOPIC_PREFIX"] = f"bench{uuid.uuid4().hex[:6]}."
    ll = RunningLoopline(base / "data", free_port(), bus=bus, extra_env=env).start()
    try:
        async with httpx.AsyncClient(base_url=ll.url, headers=ll.headers, timeout=60) as client:
            pid = (await client.post("/v1/project", json={"name": f"fresh-{uuid.uuid4().hex[:6]}"})).json()[
                "id"
            ]
            r = await client.post(f"/v1/project/{pid}/classifier", json=TAXONOMY)
            assert r.status_code == 200, r.text
            warm = Run()  # loads the model and trains the head before the clock starts
            await send(client, pid, warm, 50, 1.0, 0.2)
            await observe(client, pid, warm, 0.2, 120)
            run = Run(every=args.every)
            load_before = os.getloadavg()
            observer = asyncio.get_running_loop().create_task(
                observe(client, pid, run, args.poll, args.drain)
            )
            offered = await send(client, pid, run, args.rate, args.seconds, args.tick)
            await observer
            load_after = os.getloadavg()
            status = (await client.get("/v1/classifier/status")).json()
    finally:
        ll.terminate()
    lat = [run.seen[i] - run.sent[i] for i in run.seen]
    rows = [run.appeared[i] - run.sent[i] for i in run.appeared]
    missing = len(run.sent) - len(run.seen)
    print(
        f"\nclassifier freshness (ingest → label visible in BTQL), embedded store, "
        f"{'in-process bus' if args.bus == 'memory' else 'Kafka bus (' + bus + ')'}\n"
        f"  offered {offered:.0f} spans/s for {args.seconds:.0f} s ({run.total} root spans in "
        f"{run.posts} /logs3 requests, {run.post_errors} failed); every {run.every}th tracked "
        f"({len(run.sent)}), BTQL polled every {args.poll:.2f} s "
        f"({run.polls} queries, median {statistics.median(run.poll_seconds or [0]):.2f} s each)\n"
        f"  tracked spans labelled and visible: {len(run.seen)}; not visible within {args.drain:.0f} s after the "
        f"last send: {missing}\n"
        f"  freshness p50 {pct(lat, 0.5):.2f} s, p95 {pct(lat, 0.95):.2f} s, p99 {pct(lat, 0.99):.2f} s, "
        f"max {max(lat, default=float('nan')):.2f} s (target: p95 ≤ 2 s at 500 spans/s)\n"
        f"  the span itself (no label needed) visible: p50 {pct(rows, 0.5):.2f} s, p95 {pct(rows, 0.95):.2f} s "
        "(the writer's share; the rest is the classifier's read, model, label write and second commit)\n"
        f"  consumer: {status['consumer']}\n"
        f"  load average {load_before[0]:.1f} before / {load_after[0]:.1f} after on {os.cpu_count()} "
        "cores (a shared, loaded machine: the sender, the observer and the server share them)",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rate", type=float, default=500.0, help="root spans per second")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--tick", type=float, default=0.1, help="seconds between /logs3 batches")
    p.add_argument("--poll", type=float, default=0.1, help="seconds between BTQL polls")
    p.add_argument("--every", type=int, default=10, help="track every n-th span")
    p.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last labels")
    p.add_argument(
        "--bus",
        choices=("memory", "kafka"),
        default="memory",
        help="the runtime's bus: in-process (default) or Kafka (LOOPLINE_TEST_KAFKA, else a local broker)",
    )
    args = p.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
