"""Server-side evals (`POST /v1/eval`): throughput of heuristic scoring, and of a slow model.

Run: `python -m tests.bench.bench_server_evals` (or `./dev bench server_evals`). Against a
running `loopline up` (in-process bus, embedded store) and the scripted provider
(tests/support/llm_server.py) in this process:

1. Heuristic scoring: ROWS inline rows, three autoevals heuristics (ExactMatch, Levenshtein,
   NumericDiff) as scorers. The server-side task is a heuristic global function too (a few µs,
   like the baseline's identity task), so the figure is the eval machinery plus the scorers:
   rows/s from launch to the summary (every row written and committed). Baseline in the same
   run: the SDK's local `Eval` on the same rows with the same scorers and an identity task,
   logging to the same server.
2. A provider answering in LATENCY_S: a prompt task, SLOW_ROWS rows, max_concurrency
   CONCURRENCY. Expected ≈ CONCURRENCY / LATENCY_S rows/s; the added latency is the task
   span's duration minus LATENCY_S (p50/p95) and the wall time over the ideal
   ceil(rows / concurrency) x LATENCY_S.

Prints figures only (no timing asserts); compare runs by the machine-speed line.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.bench import machine_speed
from tests.support.llm_server import Reply, ScriptedLLM
from tests.support.running import RunningLoopline, free_port

ROWS = 5_000
LATENCY_S = 1.0
CONCURRENCY = 64
SLOW_ROWS = 640
HEURISTICS = ["ExactMatch", "Levenshtein", "NumericDiff"]


def rows(n: int) -> list[dict[str, Any]]:
    return [{"input": str(i % 97), "expected": str(i % 89), "metadata": {"i": i}} for i in range(n)]


def server_heuristics(
    api: httpx.Client, pid: str, data: list[dict[str, Any]]
) -> tuple[float, dict[str, Any]]:
    body = {
        "project_id": pid,
        "data": {"data": data},
        "task": {"global_function": "ExactMatch"},
        "scores": [{"global_function": n} for n in HEURISTICS],
        "max_concurrency": 256,
        "experiment_name": "bench-server",
    }
    t0 = time.perf_counter()
    r = api.post("/v1/eval", json=body, timeout=600)
    wall = time.perf_counter() - t0
    r.raise_for_status()
    return wall, r.json()


def sdk_heuristics(ll: RunningLoopline, project: str, data: list[dict[str, Any]]) -> float:
    import autoevals
    from braintrust import Eval

    t0 = time.perf_counter()
    Eval(
        project,
        data=lambda: data,
        task=lambda x: x,
        scores=[getattr(autoevals, n) for n in HEURISTICS],
        experiment_name="bench-sdk",
        max_concurrency=256,
    )
    return time.perf_counter() - t0


def slow_model(api: httpx.Client, pid: str) -> tuple[float, list[float], str]:
    body = {
        "project_id": pid,
        "data": {"data": [{"input": {"q": str(i)}, "expected": "ok"} for i in range(SLOW_ROWS)]},
        "task": {
            "inline_prompt": {
                "prompt": {"type": "chat", "messages": [{"role": "user", "content": "{{input.q}}"}]},
                "options": {"model": "gpt-4o-mini"},
            }
        },
        "scores": [{"global_function": "ExactMatch"}],
        "max_concurrency": CONCURRENCY,
        "experiment_name": "bench-slow",
    }
    t0 = time.perf_counter()
    r = api.post("/v1/eval", json=body, timeout=600)
    wall = time.perf_counter() - t0
    r.raise_for_status()
    job = api.get(f"/v1/eval/{r.headers['x-loopline-eval-job-id']}").json()
    fetched = api.post(f"/v1/experiment/{job['experiment_id']}/fetch", json={"limit": 10_000}).json()[
        "events"
    ]
    extra = [
        x["metrics"]["end"] - x["metrics"]["start"] - LATENCY_S
        for x in fetched
        if (x.get("span_attributes") or {}).get("type") == "task"
    ]
    return wall, extra, job["status"]


def main() -> None:
    print(machine_speed(), flush=True)
    with tempfile.TemporaryDirectory() as tmp, ScriptedLLM(max_lifetime_s=1800) as llm:
        ll = RunningLoopline(
            Path(tmp) / "data",
            free_port(),
            extra_env={"LOOPLINE_LOG_LEVEL": "warning", "LOOPLINE_LOGS3_PAYLOAD_MAX_BYTES": "50000000"},
        ).start(timeout_s=240)
        try:
            api = httpx.Client(base_url=ll.url, headers=ll.headers, timeout=120)
            project = f"bench-evals-{uuid.uuid4().hex[:6]}"
            pid = api.post("/v1/project", json={"name": project}).json()["id"]
            api.post(
                "/v1/ai_secret",
                json={
                    "name": "OPENAI_API_KEY",
                    "type": "openai",
                    "secret": "sk-bench-" + "z" * 24,
                    "metadata": {"api_base": llm.openai_base_url, "max_concurrency": 256},
                },
            ).raise_for_status()
            data = rows(ROWS)
            server_heuristics(api, pid, data[:200])  # warm-up (imports, first job)
            wall, summary = server_heuristics(api, pid, data)
            print(
                f"heuristics, server-side /v1/eval    {ROWS / wall:8.0f} rows/s  ({ROWS} rows, {wall:.2f} s, "
                f"3 scorers; ExactMatch {summary['scores']['ExactMatch']['score']:.3f})",
                flush=True,
            )
            os.environ.update(
                {
                    "BRAINTRUST_API_URL": ll.url,
                    "BRAINTRUST_APP_URL": ll.url,
                    "BRAINTRUST_API_KEY": ll.api_key,
                }
            )
            sdk_wall = sdk_heuristics(ll, project, data)
            print(
                f"heuristics, SDK local Eval (base)   {ROWS / sdk_wall:8.0f} rows/s  ({ROWS} rows, {sdk_wall:.2f} s)",
                flush=True,
            )

            llm.respond_with(lambda req: Reply("ok", delay_s=LATENCY_S))
            wall, extra, status = slow_model(api, pid)
            ideal = math.ceil(SLOW_ROWS / CONCURRENCY) * LATENCY_S
            q = statistics.quantiles(extra, n=20) if len(extra) >= 20 else [max(extra or [0])] * 19
            print(
                f"provider {LATENCY_S:.0f} s, {CONCURRENCY} in flight   {SLOW_ROWS / wall:8.1f} rows/s  "
                f"(ideal {CONCURRENCY / LATENCY_S:.0f}; {SLOW_ROWS} rows in {wall:.2f} s vs {ideal:.0f} s: "
                f"+{(wall / ideal - 1) * 100:.1f}%; task span over the provider's {LATENCY_S:.0f} s: "
                f"p50 {statistics.median(extra) * 1000:.1f} ms, p95 {q[18] * 1000:.1f} ms; "
                f"max in flight at the provider {llm.max_in_flight}; job {status})",
                flush=True,
            )
        finally:
            ll.terminate()


if __name__ == "__main__":
    main()
