"""Server-side evals (`POST /v1/eval`): throughput of heuristic scoring, and of a slow model.

Run: `./dev bench server_evals [--rows 3000] [--repeat 1]`. Against a
running `loopline up` (in-process bus, embedded store) and the scripted provider
(tests/support/llm_server.py) in this process:

1. Heuristic scoring: ROWS inline rows, three autoevals heuristics (ExactMatch, Levenshtein,
   JSONDiff) as scorers. The task must cost next to nothing for the figure to be about scoring:
   it is the global function ExactMatch (in-process, a few µs) on the row's input, so the figure
   is the eval machinery plus the scorers, from launch to the summary (every row written and
   committed); also how long the job's cells took (job started → finished: rows computed and
   published, not yet all stored) and the rest (launch, the writer catching up, the summary).
   Baseline in the same run: the SDK's local `Eval` on the same rows, the same
   scorers and the same task (autoevals' ExactMatch called locally), logging to the same server.
   Also rows per CPU-second (the server's process tree; for the SDK, the SDK's process plus the
   server's): on a shared machine the wall figure depends on what else runs.
2. A provider answering in LATENCY_S: a prompt task, SLOW_ROWS rows, max_concurrency
   CONCURRENCY. Expected ≈ CONCURRENCY / LATENCY_S rows/s; the added latency is the task
   span's duration minus LATENCY_S (p50/p95) and the wall time over the ideal
   ceil(rows / concurrency) x LATENCY_S.

Prints figures only (no timing asserts); compare runs by the machine-speed line.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.bench import machine_speed
from tests.bench.bench_ingest import server_tree_cpu_s
from tests.support.llm_server import Reply, ScriptedLLM
from tests.support.running import RunningLoopline, free_port

ROWS = 3_000
LATENCY_S = 1.0
CONCURRENCY = 64
SLOW_ROWS = 640
HEURISTICS = ["ExactMatch", "Levenshtein", "JSONDiff"]


def rows(n: int) -> list[dict[str, Any]]:
    """Rows whose task output (ExactMatch of the input's pair) matches `expected` for 2 in 3."""
    out = []
    for i in range(n):
        a, b = str(i % 97), str(i % 89)
        score = 1 if a == b else 0
        expected = {"name": "ExactMatch", "score": float(score if i % 3 else 1 - score), "metadata": {}}
        out.append({"input": {"output": a, "expected": b}, "expected": expected, "metadata": {"i": i}})
    return out


def local_task(input: dict[str, Any]) -> dict[str, Any]:
    import autoevals

    s = autoevals.ExactMatch()(input["output"], input["expected"])
    return {"name": s.name, "score": s.score, "metadata": s.metadata or {}}


def own_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def server_cpu(ll: RunningLoopline) -> float:
    assert ll.proc is not None
    return server_tree_cpu_s(ll.proc.pid)


def job_seconds(api: httpx.Client, job_id: str) -> float:
    """How long the job ran on its worker (started → finished)."""
    job = api.get(f"/v1/eval/{job_id}").json()
    return (datetime.fromisoformat(job["finished"]) - datetime.fromisoformat(job["started"])).total_seconds()


def server_heuristics(
    api: httpx.Client, pid: str, data: list[dict[str, Any]]
) -> tuple[float, dict[str, Any], float]:
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
    return wall, r.json(), job_seconds(api, r.headers["x-loopline-eval-job-id"])


def sdk_heuristics(ll: RunningLoopline, project: str, data: list[dict[str, Any]]) -> tuple[float, float]:
    """(wall s, CPU s of this process and the server) of the SDK's local Eval."""
    import autoevals
    from braintrust import Eval

    t0, c0 = time.perf_counter(), own_cpu_s() + server_cpu(ll)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
        Eval(
            project,
            data=data,  # type: ignore[arg-type]  # plain dict rows
            task=local_task,
            scores=[getattr(autoevals, n) for n in HEURISTICS],
            experiment_name="bench-sdk",
            max_concurrency=256,
        )
    return time.perf_counter() - t0, own_cpu_s() + server_cpu(ll) - c0


def slow_model(api: httpx.Client, pid: str) -> tuple[float, list[float], dict[str, Any]]:
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
    return wall, extra, job


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=ROWS, help="rows of the heuristic eval")
    ap.add_argument(
        "--repeat", type=int, default=1, help="server-side heuristic runs (each printed; best kept)"
    )
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    n_rows = args.rows
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
            data = rows(n_rows)
            server_heuristics(api, pid, data[:200])  # warm-up (imports, first job)
            best = 0.0
            for _ in range(args.repeat):
                c0 = server_cpu(ll)
                wall, summary, cells = server_heuristics(api, pid, data)
                cpu = server_cpu(ll) - c0
                best = max(best, n_rows / wall)
                print(
                    f"heuristics, server-side /v1/eval    {n_rows / wall:8.0f} rows/s  {n_rows / cpu:6.0f} rows/CPU-s  "
                    f"({n_rows} rows, {wall:.2f} s, {cpu:.1f} CPU s; "
                    f"ExactMatch {summary['scores']['ExactMatch']['score']:.3f}; "
                    f"the job's cells {cells:.2f} s = {n_rows / cells:.0f} rows/s, the rest {wall - cells:.2f} s: "
                    "launch, the writer catching up, the summary)",
                    flush=True,
                )
            os.environ.update(
                {
                    "BRAINTRUST_API_URL": ll.url,
                    "BRAINTRUST_APP_URL": ll.url,
                    "BRAINTRUST_API_KEY": ll.api_key,
                }
            )
            sdk_wall, sdk_cpu = sdk_heuristics(ll, project, data)
            print(
                f"heuristics, SDK local Eval (base)   {n_rows / sdk_wall:8.0f} rows/s  {n_rows / sdk_cpu:6.0f} rows/CPU-s  "
                f"({n_rows} rows, {sdk_wall:.2f} s, {sdk_cpu:.1f} CPU s of the SDK and the server); "
                f"server-side best / SDK: {best / (n_rows / sdk_wall):.1f}x",
                flush=True,
            )

            llm.respond_with(lambda req: Reply("ok", delay_s=LATENCY_S))
            wall, extra, job = slow_model(api, pid)
            ran = (
                datetime.fromisoformat(job["finished"]) - datetime.fromisoformat(job["started"])
            ).total_seconds()
            ideal = math.ceil(SLOW_ROWS / CONCURRENCY) * LATENCY_S
            q = statistics.quantiles(extra, n=20) if len(extra) >= 20 else [max(extra or [0])] * 19
            print(
                f"provider {LATENCY_S:.0f} s, {CONCURRENCY} in flight   {SLOW_ROWS / wall:8.1f} rows/s  "
                f"(ideal {CONCURRENCY / LATENCY_S:.0f}; {SLOW_ROWS} rows in {wall:.2f} s vs {ideal:.0f} s: "
                f"+{(wall / ideal - 1) * 100:.1f}%; task span over the provider's {LATENCY_S:.0f} s: "
                f"p50 {statistics.median(extra) * 1000:.1f} ms, p95 {q[18] * 1000:.1f} ms; "
                f"the job itself ran {ran:.2f} s: {SLOW_ROWS / ran:.1f} rows/s; "
                f"max in flight at the provider {llm.max_in_flight}; job {job['status']})",
                flush=True,
            )
        finally:
            ll.terminate()


if __name__ == "__main__":
    main()
