"""What `/v1/eval` hands its task and what it records of it (in-process app, the scripted LLM as
the provider): `parameters` reach a prompt task as template variables and a code task as its
`parameters` argument, `extra_messages` append each row's messages to the prompt's, the task's
model calls are `llm` spans under its task span (so the summary has token and cost metrics), and
the request's fields are checked with 400s naming them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from loopline.evaluator.evals import routes as eval_routes

from tests.support.app import ALL, InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM, Seen
from tests.test_server_evals import fetch, org_with_model

PROMPT = {
    "inline_prompt": {
        "prompt": {
            "type": "chat",
            "messages": [
                {"role": "system", "content": "Answer in {{parameters.lang}}, {{style}}."},
                {"role": "user", "content": "{{input.question}}"},
            ],
        },
        "options": {"model": "gpt-4o-mini", "params": {"temperature": 0}},
    }
}
HISTORY = [{"role": "assistant", "content": "earlier"}, {"role": "user", "content": "and?"}]


@pytest.fixture
async def app(chdb_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[InProcess]:
    monkeypatch.setenv("LOOPLINE_SANDBOX__WALL_SECONDS", "10")
    async with in_process(chdb_dsn, tmp_path, (*ALL, "evaluator"), evals={"progress_interval_s": 0.05}) as a:
        yield a


async def test_parameters_and_extra_messages_reach_a_prompt_and_its_calls_are_llm_spans(
    app: InProcess, scripted_llm: ScriptedLLM
) -> None:
    pid = await org_with_model(app, scripted_llm)

    def answer(req: Seen) -> Reply:
        return Reply("4" if "2+2" in str(req.messages) else "9", usage=(7, 3))

    scripted_llm.respond_with(answer)
    rows = [
        {"input": {"question": "2+2", "history": HISTORY}, "expected": "4"},
        {"input": {"question": "3*3"}, "expected": "9"},  # no history: nothing appended
    ]
    body = {
        "project_id": pid,
        "data": {"data": rows},
        "task": PROMPT,
        "scores": [{"global_function": "ExactMatch"}],
        "parameters": {"lang": "French", "style": "tersely"},
        "extra_messages": "{{input.history}}",
        "stop_token": "tok-1",  # accepted; a job is stopped by its id
        "experiment_name": "params",
    }
    r = await app.client.post("/v1/eval", json=body, headers=app.headers)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["scores"]["ExactMatch"]["score"] == pytest.approx(1.0)
    sent = sorted((s.messages for s in scripted_llm.requests), key=len)
    system = {"role": "system", "content": "Answer in French, tersely."}
    assert sent == [
        [system, {"role": "user", "content": "3*3"}],
        [system, {"role": "user", "content": "2+2"}, *HISTORY],
    ]

    # the summary's token metrics come from the llm spans, as for the SDK's Eval with wrap_openai
    metrics = summary["metrics"]
    assert (
        metrics["prompt_tokens"]["metric"] == pytest.approx(7) and metrics["prompt_tokens"]["unit"] == "tok"
    )
    assert metrics["completion_tokens"]["metric"] == pytest.approx(3)
    assert metrics["total_tokens"]["metric"] == pytest.approx(10)
    cost = (7 * 0.15 + 3 * 0.6) / 1_000_000  # gpt-4o-mini's price per million tokens
    assert (
        metrics["estimated_cost"]["metric"] == pytest.approx(cost)
        and metrics["estimated_cost"]["unit"] == "$"
    )
    assert metrics["llm_duration"]["metric"] > 0

    job = (
        await app.client.get(f"/v1/eval/{r.headers['x-loopline-eval-job-id']}", headers=app.headers)
    ).json()
    stored = await fetch(app, job["experiment_id"])
    tasks = {x["span_id"]: x for x in stored if x["span_attributes"]["type"] == "task"}
    llm = [x for x in stored if x["span_attributes"]["type"] == "llm"]
    assert len(tasks) == 2 and len(llm) == 2 and len(stored) == 2 * 4
    for span in llm:
        task = tasks[span["span_parents"][0]]  # a child of its cell's task span, in its trace
        assert (
            span["root_span_id"] == task["root_span_id"]
            and span["span_attributes"]["name"] == "Chat Completion"
        )
        assert span["input"] in sent and span["input"][1]["content"] == task["input"]["question"]
        assert span["output"][0]["message"]["content"] == task["output"]
        assert span["metadata"]["model"] == "gpt-4o-mini" and span["metadata"]["temperature"] == 0
        assert (span["metrics"]["prompt_tokens"], span["metrics"]["completion_tokens"]) == (7, 3)
        assert span["metrics"]["tokens"] == 10 and span["metrics"]["estimated_cost"] == pytest.approx(cost)
        assert (
            task["metrics"]["start"]
            <= span["metrics"]["start"]
            <= span["metrics"]["end"]
            <= task["metrics"]["end"]
        )
        assert "tokens" not in task["metrics"]  # counted once, on the llm span


async def test_parameters_reach_a_code_task(app: InProcess, scripted_llm: ScriptedLLM) -> None:
    pid = await org_with_model(app, scripted_llm)
    code = "def handler(question, parameters):\n    return parameters['prefix'] + question\n"
    whole = "def handler(input):\n    return 'A: ' + input['question']\n"  # takes no parameters
    rows = [
        {"input": {"question": "q1"}, "expected": "A: q1"},
        {"input": {"question": "q2"}, "expected": "A: q2"},
    ]
    for source in (code, whole):
        body = {
            "project_id": pid,
            "data": {"data": rows},
            "task": {"inline_context": {"runtime": "python", "version": "3.11"}, "code": source},
            "scores": [{"global_function": "ExactMatch"}],
            "parameters": {"prefix": "A: "},
        }
        r = await app.client.post("/v1/eval", json=body, headers=app.headers)
        assert r.status_code == 200, r.text
        assert r.json()["scores"]["ExactMatch"]["score"] == pytest.approx(1.0), (source, r.json())
        assert "prompt_tokens" not in r.json()["metrics"]  # no model call, no llm span
    assert scripted_llm.requests == []


async def test_request_fields_are_checked_with_400s_naming_them(
    app: InProcess, scripted_llm: ScriptedLLM
) -> None:
    pid = await org_with_model(app, scripted_llm)
    code_task = {
        "inline_context": {"runtime": "python", "version": "3.11"},
        "code": "def handler(x):\n    return x",
    }
    bad: list[tuple[dict[str, Any], str]] = [
        ({"parameters": "fast"}, "'parameters'"),
        ({"parameters": [1, 2]}, "'parameters'"),
        ({"extra_messages": ["input.history"]}, "'extra_messages'"),
        ({"extra_messages": "input history"}, "'extra_messages' must be a template path"),
        ({"extra_messages": "input.history", "task": code_task}, "the task is not a prompt"),
        ({"strict": "sometimes"}, "'strict'"),
        ({"stop_token": {"t": 1}}, "'stop_token'"),
    ]
    for change, needle in bad:
        body = {
            "project_id": pid,
            "data": {"data": [{"input": {"question": "2+2"}}]},
            "task": PROMPT,
            "scores": [{"global_function": "ExactMatch"}],
            **change,
        }
        r = await app.client.post("/v1/eval", json=body, headers=app.headers)
        assert r.status_code == 400, (change, r.text)
        assert needle in r.json()["error"]["message"], (change, r.text)
    assert (await app.client.get("/v1/eval", headers=app.headers)).json() == {"objects": []}

    # a row whose extra_messages are not messages fails its cell, naming the path
    scripted_llm.respond_with(lambda req: Reply("4"))
    body = {
        "project_id": pid,
        "data": {
            "data": [{"input": {"question": "2+2", "history": "not messages"}}, {"input": {"question": "3"}}]
        },
        "task": PROMPT,
        "scores": [{"global_function": "ExactMatch"}],
        "parameters": {"lang": "en", "style": "plainly"},
        "extra_messages": "input.history",
    }
    r = await app.client.post("/v1/eval", json=body, headers=app.headers)
    assert r.status_code == 200, r.text
    job = (
        await app.client.get(f"/v1/eval/{r.headers['x-loopline-eval-job-id']}", headers=app.headers)
    ).json()
    assert job["errored"] == 1 and "extra_messages 'input.history'" in job["errors"][0], job
    assert len(scripted_llm.requests) == 1


async def test_a_quiet_stream_sends_keepalive_comments(
    app: InProcess, scripted_llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No proxy cuts a stream as idle while one slow cell runs: comment lines keep it alive."""
    monkeypatch.setattr(eval_routes, "KEEPALIVE_S", 0.2)
    pid = await org_with_model(app, scripted_llm)
    scripted_llm.respond_with(lambda req: Reply("4", delay_s=1.0))
    body = {
        "project_id": pid,
        "data": {"data": [{"input": {"question": "2+2"}, "expected": "4"}]},
        "task": PROMPT,
        "scores": [{"global_function": "ExactMatch"}],
        "parameters": {"lang": "en", "style": "plainly"},
        "stream": True,
    }
    r = await app.client.post("/v1/eval", json=body, headers=app.headers)
    assert r.status_code == 200, r.text
    blocks = [b for b in r.text.split("\n\n") if b]
    assert ": keepalive" in blocks, blocks
    events = [b.split("\n")[0] for b in blocks if b != ": keepalive"]
    assert events[0] == "event: start" and events[-2:] == ["event: summary", "event: done"]
