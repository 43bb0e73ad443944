"""Server-side evals end to end on the Kafka runtime: `loopline eval run` (the CLI) launches a
base eval, a second `/v1/eval` on the same dataset is interrupted by `kill -9` of the whole
process mid-job, the restarted process resumes it from Kafka's redelivery, every cell is written
exactly once, and the real SDK's `summarize` compares the two experiments. The model is the
scripted LLM server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import braintrust
import httpx
import pytest

from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall
from tests.support.running import RunningLoopline, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

N = 30
ANSWERS = {f"{i}+{i}": str(2 * i) for i in range(N)}
TASK = {
    "inline_prompt": {
        "prompt": {"type": "chat", "messages": [{"role": "user", "content": "{{input.question}}"}]},
        "options": {"model": "gpt-4o-mini"},
    }
}
JUDGE = {
    "name": "judge",
    "function_type": "scorer",
    "inline_prompt": {
        "prompt": {
            "type": "chat",
            "messages": [{"role": "user", "content": "A: {{output}} R: {{expected}}"}],
        },
        "options": {"model": "gpt-4o-mini"},
        "parser": {"type": "llm_classifier", "use_cot": False, "choice_scores": {"Y": 1, "N": 0}},
    },
}


def model(wrong: int, delay_s: float = 0.0) -> Any:
    """Answers `i+i` (wrongly for i < wrong); judges Y when the answer is the right one."""

    def respond(req: Seen) -> Reply:
        text = req.last_user_text
        if isinstance(req.json, dict) and req.json.get("tools"):
            answer, _, right = text.removeprefix("A: ").partition(" R: ")
            return Reply(tool_calls=[ToolCall("select_choice", {"choice": "Y" if answer == right else "N"})])
        i = int(text.split("+")[0])
        return Reply(str(2 * i + (1 if i < wrong else 0)), delay_s=delay_s)

    return respond


def cli(ll: RunningLoopline, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopline.cli", "eval", *args, "--url", ll.url, "--api-key", ll.api_key],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )


def wait_job(api: httpx.Client, job_id: str, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = api.get(f"/v1/eval/{job_id}")
        if r.status_code == 200 and r.json()["status"] in ("succeeded", "failed", "cancelled"):
            return dict(r.json())
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish: {api.get(f'/v1/eval/{job_id}').text}")


def test_eval_killed_mid_job_resumes_once_and_summarizes(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = {
        "LOOPLINE_TOPIC_PREFIX": f"evals{uuid.uuid4().hex[:6]}.",
        "LOOPLINE_EVALS__LEASE_STALE_S": "3",
        "LOOPLINE_EVALS__PROGRESS_INTERVAL_S": "0.2",
    }
    port = free_port()
    bus = f"kafka://{kafka_bootstrap}"
    with ScriptedLLM(max_lifetime_s=600) as llm:
        ll = RunningLoopline(tmp_path / "data", port, bus=bus, extra_env=env).start(timeout_s=240)
        api = httpx.Client(base_url=ll.url, headers=ll.headers, timeout=60)
        try:
            project = f"evals-{uuid.uuid4().hex[:6]}"
            pid = api.post("/v1/project", json={"name": project}).json()["id"]
            r = api.post(
                "/v1/ai_secret",
                json={
                    "name": "OPENAI_API_KEY",
                    "type": "openai",
                    "secret": "sk-test-" + "y" * 24,
                    "metadata": {"api_base": llm.openai_base_url},
                },
            )
            assert r.status_code == 200, r.text
            ds = api.post("/v1/dataset", json={"project_id": pid, "name": "sums"}).json()["id"]
            events = [
                {"id": f"q{i}", "input": {"question": q}, "expected": a}
                for i, (q, a) in enumerate(ANSWERS.items())
            ]
            assert api.post(f"/v1/dataset/{ds}/insert", json={"events": events}).status_code == 200

            # the base experiment, launched with the CLI (progress bar on stderr, summary on stdout)
            llm.respond_with(model(wrong=10))
            scorers = ["ExactMatch", "Levenshtein", json.dumps(JUDGE)]
            run = cli(
                ll,
                "run",
                "--project", project,
                "--dataset", "sums",
                "--task", json.dumps(TASK),
                *(a for s in scorers for a in ("--scorer", s)),
                "--experiment", "base",
                "--concurrency", "16",
            )  # fmt: skip
            assert run.returncode == 0, run.stdout + run.stderr + ll.log_text()
            assert "experiment base" in run.stdout and "ExactMatch" in run.stdout and "66.67%" in run.stdout
            assert "cells" in run.stderr  # the progress bar

            # the second eval: slow answers, killed after a few cells
            llm.respond_with(model(wrong=0, delay_s=0.3))
            body = {
                "project_id": pid,
                "data": {"dataset_id": ds},
                "task": TASK,
                "scores": [{"global_function": "ExactMatch"}, {"global_function": "Levenshtein"}, JUDGE],
                "experiment_name": "candidate",
                "base_experiment_name": "base",
                "max_concurrency": 2,
                "stream": True,
            }
            job_id = ""
            with api.stream("POST", "/v1/eval", json=body) as resp:
                assert resp.status_code == 200
                job_id = resp.headers["x-loopline-eval-job-id"]
                for line in resp.iter_lines():
                    if line.startswith("data: ") and '"done"' in line and json.loads(line[6:])["done"] >= 6:
                        break
            before_kill = len(llm.requests)
            ll.kill()
        except BaseException:
            ll.kill()
            raise
        ll2 = RunningLoopline(tmp_path / "data", port, bus=bus, extra_env=env, api_key=ll.api_key).start(
            timeout_s=240
        )
        try:
            api = httpx.Client(base_url=ll2.url, headers=ll2.headers, timeout=60)
            job = wait_job(api, job_id)
            assert job["status"] == "succeeded" and job["done"] == job["total"] == N, job
            # each cell once: N roots, N tasks, 3N scores, no id twice
            rows: list[dict[str, Any]] = []
            cursor = None
            while True:
                page = api.post(
                    f"/v1/experiment/{job['experiment_id']}/fetch", json={"limit": 1000, "cursor": cursor}
                ).json()
                rows += page["events"]
                cursor = page.get("cursor")
                if not cursor:
                    break
            kinds = Counter(r["span_attributes"]["type"] for r in rows)
            # llm: the task's call and the judge's
            assert kinds == {"eval": N, "task": N, "llm": 2 * N, "score": 3 * N}, kinds
            assert len({r["id"] for r in rows}) == len(rows)
            assert Counter(r["origin"]["id"] for r in rows if r["span_attributes"]["type"] == "eval") == {
                f"q{i}": 1 for i in range(N)
            }
            # the cells already written were not run again (at most the ones in flight at the kill)
            task_calls = sum(1 for q in llm.requests[before_kill:] if not (q.json or {}).get("tools"))
            assert task_calls <= N - 6 + 2, task_calls

            # the real SDK's summarize compares the resumed experiment with its base
            exp = braintrust.init(
                project=project,
                experiment=job["experiment_name"],
                update=True,
                app_url=ll2.url,
                api_key=ll2.api_key,
                set_current=False,
            )
            summary = exp.summarize()
            assert summary.comparison_experiment_name == "base"
            exact = summary.scores["ExactMatch"]
            assert exact.score == pytest.approx(1.0) and exact.diff == pytest.approx(1 / 3)
            assert (exact.improvements, exact.regressions) == (10, 0)
            assert summary.scores["judge"].score == pytest.approx(1.0)
            assert summary.scores["Levenshtein"].improvements == 10
            # token metrics from the task's llm spans, as for the SDK's own Eval with wrap_openai
            tokens = summary.metrics["prompt_tokens"]
            assert (
                tokens.metric > 0
                and tokens.unit == "tok"
                and summary.metrics["total_tokens"].metric > tokens.metric
            )

            status = cli(ll2, "status", job_id)
            assert status.returncode == 0 and "succeeded" in status.stdout and f"{N}/{N}" in status.stdout
        finally:
            assert ll2.terminate() == 0, ll2.log_text()
