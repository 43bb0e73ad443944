"""Server-side evals (`/v1/eval`) on the in-process app: a dataset x a prompt task x three scorers
(two autoevals heuristics and an LLM judge), compared with a base experiment; the rows each cell
writes; the SSE stream; cancellation; bad input; tenant isolation of jobs. The model is the
scripted LLM server (the only fake)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.app import ALL, InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall

SERVICES = (*ALL, "evaluator")
QUESTIONS = {"2+2": "4", "3*3": "9", "10-7": "3", "6/2": "3"}

PROMPT_TASK = {
    "inline_prompt": {
        "prompt": {"type": "chat", "messages": [{"role": "user", "content": "{{input.question}}"}]},
        "options": {"model": "gpt-4o-mini"},
    }
}
JUDGE = {
    "name": "judge",
    "inline_prompt": {
        "prompt": {
            "type": "chat",
            "messages": [
                {"role": "user", "content": "Q: {{input.question}} A: {{output}} Right answer: {{expected}}"}
            ],
        },
        "options": {"model": "gpt-4o-mini"},
        "parser": {"type": "llm_classifier", "use_cot": False, "choice_scores": {"Y": 1, "N": 0}},
    },
    "function_type": "scorer",
}
SCORERS = [{"global_function": "ExactMatch"}, {"global_function": "Levenshtein"}, JUDGE]


def model(wrong: set[str]) -> Any:
    """The scripted model: answers each question (wrongly for `wrong`) and judges as a judge
    would (Y when the answer equals the right one)."""

    def respond(req: Seen) -> Reply:
        text = req.last_user_text
        if isinstance(req.json, dict) and req.json.get("tools"):
            answer, _, right = text.partition(" A: ")[2].partition(" Right answer: ")
            return Reply(tool_calls=[ToolCall("select_choice", {"choice": "Y" if answer == right else "N"})])
        right = QUESTIONS[text]
        return Reply(right + "0" if text in wrong else right, usage=(5, 1))

    return respond


async def org_with_model(app: InProcess, llm: ScriptedLLM, headers: dict[str, str] | None = None) -> str:
    h = headers or app.headers
    r = await app.client.post(
        "/v1/ai_secret",
        json={
            "name": "OPENAI_API_KEY",
            "type": "openai",
            "secret": "sk-test-" + "x" * 24,
            "metadata": {"api_base": llm.openai_base_url},
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    r = await app.client.post("/v1/project", json={"name": "evals"}, headers=h)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def make_dataset(app: InProcess, project_id: str, name: str = "math") -> str:
    r = await app.client.post(
        "/v1/dataset", json={"project_id": project_id, "name": name}, headers=app.headers
    )
    assert r.status_code == 200, r.text
    ds = str(r.json()["id"])
    events = [
        {"id": f"row-{i}", "input": {"question": q}, "expected": a, "metadata": {"n": i}, "tags": ["math"]}
        for i, (q, a) in enumerate(QUESTIONS.items())
    ]
    r = await app.client.post(f"/v1/dataset/{ds}/insert", json={"events": events}, headers=app.headers)
    assert r.status_code == 200, r.text
    return ds


@pytest.fixture
async def app(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, SERVICES, evals={"progress_interval_s": 0.05}) as a:
        yield a


async def fetch(app: InProcess, experiment_id: str) -> list[dict[str, Any]]:
    r = await app.client.post(
        f"/v1/experiment/{experiment_id}/fetch", json={"limit": 1000}, headers=app.headers
    )
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


async def test_eval_on_a_dataset_compared_with_its_base(app: InProcess, scripted_llm: ScriptedLLM) -> None:
    pid = await org_with_model(app, scripted_llm)
    ds = await make_dataset(app, pid)
    body = {"project_id": pid, "data": {"dataset_id": ds}, "task": PROMPT_TASK, "scores": SCORERS}

    scripted_llm.respond_with(model(wrong={"3*3", "6/2"}))
    r = await app.client.post("/v1/eval", json={**body, "experiment_name": "base"}, headers=app.headers)
    assert r.status_code == 200, r.text
    base = r.json()
    assert base["experiment_name"] == "base"
    assert base["scores"]["ExactMatch"]["score"] == pytest.approx(0.5)
    assert base["scores"]["judge"]["score"] == pytest.approx(0.5)

    # the candidate runs the same prompt saved in the project, referenced by slug
    r = await app.client.post(
        "/v1/prompt",
        json={
            "project_id": pid,
            "name": "Answer",
            "slug": "answer",
            "prompt_data": PROMPT_TASK["inline_prompt"],
        },
        headers=app.headers,
    )
    assert r.status_code == 200, r.text
    scripted_llm.respond_with(model(wrong=set()))
    r = await app.client.post(
        "/v1/eval",
        json={
            **body,
            "task": {"project_name": "evals", "slug": "answer"},
            "experiment_name": "base",
            "base_experiment_name": "base",
            "max_concurrency": 2,
        },
        headers=app.headers,
    )
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["experiment_name"] != "base" and summary["experiment_name"].startswith("base")  # renamed
    assert summary["comparison_experiment_name"] == "base"
    exact, lev, judge = (summary["scores"][n] for n in ("ExactMatch", "Levenshtein", "judge"))
    assert exact["score"] == pytest.approx(1.0) and exact["diff"] == pytest.approx(0.5)
    assert (exact["improvements"], exact["regressions"]) == (2, 0)
    assert lev["score"] == pytest.approx(1.0) and lev["improvements"] == 2
    assert judge["score"] == pytest.approx(1.0) and judge["improvements"] == 2
    assert set(summary["metrics"]) >= {"duration"}

    job_id = r.headers["x-loopline-eval-job-id"]
    job = (await app.client.get(f"/v1/eval/{job_id}", headers=app.headers)).json()
    assert (job["status"], job["done"], job["total"], job["errored"]) == ("succeeded", 4, 4, 0)

    rows = await fetch(app, job["experiment_id"])
    roots = [x for x in rows if not x.get("span_parents")]
    assert len(roots) == 4 and len(rows) == 4 * 7
    by_root = {x["root_span_id"]: x for x in roots}
    for root in roots:
        assert root["span_attributes"]["type"] == "eval"
        assert root["output"] == QUESTIONS[root["input"]["question"]] == root["expected"]
        assert root["origin"]["object_type"] == "dataset" and root["origin"]["object_id"] == ds
        assert root["origin"]["id"] == f"row-{root['metadata']['n']}" and root["tags"] == ["math"]
    children = [x for x in rows if x.get("span_parents")]
    assert {x["root_span_id"] for x in children} == set(by_root)
    tasks = [x for x in children if x["span_attributes"]["type"] == "task"]
    scores = [x for x in children if x["span_attributes"]["type"] == "score"]
    # the model calls: the task's under the task span, the judge's under the judge's score span
    llm = [x for x in children if x["span_attributes"]["type"] == "llm"]
    task_llm = [x for x in llm if x["span_parents"][0] in {t["span_id"] for t in tasks}]
    judges = {x["span_id"] for x in scores if x["span_attributes"]["name"] == "judge"}
    judge_llm = [x for x in llm if x["span_parents"][0] in judges]
    assert len(tasks) == 4 and len(task_llm) == 4 and len(judge_llm) == 4 and len(llm) == 8
    assert {x["span_parents"][0] for x in judge_llm} == judges
    assert all(x["metrics"]["prompt_tokens"] == 5 for x in task_llm)
    assert all(x["metadata"]["model"] == "gpt-4o-mini" and x["output"] for x in judge_llm)
    judge_tokens = sum(x["metrics"]["prompt_tokens"] for x in judge_llm) / 4
    assert judge_tokens > 0  # the summary counts the judge's tokens too, as the SDK's does
    assert summary["metrics"]["prompt_tokens"]["metric"] == pytest.approx(5 + judge_tokens)
    assert sorted({x["span_attributes"]["name"] for x in scores}) == ["ExactMatch", "Levenshtein", "judge"]
    assert all(x["span_attributes"]["purpose"] == "scorer" and len(x["scores"]) == 1 for x in scores)
    assert {tuple(x["scores"].items()) for x in scores} == {
        (("ExactMatch", 1),),
        (("Levenshtein", 1),),
        (("judge", 1),),
    }


def sse(text: str) -> list[tuple[str, Any]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(
            line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in block.split("\n")
        )
        out.append((lines["event"], orjson.loads(lines["data"]) if lines.get("data") else None))
    return out


async def test_stream_inline_data_trials_and_task_errors(app: InProcess, scripted_llm: ScriptedLLM) -> None:
    pid = await org_with_model(app, scripted_llm)
    scripted_llm.respond_with(model(wrong=set()))
    rows = [{"input": {"question": q}, "expected": a} for q, a in QUESTIONS.items()]
    rows.append({"input": {"question": "unknown"}, "expected": "?"})  # the model fails on it (500)
    r = await app.client.post(
        "/v1/eval",
        json={
            "project_id": pid,
            "data": {"data": rows},
            "task": PROMPT_TASK,
            "scores": [{"global_function": "ExactMatch"}],
            "trial_count": 2,
            "stream": True,
        },
        headers=app.headers,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
    events = sse(r.text)
    names = [e for e, _ in events]
    assert names[0] == "start" and names[-2:] == ["summary", "done"] and "progress" in names
    start = events[0][1]
    assert start["total"] == 10 and start["experiment_id"] and start["project_id"] == pid
    assert start["project_name"] == "evals" and start["experiment_url"].endswith(
        f"/p/evals/experiments/{start['experiment_name']}"
    )
    last = [d for e, d in events if e == "progress"][-1]
    assert (last["status"], last["done"], last["total"], last["errored"]) == ("succeeded", 10, 10, 2)
    summary = events[-2][1]
    assert summary["scores"]["ExactMatch"]["score"] == pytest.approx(1.0)  # failed cells have no score
    job = (await app.client.get(f"/v1/eval/{start['job_id']}", headers=app.headers)).json()
    assert len(job["errors"]) == 2 and all("task:" in e for e in job["errors"])
    fetched = await fetch(app, start["experiment_id"])
    failed_roots = [x for x in fetched if not x.get("span_parents") and x.get("error")]
    assert len(failed_roots) == 2 and all(x["input"] == {"question": "unknown"} for x in failed_roots)
    assert len(fetched) == 8 * 4 + 2 * 3  # no score row when the task failed; its llm call is kept


async def test_cancel_a_running_job(app: InProcess, scripted_llm: ScriptedLLM) -> None:
    pid = await org_with_model(app, scripted_llm)
    scripted_llm.respond_with(lambda req: Reply("slow", delay_s=0.3))
    rows = [{"input": {"question": str(i)}, "expected": "x"} for i in range(40)]
    body = {
        "project_id": pid,
        "data": {"data": rows},
        "task": PROMPT_TASK,
        "scores": [{"global_function": "ExactMatch"}],
        "max_concurrency": 2,
    }
    # (the in-process transport delivers a response whole: launch without waiting for it)
    launch = asyncio.create_task(app.client.post("/v1/eval", json=body, headers=app.headers))
    job: dict[str, Any] = {}
    for _ in range(200):
        listed = (await app.client.get("/v1/eval", headers=app.headers)).json()["objects"]
        if listed and listed[0]["done"] >= 2:
            job = listed[0]
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "running" and job["total"] == 40, job
    r = await app.client.post(f"/v1/eval/{job['id']}/cancel", headers=app.headers)
    assert r.status_code == 200 and r.json()["cancel_requested"] is True, r.text
    resp = await launch
    assert resp.status_code == 409 and "cancelled" in resp.json()["error"]["message"], resp.text
    job = (await app.client.get(f"/v1/eval/{job['id']}", headers=app.headers)).json()
    assert job["status"] == "cancelled" and 2 <= job["done"] < 40, job
    events = sse((await app.client.get(f"/v1/eval/{job['id']}/events", headers=app.headers)).text)
    assert [e for e, _ in events] == ["progress", "error", "done"] and "cancelled" in events[1][1]
    requests = len(scripted_llm.requests)
    await asyncio.sleep(0.7)
    assert len(scripted_llm.requests) == requests  # nothing runs any more
    fetched = await fetch(app, job["experiment_id"])
    assert len([x for x in fetched if not x.get("span_parents")]) == job["done"]  # finished cells only


BAD = [
    ({"project_id": "00000000-0000-4000-8000-000000000000"}, 404, "project"),
    ({"data": {"dataset_id": "00000000-0000-4000-8000-000000000000"}}, 404, "dataset"),
    ({"data": {"project_name": "evals", "dataset_name": "nope"}}, 404, "dataset 'nope'"),
    ({"data": {"experiment_name": "x"}}, 400, "data.experiment_name"),
    ({"data": {}}, 400, "'data' needs"),
    ({"scores": [{"global_function": "NoSuchScorer"}]}, 404, "scores.0"),
    ({"scores": [{"slug": "x"}]}, 400, "scores.0"),
    ({"task": {"function_id": "00000000-0000-4000-8000-000000000000"}}, 404, "'task'"),
    ({"task": {"project_name": "evals", "slug": "missing"}}, 404, "'task'"),
    ({"task": {"function_id": "f", "global_function": "x"}}, 400, "task"),
    ({"trial_count": 0}, 400, "trial_count"),
    ({"base_experiment_name": "nope"}, 404, "experiment 'nope'"),
    ({"data": {"data": [{"input": "x" * 1000}] * 1000}}, 413, "dataset"),
]


async def test_bad_requests_are_clear_4xx(app: InProcess, scripted_llm: ScriptedLLM) -> None:
    pid = await org_with_model(app, scripted_llm)
    for change, status, needle in BAD:
        body = {
            "project_id": pid,
            "data": {"data": [{"input": 1}]},
            "task": PROMPT_TASK,
            "scores": SCORERS,
            **change,
        }
        r = await app.client.post("/v1/eval", json=body, headers=app.headers)
        assert r.status_code == status, (change, r.text)
        assert needle in r.json()["error"]["message"], (change, r.text)
    assert (await app.client.get("/v1/eval", headers=app.headers)).json() == {"objects": []}


async def test_jobs_are_isolated_between_orgs(app: InProcess, scripted_llm: ScriptedLLM) -> None:
    pid = await org_with_model(app, scripted_llm)
    ds = await make_dataset(app, pid)
    scripted_llm.respond_with(model(wrong=set()))
    body = {"project_id": pid, "data": {"dataset_id": ds}, "task": PROMPT_TASK, "scores": SCORERS[:1]}
    r = await app.client.post("/v1/eval", json=body, headers=app.headers)
    assert r.status_code == 200, r.text
    job_id = r.headers["x-loopline-eval-job-id"]
    _, key_b = await app.new_org("org-b")
    b = {"Authorization": f"Bearer {key_b}"}
    for method, path in (
        ("GET", f"/v1/eval/{job_id}"),
        ("GET", f"/v1/eval/{job_id}/events"),
        ("POST", f"/v1/eval/{job_id}/cancel"),
    ):
        resp = await app.client.request(method, path, headers=b)
        assert resp.status_code == 404, (method, path, resp.text)
    assert (await app.client.get("/v1/eval", headers=b)).json() == {"objects": []}
    # org b cannot run an eval on org a's project or dataset
    resp = await app.client.post("/v1/eval", json=body, headers=b)
    assert resp.status_code == 404 and "project" in resp.text
    pid_b = await org_with_model(app, scripted_llm, b)
    resp = await app.client.post("/v1/eval", json={**body, "project_id": pid_b}, headers=b)
    assert resp.status_code == 404 and "dataset" in resp.text
    # org a still sees its job, finished
    job = (await app.client.get(f"/v1/eval/{job_id}", headers=app.headers)).json()
    assert job["status"] == "succeeded" and [
        j["id"] for j in (await app.client.get("/v1/eval", headers=app.headers)).json()["objects"]
    ] == [job_id]


async def test_timeout_limits_the_whole_eval_and_calls_have_their_own_limit(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    evals = {"progress_interval_s": 0.05, "call_timeout_s": 0.5}
    async with in_process(chdb_dsn, tmp_path, SERVICES, evals=evals) as app:
        pid = await org_with_model(app, scripted_llm)
        scripted_llm.respond_with(
            lambda req: Reply("x", delay_s=3.0 if req.last_user_text == "slow" else 0.2)
        )
        base = {"project_id": pid, "task": PROMPT_TASK, "scores": [{"global_function": "ExactMatch"}]}
        # no `timeout`: each call has the configured limit, the eval none
        data = [{"input": {"question": "fast"}, "expected": "x"}, {"input": {"question": "slow"}}]
        r = await app.client.post("/v1/eval", json={**base, "data": {"data": data}}, headers=app.headers)
        assert r.status_code == 200, r.text
        job = (
            await app.client.get(f"/v1/eval/{r.headers['x-loopline-eval-job-id']}", headers=app.headers)
        ).json()
        assert (job["status"], job["done"], job["errored"]) == ("succeeded", 2, 1), job
        assert "timed out after 0.5 s" in job["errors"][0]
        # `timeout` (ms) bounds the whole eval: 40 cells of 0.2 s two at a time need 4 s
        data = [{"input": {"question": f"q{i}"}, "expected": "x"} for i in range(40)]
        body = {**base, "data": {"data": data}, "max_concurrency": 2, "timeout": 1000}
        r = await app.client.post("/v1/eval", json=body, headers=app.headers)
        assert r.status_code == 422 and "timed out" in r.json()["error"]["message"], r.text
        job = (await app.client.get("/v1/eval", headers=app.headers)).json()["objects"][0]
        assert job["status"] == "failed" and 0 < job["done"] < 40, job
        assert f"with {job['done']} of 40 cells done" in job["error"] and "cancelled" in job["error"]
        fetched = await fetch(app, job["experiment_id"])
        assert len([x for x in fetched if not x.get("span_parents")]) == job["done"]
