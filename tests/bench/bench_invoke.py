"""The function runtime's cost: heuristic scorers through `FunctionRunner.score`, and invoke of a
prompt through a running `loopline up`.

Run: `python -m tests.bench.bench_invoke` (or `./dev bench invoke`).

1. Scores/s of the global autoevals heuristics (Levenshtein, ExactMatch, NumericDiff, JSONDiff)
   through `FunctionRunner.score` (reference resolution, name lookup, the scorer, no span) next to
   calling autoevals directly on the same rows — the in-process floor of a server-side eval.
2. `POST /function/invoke` of a stored prompt (function lookup, templating, the org's provider,
   the invocation span and its llm child published on loopline.rows) with a provider that answers
   in LATENCY_S, CONCURRENCY at a time, next to the same provider called through `ModelClient`
   in process. Throughput should be ≈ CONCURRENCY / LATENCY_S on both lines; the difference in
   median latency is what invoke adds. Compare runs by the machine-speed line.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import autoevals
import httpx
from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.evaluator.runtime.runner import FunctionRunner
from loopline.evaluator.runtime.types import ScorerArgs
from loopline.providers import ModelClient, ProviderConfig

from tests.bench import machine_speed
from tests.bench.bench_model_gateway import line, run
from tests.support.llm_server import Reply, ScriptedLLM
from tests.support.running import RunningLoopline, free_port

ROWS = 20_000
LATENCY_S = 1.0
CONCURRENCY = 64
CALLS = 256
CASES: list[tuple[str, Any, Any]] = [
    ("Levenshtein", "the quick brown fox", "the quick brown cat"),
    ("ExactMatch", {"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]}),
    ("NumericDiff", 41.5, 42),
    ("JSONDiff", {"name": "Ann", "age": 41, "tags": ["x", "y"]}, {"name": "Anne", "age": 42, "tags": ["x"]}),
]


async def heuristics() -> None:
    runner = FunctionRunner(models=None)  # type: ignore[arg-type]  # heuristics call no model
    who = Principal(org_id="bench")
    for name, output, expected in CASES:
        ref = FunctionRef(global_function=name)
        args = ScorerArgs(input="q", output=output, expected=expected)
        t0 = time.perf_counter()
        for _ in range(ROWS):
            await runner.score(who, ref, args)
        through = ROWS / (time.perf_counter() - t0)
        scorer = getattr(autoevals, name)()
        t0 = time.perf_counter()
        for _ in range(ROWS):
            scorer.eval(output=output, expected=expected)
        direct = ROWS / (time.perf_counter() - t0)
        print(
            f"{name:<12} FunctionRunner.score {through:9,.0f} scores/s   autoevals direct {direct:9,.0f} scores/s"
        )


async def invoke(llm: ScriptedLLM, ll: RunningLoopline) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(base_url=ll.url, headers=ll.headers, timeout=60, limits=limits) as http:
        secret = {"name": "bench", "type": "openai", "secret": "sk-bench-" + "x" * 20}
        secret["metadata"] = {"api_base": llm.openai_base_url, "max_concurrency": CONCURRENCY * 2}  # type: ignore[assignment]
        (await http.post("/v1/ai_secret", json=secret)).raise_for_status()
        pid = (await http.post("/v1/project", json={"name": "bench-invoke"})).json()["id"]
        prompt = {
            "project_id": pid,
            "name": "Grade",
            "slug": "grade",
            "prompt_data": {
                "prompt": {"type": "chat", "messages": [{"role": "user", "content": "grade {{input.text}}"}]},
                "options": {"model": "gpt-4o-mini", "params": {"temperature": 0.7}},
            },
        }
        (await http.post("/v1/prompt", json=prompt)).raise_for_status()
        body = {"project_name": "bench-invoke", "slug": "grade", "input": {"text": "this"}, "parent": ""}
        llm.respond_with(lambda req: Reply("B+", delay_s=LATENCY_S))

        async def through_invoke() -> None:
            r = await http.post("/function/invoke", json=body)
            r.raise_for_status()

        client = ModelClient(
            [
                ProviderConfig(
                    name="bench",
                    kind="openai",
                    api_key="k",
                    base_url=llm.openai_base_url,
                    max_concurrency=CONCURRENCY * 2,
                )
            ]
        )

        async def direct() -> None:
            await client.complete("gpt-4o-mini", [{"role": "user", "content": "grade this"}], temperature=0.7)

        await through_invoke()  # warm: org models, function cache, connections
        wall, lat = await run(direct)
        print(line("ModelClient in process", wall, lat))
        wall, lat = await run(through_invoke)
        print(line("POST /function/invoke", wall, lat))
        await client.aclose()


def main() -> None:
    print(machine_speed(), flush=True)
    asyncio.run(heuristics())
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp, ScriptedLLM(max_lifetime_s=600) as llm:
        ll = RunningLoopline(Path(tmp) / "data", free_port()).start()
        try:
            asyncio.run(invoke(llm, ll))
        finally:
            ll.terminate()


if __name__ == "__main__":
    main()
