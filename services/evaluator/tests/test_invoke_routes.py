"""`/function/invoke` and `/v1/function/{id}/invoke` over HTTP (in-process app, the scripted LLM
as the provider): outputs, SSE streams, code in the sandbox, clear 4xx, tenant isolation, and the
invocation's span under its parent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import ALL, InProcess, in_process
from tests.support.llm_server import Fail, Reply, ScriptedLLM, ToolCall


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[InProcess]:
    monkeypatch.setenv("LOOPLINE_SANDBOX__CPU_SECONDS", "1")
    monkeypatch.setenv("LOOPLINE_SANDBOX__WALL_SECONDS", "3")
    async with in_process(chdb_dsn, tmp_path, (*ALL, "evaluator")) as p:
        yield p


async def setup(ll: InProcess, llm: ScriptedLLM) -> dict[str, str]:
    c, h = ll.client, ll.headers
    r = await c.post(
        "/v1/ai_secret",
        json={
            "name": "openai",
            "type": "openai",
            "secret": "sk-t-" + "x" * 20,
            "metadata": {"api_base": llm.openai_base_url},
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    pid = (await c.post("/v1/project", json={"name": "inv-proj"}, headers=h)).json()["id"]
    prompt = {
        "project_id": pid,
        "name": "Chat",
        "slug": "chat",
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": "Q: {{input.question}}"}]},
            "options": {"model": "gpt-4o-mini", "params": {"temperature": 0.1}},
        },
    }
    fn = (await c.post("/v1/prompt", json=prompt, headers=h)).json()
    judge = {
        "project_id": pid,
        "name": "Is Polite",
        "slug": "is-polite",
        "function_type": "scorer",
        "function_data": {"type": "prompt"},
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": "Polite? {{output}}"}]},
            "options": {"model": "gpt-4o-mini"},
            "parser": {"type": "llm_classifier", "use_cot": True, "choice_scores": {"Y": 1, "N": 0}},
        },
    }
    r = await c.post("/v1/function", json=judge, headers=h)
    assert r.status_code == 200, r.text
    exp = (await c.post("/v1/experiment", json={"project_id": pid, "name": "e1"}, headers=h)).json()["id"]
    return {"project_id": pid, "function_id": fn["id"], "experiment_id": exp}


def events_of(text: str) -> list[tuple[str, str]]:
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        name = lines[0].removeprefix("event: ")
        data = "\n".join(line.removeprefix("data:").removeprefix(" ") for line in lines[1:])
        out.append((name, data))
    return out


async def fetch(ll: InProcess, object_type: str, object_id: str, want: int) -> list[dict[str, Any]]:
    """The object's rows once at least `want` are readable (the writer is asynchronous)."""
    rows: list[dict[str, Any]] = []
    for _ in range(100):
        r = await ll.client.post(
            f"/v1/{object_type}/{object_id}/fetch", json={"limit": 100}, headers=ll.headers
        )
        rows = r.json()["events"]
        if len(rows) >= want:
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(rows)} rows of {want} in {object_type} {object_id}")


async def test_invoke_prompt_plain_and_streamed(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    ids = await setup(ll, scripted_llm)
    c, h = ll.client, ll.headers
    body = {
        "api_version": 1,
        "project_name": "inv-proj",
        "slug": "chat",
        "input": {"question": "2+2?"},
        "parent": "",
        "stream": False,
    }
    scripted_llm.push(Reply("four"))
    r = await c.post("/function/invoke", json=body, headers=h)
    assert r.status_code == 200 and r.json() == "four"
    assert scripted_llm.requests_to("/v1/chat/completions")[-1].last_user_text == "Q: 2+2?"
    # by id, on the REST path
    scripted_llm.push(Reply('{"n": 4}'))
    r = await c.post(
        f"/v1/function/{ids['function_id']}/invoke",
        json={"input": {"question": "x"}, "mode": "json"},
        headers=h,
    )
    assert r.status_code == 200 and r.json() == {"n": 4}
    # streamed: start, JSON-encoded text deltas, done
    scripted_llm.push(Reply("Hello there, friend"))
    r = await c.post(
        "/function/invoke", json={**body, "stream": True}, headers={**h, "accept": "text/event-stream"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = events_of(r.text)
    assert events[0] == ("start", "") and events[-1] == ("done", "")
    assert "".join(json.loads(d) for n, d in events if n == "text_delta") == "Hello there, friend"
    # a provider failure while streaming: an error event naming provider and model, then done
    scripted_llm.push(Fail(400, "context too long"))
    events = events_of((await c.post("/function/invoke", json={**body, "stream": True}, headers=h)).text)
    assert [n for n, _ in events] == ["start", "error", "done"]
    assert "context too long" in json.loads(events[1][1]) and "gpt-4o-mini" in json.loads(events[1][1])
    # ... and without streaming, the provider's status with the same message
    scripted_llm.push(Fail(400, "context too long"))
    r = await c.post("/function/invoke", json=body, headers=h)
    assert r.status_code == 400 and "context too long" in r.text and "openai" in r.text
    # no parent: the invocation is a root span in the function's project logs
    logs = await fetch(ll, "project_logs", ids["project_id"], 2)
    fn_spans = [x for x in logs if x["span_attributes"]["type"] == "function" and x["output"] == "four"]
    assert len(fn_spans) == 1 and fn_spans[0]["input"] == {"question": "2+2?"}
    assert fn_spans[0]["metadata"]["function_id"] == ids["function_id"]


async def test_scorers_and_spans_under_a_parent(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    ids = await setup(ll, scripted_llm)
    c, h = ll.client, ll.headers
    parent = {
        "object_type": "experiment",
        "object_id": ids["experiment_id"],
        "row_ids": {"id": "row-1", "span_id": "score-span-1", "root_span_id": "trace-1"},
        "propagated_event": {"span_attributes": {"purpose": "scorer"}},
    }
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("select_choice", {"reasons": "Kind words.", "choice": "Y"})])
    )
    scorer_input = {
        "input": "q",
        "output": "thank you",
        "expected": None,
        "metadata": {},
        "trace": {"trace_ref": {"object_type": "experiment"}},
    }
    r = await c.post(
        "/function/invoke",
        json={
            "project_name": "inv-proj",
            "slug": "is-polite",
            "input": scorer_input,
            "parent": parent,
            "strict": True,
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "Is Polite",
        "score": 1.0,
        "metadata": {"rationale": "Kind words.", "choice": "Y"},
    }
    r = await c.post(
        "/function/invoke",
        json={
            "global_function": "Levenshtein",
            "input": {"output": "abc", "expected": "abd"},
            "parent": parent,
        },
        headers=h,
    )
    assert r.json()["name"] == "Levenshtein" and r.json()["score"] == pytest.approx(2 / 3)
    rows = await fetch(ll, "experiment", ids["experiment_id"], 3)
    judge = next(x for x in rows if x["span_attributes"]["name"] == "Is Polite")
    assert judge["span_attributes"] == {"name": "Is Polite", "type": "score", "purpose": "scorer"}
    assert judge["span_parents"] == ["score-span-1"] and judge["root_span_id"] == "trace-1"
    assert "trace" not in judge["input"] and judge["output"]["score"] == 1
    llm = next(x for x in rows if x["span_attributes"]["type"] == "llm")
    assert llm["span_parents"] == [judge["span_id"]] and llm["metrics"]["tokens"] > 0


async def test_code_functions_in_the_sandbox(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    code = "def handler(a, b):\n    print('adding')\n    return {'sum': a + b}\n"
    body = {
        "inline_context": {"runtime": "python", "version": "3.11"},
        "code": code,
        "input": {"a": 2, "b": 3},
    }
    r = await c.post("/function/invoke", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"sum": 5}
    events = events_of((await c.post("/function/invoke", json={**body, "stream": True}, headers=h)).text)
    assert [n for n, _ in events] == ["start", "console", "json_delta", "done"]
    assert json.loads(events[1][1]) == {"stream": "stdout", "message": "adding\n"}
    # hostile code ends as a clean error, and the next call works
    for hostile, words in (
        ("def handler():\n    while True:\n        pass\n", "time"),
        ("import os\ndef handler():\n    os.kill(os.getppid(), 9)\n    return 1\n", ""),
        ("def handler():\n    raise ValueError('nope')\n", "nope"),
    ):
        r = await c.post("/function/invoke", json={**body, "code": hostile, "input": {}}, headers=h)
        assert r.status_code == 422, r.text
        assert words in r.json()["error"]["message"]
    r = await c.post("/function/invoke", json=body, headers=h)
    assert r.status_code == 200 and r.json() == {"sum": 5}
    r = await c.post("/function/invoke", json={**body, "inline_context": {"runtime": "node"}}, headers=h)
    assert r.status_code == 400 and "python" in r.text


async def test_bad_requests_are_clear_4xx_and_orgs_are_isolated(
    ll: InProcess, scripted_llm: ScriptedLLM
) -> None:
    ids = await setup(ll, scripted_llm)
    c, h = ll.client, ll.headers
    cases: list[tuple[Any, int, str]] = [
        ({"project_name": "inv-proj", "slug": "nope", "input": 1}, 404, "nope"),
        ({"project_name": "no-such-project", "slug": "chat"}, 404, "no-such-project"),
        ({"input": 1}, 400, "name the function"),
        ({"slug": "chat"}, 400, "project_name"),
        ({"global_function": "Levenstein"}, 404, "Levenshtein"),
        ({"project_name": "inv-proj", "slug": "chat", "mode": "fast"}, 400, "mode"),
        ({"project_name": "inv-proj", "slug": "chat", "parent": "!!"}, 400, "parent"),
        (
            {
                "project_name": "inv-proj",
                "slug": "chat",
                "parent": {"object_type": "experiment", "object_id": "nope"},
            },
            404,
            "nope",
        ),
        ({"project_name": "inv-proj", "slug": "chat", "metadata": [1]}, 400, "metadata"),
        ([1, 2], 400, "object"),
    ]
    for body, status, words in cases:
        r = await c.post("/function/invoke", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert words in r.text, (body, r.text)
    r = await c.post("/function/invoke", content=b"{not json", headers=h)
    assert r.status_code == 400
    # strict: a missing variable is a 400 naming it, and nothing reaches the model
    before = len(scripted_llm.requests)
    r = await c.post(
        "/function/invoke",
        json={"project_name": "inv-proj", "slug": "chat", "input": {}, "strict": True},
        headers=h,
    )
    assert r.status_code == 400 and "input.question" in r.text
    assert len(scripted_llm.requests) == before
    # another org sees none of it
    _, other_key = await ll.new_org("other-org")
    o = {"Authorization": f"Bearer {other_key}"}
    r = await c.post(f"/v1/function/{ids['function_id']}/invoke", json={"input": {}}, headers=o)
    assert r.status_code == 404
    r = await c.post("/function/invoke", json={"project_name": "inv-proj", "slug": "chat"}, headers=o)
    assert r.status_code == 404
    parent = {"object_type": "experiment", "object_id": ids["experiment_id"]}
    r = await c.post(
        "/function/invoke", json={"global_function": "ExactMatch", "input": {}, "parent": parent}, headers=o
    )
    assert r.status_code == 404 and ids["experiment_id"] in r.text


async def test_messages_overrides_and_the_execution_project(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    ids = await setup(ll, scripted_llm)
    c, h = ll.client, ll.headers
    inline = {
        "prompt": {"type": "chat", "messages": [{"role": "system", "content": "Be brief about {{input}}."}]},
        "options": {"model": "gpt-4o-mini"},
    }
    scripted_llm.push(Reply("sure"))
    r = await c.post(
        "/function/invoke",
        json={"inline_prompt": inline, "input": "cats", "messages": [{"role": "user", "content": "go on"}]},
        headers={**h, "x-bt-project-id": ids["project_id"]},
    )
    assert r.status_code == 200 and r.json() == "sure"
    sent = scripted_llm.requests_to("/v1/chat/completions")[-1].json["messages"]
    assert sent == [
        {"role": "system", "content": "Be brief about cats."},
        {"role": "user", "content": "go on"},
    ]
    # overrides reach a global scorer's config: the judge model
    scripted_llm.push(Reply(tool_calls=[ToolCall("select_choice", {"reasons": "same", "choice": "C"})]))
    r = await c.post(
        "/function/invoke",
        json={
            "global_function": "Factuality",
            "input": {"input": "q", "output": "a", "expected": "a"},
            "overrides": {"config": {"model": "gpt-4o"}},
        },
        headers=h,
    )
    assert r.status_code == 200 and r.json()["score"] == 1
    assert scripted_llm.requests_to("/v1/chat/completions")[-1].json["model"] == "gpt-4o"
    # an inline invocation without a parent is logged in the x-bt-project-id project
    logs = await fetch(ll, "project_logs", ids["project_id"], 2)
    assert any(x["span_attributes"]["name"] == "inline prompt" and x["output"] == "sure" for x in logs)
    r = await c.post(
        "/function/invoke",
        json={"inline_prompt": inline, "input": "x"},
        headers={**h, "x-bt-project-id": "no-such-project"},
    )
    assert r.status_code == 404 and "x-bt-project-id" in r.text
