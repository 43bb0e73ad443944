"""What the loop agent adds per agent step, beyond the model's own latency.

Run: `python -m tests.bench.bench_loop_agent` (or `./dev bench loop_agent`). An in-process Loopline
(gateway, ingest, writer, query, loop-agent on a temporary embedded store) whose model is the
scripted LLM server answering instantly, through the real `openai` client. Two lines, each over
TURNS streamed turns: a turn of one model call answering text (load the conversation, store two
messages, stream), and a turn of TOOL_STEPS model calls each calling `get_data_source` (a read
tool calling the gateway as the caller) then a text answer: per step = the turn's time / its
model calls; a first line times the model call alone (the provider layer and the `openai` client to
the same server), so what Loopline adds per step is the difference. Target (issue 14): <= 50 ms p95. Compare runs by the machine-speed line.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from loopline.providers import ModelClient, ProviderConfig

from tests.support.app import in_process
from tests.support.llm_server import Reply, ScriptedLLM, ToolCall

TURNS = 30
TOOL_STEPS = 3
SERVICES = ("gateway", "ingest", "writer", "query", "loop-agent")


def line(name: str, per_step: list[float]) -> str:
    q = statistics.quantiles(per_step, n=20)
    return (
        f"{name:<34} p50 {statistics.median(per_step) * 1000:6.1f} ms   p95 {q[18] * 1000:6.1f} ms per step"
    )


async def bench(llm: ScriptedLLM, tmp: Path) -> None:
    section = {
        "providers": [{"name": "openai", "kind": "openai", "api_key": "k", "base_url": llm.openai_base_url}],
        "allowed_models": ["gpt-4o"],
        "default_model": "gpt-4o",
        "max_iterations": TOOL_STEPS + 1,
    }
    async with in_process(f"chdb://{tmp / 'ch'}", tmp, SERVICES, loop_agent=section) as ll:
        cid = (await ll.client.post("/v1/loop/conversations", json={}, headers=ll.headers)).json()["id"]
        url = f"/v1/loop/conversations/{cid}/messages"

        async def turn(steps: int) -> float:
            t0 = time.perf_counter()
            r = await ll.client.post(url, json={"content": "go"}, headers=ll.headers)
            assert r.status_code == 200 and '"status":"complete"' in r.text, r.text[-500:]
            return (time.perf_counter() - t0) / steps

        for _ in range(3):  # warm-up
            llm.push(Reply("ok"))
            await turn(1)
        # the model's own latency: the same streamed call through the provider layer, alone
        client = ModelClient([ProviderConfig(**section["providers"][0])])  # type: ignore[index]
        model_only = []
        for _ in range(TURNS):
            llm.push(Reply("ok"))
            t0 = time.perf_counter()
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "go"}]}
            async with await client.stream_chat(body) as stream:
                async for _chunk in stream:
                    pass
            model_only.append(time.perf_counter() - t0)
        await client.aclose()
        print(line("model call alone (openai client)", model_only), flush=True)
        text_only = []
        for _ in range(TURNS):
            llm.push(Reply("ok"))
            text_only.append(await turn(1))
        print(line("text answer (1 model call)", text_only), flush=True)
        with_tools = []
        for _ in range(TURNS):
            for _ in range(TOOL_STEPS):
                llm.push(Reply(tool_calls=[ToolCall("get_data_source", {"kind": "project_logs"})]))
            llm.push(Reply("ok"))
            with_tools.append(await turn(TOOL_STEPS + 1))
        print(line(f"{TOOL_STEPS} tool steps + answer", with_tools), flush=True)


def main() -> None:
    with ScriptedLLM() as llm, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(llm, Path(tmp)))


if __name__ == "__main__":
    main()
