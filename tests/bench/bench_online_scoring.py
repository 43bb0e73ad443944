"""Online scoring lag: spans logged at a steady rate with a 10% sampling rule.

    python -m tests.bench.bench_online_scoring [--rate 1000] [--seconds 20] [--sampling 0.1]

A `loopline up` (embedded bus and store) gets production-style traces on /logs3 at `--rate`
spans/s (one root span per trace, batches every 100 ms, the send time in each row) for
`--seconds`; one span-scope rule scores root spans with the autoevals heuristic ExactMatch at
`--sampling`. Lag of a span = its scorer span's end (the score is published right after) minus
when the client sent it: logging, the writer, rows.committed, sampling, the scorer and write-back.
Also printed: the rule's own lag figures (commit → score) from its status endpoint, and how many
of the spans the sampling chose were scored. Target (issue 12): p95 ≤ 5 s at 1,000 spans/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
from loopline.evaluator.online.sampling import sampled

from tests.support.running import RunningLoopline, free_port

BATCH_S = 0.1


def _rows(pid: str, n: int, sent_at: float) -> tuple[list[dict[str, Any]], list[str]]:
    rows, ids = [], []
    for _ in range(n):
        rid = uuid.uuid4().hex
        ids.append(rid)
        rows.append(
            {
                "id": rid,
                "span_id": rid,
                "root_span_id": rid,
                "project_id": pid,
                "log_id": "g",
                "span_attributes": {"name": "answer", "type": "task"},
                "input": {"question": "what is 2+2?"},
                "output": "4",
                "expected": "4",
                "metadata": {"sent_at": sent_at},
                "metrics": {"start": sent_at - 0.5, "end": sent_at},
            }
        )
    return rows, ids


async def _send(
    c: httpx.AsyncClient, pid: str, rate: int, seconds: float
) -> tuple[dict[str, float], float, int]:
    """Log at `rate` spans/s for `seconds`; returns id → send time, the seconds taken, failures."""
    sent: dict[str, float] = {}
    per_batch = max(1, round(rate * BATCH_S))
    failures = 0
    t0 = time.monotonic()
    batches = int(seconds / BATCH_S)
    inflight: set[asyncio.Task[None]] = set()

    async def post(rows: list[dict[str, Any]]) -> None:
        nonlocal failures
        r = await c.post("/logs3", content=orjson.dumps({"rows": rows}))
        if r.status_code != 200:
            failures += 1

    for b in range(batches):
        due = t0 + b * BATCH_S
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        now = time.time()
        rows, ids = _rows(pid, per_batch, now)
        for i in ids:
            sent[i] = now
        task = asyncio.create_task(post(rows))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    await asyncio.gather(*inflight)
    return sent, time.monotonic() - t0, failures


async def _scorer_ends(c: httpx.AsyncClient, pid: str) -> dict[str, float]:
    """Scored span id → its scorer span's metrics.end, read through BTQL."""
    out: dict[str, float] = {}
    cursor = None
    while True:
        body: dict[str, Any] = {
            "query": f"select: metadata.scored_span_id as s, metrics.end as e | from: project_logs('{pid}') "
            "| filter: span_attributes.purpose = 'scorer' | limit: 5000",
        }
        if cursor:
            body["cursor"] = cursor
        r = await c.post("/btql", json=body)
        r.raise_for_status()
        d = r.json()
        for row in d["data"]:
            if row.get("s") and row.get("e") is not None:
                out[str(row["s"])] = float(row["e"])
        cursor = d.get("cursor")
        if not cursor or not d["data"]:
            return out


def _pct(xs: Sequence[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


async def run(rate: int, seconds: float, sampling: float) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-online-"))
    ll = RunningLoopline(base / "data", free_port(), extra_env={"LOOPLINE_LOG_LEVEL": "WARNING"}).start(240)
    try:
        async with httpx.AsyncClient(base_url=ll.url, headers=ll.headers, timeout=60) as c:
            pid = (await c.post("/v1/project", json={"name": f"bench-online-{uuid.uuid4().hex[:6]}"})).json()[
                "id"
            ]
            r = await c.post(
                "/v1/project_score",
                json={
                    "project_id": pid,
                    "name": "exact",
                    "score_type": "online",
                    "config": {
                        "online": {
                            "sampling_rate": sampling,
                            "scorers": [{"type": "global", "name": "ExactMatch"}],
                            "apply_to_root_span": True,
                        }
                    },
                },
            )
            r.raise_for_status()
            rule_id = r.json()["id"]
            peaks = {"consumer_lag_messages": 0.0, "pending": 0.0}

            async def watch() -> None:  # where work waits: unread messages or unscored items
                while True:
                    await asyncio.sleep(1.0)
                    st = (await c.get(f"/v1/project_score/{rule_id}/status")).json()
                    for k in peaks:
                        peaks[k] = max(peaks[k], float(st.get(k) or 0))

            watcher = asyncio.create_task(watch())
            sent, took, failures = await _send(c, pid, rate, seconds)
            sent_done = time.monotonic()
            want = {i for i in sent if sampled(i, sampling)}
            print(
                f"logged {len(sent)} spans in {took:.1f} s ({len(sent) / took:.0f} spans/s, "
                f"{failures} failed requests); the {sampling:.0%} rule chose {len(want)}"
            )
            deadline = time.monotonic() + 180
            st: dict[str, Any] = {}
            while time.monotonic() < deadline:
                st = (await c.get(f"/v1/project_score/{rule_id}/status")).json()
                if st["counters"]["scored"] >= len(want) and st["pending"] == 0:
                    break
                await asyncio.sleep(0.5)
            drained = time.monotonic()
            watcher.cancel()
            ends = await _scorer_ends(c, pid)
            lags = [ends[i] - sent[i] for i in want if i in ends]
            print(
                f"scored {len(lags)} of {len(want)} chosen spans, the last {drained - sent_done:.1f} s after "
                f"the last span was sent (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
            )
            if lags:
                print(
                    f"lag logged → scored: p50 {statistics.median(lags):.2f} s, p95 {_pct(lags, 0.95):.2f} s, "
                    f"p99 {_pct(lags, 0.99):.2f} s, max {max(lags):.2f} s  (target p95 ≤ 5 s)"
                )
            rl = st.get("recent_lag_seconds") or {}
            c_ = st.get("counters") or {}
            print(
                f"rule status: commit → score p50 {rl.get('p50')}, p95 {rl.get('p95')} "
                f"(last {rl.get('samples')} scores); scored {c_.get('scored')}, skipped by sampling "
                f"{c_.get('skipped_sampling')}, errors {c_.get('errors')}"
            )
            print(
                f"peaks: {peaks['consumer_lag_messages']:.0f} rows.committed messages not yet consumed, "
                f"{peaks['pending']:.0f} items pending"
            )
    finally:
        ll.terminate()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=int, default=1000, help="spans logged per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sampling", type=float, default=0.1)
    args = parser.parse_args(list(argv) if argv is not None else [])
    asyncio.run(run(args.rate, args.seconds, args.sampling))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
