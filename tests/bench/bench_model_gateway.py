"""The model gateway's overhead: a provider that answers in LATENCY_S, called CONCURRENCY at a time.

Run: `python -m tests.bench.bench_model_gateway` (or `./dev bench model_gateway`). Three lines on
the same scripted provider (tests/support/llm_server.py, in this process): the provider called
directly over HTTP, through `loopline.providers.ModelClient` in process, and through a running
`loopline up`'s `/v1/proxy/chat/completions` (API key auth, org secret lookup, routing, cache
planning — a miss, as temperature is not 0 — and the provider call). Throughput should be
≈ CONCURRENCY / LATENCY_S on each line; the difference in median latency is what Loopline adds.
A last line times cache hits. Compare runs by the machine-speed line.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from loopline.providers import ModelClient, ProviderConfig

from tests.bench import machine_speed
from tests.support.llm_server import Reply, ScriptedLLM
from tests.support.running import RunningLoopline, free_port

LATENCY_S = 1.0
CONCURRENCY = 64
CALLS = 256
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "grade this"}], "temperature": 0.7}


async def run(call: Callable[[], Awaitable[object]], calls: int = CALLS) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []

    async def one() -> None:
        async with gate:
            t0 = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*[one() for _ in range(calls)])
    return time.perf_counter() - t0, latencies


def line(name: str, wall: float, lat: list[float], calls: int = CALLS) -> str:
    q = statistics.quantiles(lat, n=20)
    return (
        f"{name:<28} {calls / wall:7.1f} calls/s   p50 {statistics.median(lat) * 1000:7.1f} ms"
        f"   p95 {q[18] * 1000:7.1f} ms"
    )


async def bench(llm: ScriptedLLM, ll: RunningLoopline) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def direct() -> None:
            r = await http.post(llm.openai_base_url + "/chat/completions", json=BODY)
            r.raise_for_status()

        wall_d, lat_d = await run(direct)
        print(line("provider directly", wall_d, lat_d), flush=True)

        client = ModelClient(
            [
                ProviderConfig(
                    name="p", kind="openai", base_url=llm.openai_base_url, max_concurrency=CONCURRENCY
                )
            ]
        )
        wall_c, lat_c = await run(lambda: client.chat(BODY))
        await client.aclose()
        print(line("ModelClient in process", wall_c, lat_c), flush=True)

        secret = {
            "name": "bench-openai",
            "type": "openai",
            "secret": "sk-bench",
            "metadata": {"api_base": llm.openai_base_url, "max_concurrency": CONCURRENCY},
        }
        (await http.post(f"{ll.url}/v1/ai_secret", json=secret, headers=ll.headers)).raise_for_status()

        async def gateway() -> None:
            r = await http.post(f"{ll.url}/v1/proxy/chat/completions", json=BODY, headers=ll.headers)
            r.raise_for_status()

        await gateway()  # the org's client is built on first use
        wall_g, lat_g = await run(gateway)
        print(line("Loopline /v1/proxy", wall_g, lat_g), flush=True)
        added = statistics.median(lat_g) - statistics.median(lat_d)
        print(
            f"Loopline adds {added * 1000:.1f} ms to the median call "
            f"({added / statistics.median(lat_d) * 100:.1f}% of a {LATENCY_S:.1f} s provider call)",
            flush=True,
        )

        cached = {**BODY, "temperature": 0}
        llm.respond_with(lambda req: Reply("ok", delay_s=LATENCY_S))
        (
            await http.post(f"{ll.url}/v1/proxy/chat/completions", json=cached, headers=ll.headers)
        ).raise_for_status()

        async def hit() -> None:
            r = await http.post(f"{ll.url}/v1/proxy/chat/completions", json=cached, headers=ll.headers)
            assert r.headers["x-bt-cached"] == "HIT"

        wall_h, lat_h = await run(hit, calls=512)
        print(line("Loopline /v1/proxy, cached", wall_h, lat_h, calls=512), flush=True)


def main() -> None:
    print(f"provider latency {LATENCY_S:.1f} s, {CONCURRENCY} calls in flight, {CALLS} calls per line")
    with tempfile.TemporaryDirectory() as tmp, ScriptedLLM(max_lifetime_s=900) as llm:
        llm.respond_with(lambda req: Reply("ok", usage=(12, 1), delay_s=LATENCY_S))
        ll = RunningLoopline(Path(tmp) / "data", free_port()).start()
        try:
            asyncio.run(bench(llm, ll))
        finally:
            ll.terminate()


if __name__ == "__main__":
    print(machine_speed())
    main()
