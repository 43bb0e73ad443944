"""Sandboxed code scorers: calls per second and per-call overhead, cold and warm.

Run: `python -m tests.bench.bench_sandbox` (or `./dev bench sandbox`).
"cold" starts a new supervisor (a new interpreter, namespaces, read-only root) for every call;
"warm" forks every call from one running supervisor (a fresh process, fresh namespaces and a uid
of its own per call), with the default preload (autoevals included) and without autoevals; "batches" run up to 64 rows of one scorer in each such process
(`run_scorer_batch`), each row with its own limits and result. The in-process line runs the same handler without any sandbox: the
difference is the sandbox's overhead per call. Compare runs by the machine-speed line.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from loopline.evaluator.sandbox.results import ScoreResult
from loopline.evaluator.sandbox.runner import Sandbox
from loopline.evaluator.sandbox.settings import SandboxSettings

from tests.bench import machine_speed

SCORER = """
def handler(output, expected):
    # Levenshtein similarity, as a user would write it
    a, b = str(output), str(expected)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return 1 - prev[-1] / max(len(a), len(b), 1)
"""
ROWS = [
    {"input": i, "output": f"answer number {i}", "expected": f"answer no. {i}", "metadata": {}}
    for i in range(64)
]


def in_process_rate(seconds: float = 1.0) -> float:
    namespace: dict[str, Any] = {}
    exec(SCORER, namespace)
    handler = namespace["handler"]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        row = ROWS[done % len(ROWS)]
        handler(row["output"], row["expected"])
        done += 1
    return done / (time.perf_counter() - started)


async def measure(box: Sandbox, calls: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = list(range(calls))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            t0 = time.perf_counter()
            result = await box.run_scorer(SCORER, ROWS[i % len(ROWS)])
            latencies.append((time.perf_counter() - t0) * 1000)
            assert isinstance(result, ScoreResult), result

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls / (time.perf_counter() - started), sorted(latencies)


def line(name: str, rate: float, latencies: list[float]) -> str:
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return f"{name:<34} {rate:8.1f} calls/s   latency p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"


async def warm_figures(settings: SandboxSettings, label: str, in_process_us: float) -> None:
    warm = Sandbox(settings)
    await warm.start()
    try:
        await measure(warm, 20, 1)  # warm-up
        for concurrency, calls in ((1, 300), (4, 600)):
            rate, latencies = await measure(warm, calls, concurrency)
            print(line(f"warm{label}, {concurrency} in flight", rate, latencies))
            if concurrency == 1:
                overhead = statistics.median(latencies) - in_process_us / 1000
                print(f"{'  per-call overhead (p50)':<34} {overhead:8.2f} ms")
        for concurrency in (1, 4):
            chunks = [[ROWS[i % len(ROWS)] for i in range(64)] for _ in range(40)]
            started = time.perf_counter()

            async def worker(queue: list[list[dict[str, Any]]]) -> None:
                while queue:
                    results = await warm.run_scorer_batch(SCORER, queue.pop())
                    assert all(isinstance(r, ScoreResult) for r in results), results

            await asyncio.gather(*(worker(chunks) for _ in range(concurrency)))
            rate = 64 * 40 / (time.perf_counter() - started)
            print(f"{f'warm{label}, batches of 64, {concurrency} in flight':<34} {rate:8.1f} rows/s")
    finally:
        await warm.close()


async def run() -> None:
    print(machine_speed())
    rate = in_process_rate()
    print(f"{'in process (no sandbox)':<34} {rate:8.0f} calls/s   {1000 / rate * 1000:7.1f} µs per call")
    probe = Sandbox(SandboxSettings(warm=False))
    report = await probe.start()
    print(f"isolation: {report.mode}; missing: {'; '.join(report.missing) or 'nothing'}")
    defaults = SandboxSettings()
    await warm_figures(defaults, "", 1e6 / rate)
    lean = [m for m in defaults.preload if m != "autoevals"]
    await warm_figures(SandboxSettings(preload=lean), " (no autoevals)", 1e6 / rate)
    cold = Sandbox(SandboxSettings(warm=False))
    for concurrency, calls in ((1, 20), (4, 40)):
        rate, latencies = await measure(cold, calls, concurrency)
        print(line(f"cold, {concurrency} in flight", rate, latencies))


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
