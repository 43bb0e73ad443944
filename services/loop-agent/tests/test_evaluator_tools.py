"""The evaluator tools against the evaluator's real API (in-process, as the caller), driven by the
scripted model through the real `openai` client: get scorers, create code / LLM-judge scorers,
edit the playground's scorers, edit a prompt — each write confirmed (accept and reject), read back
from the API; availability by page; another org's prompt and project stay out of reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall
from tests.support.loop_chat import agent_settings, new_conversation, of, tool_outputs, turn

SERVICES = ("gateway", "ingest", "writer", "query", "evaluator", "loop-agent")
JUDGE = "Is the answer {{output}} correct for {{input}} given {{expected}}? Answer Y or N."
CODE = "def handler(output, expected):\n    return 1.0 if output == expected else 0.0\n"


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM) -> AsyncIterator[InProcess]:
    section = agent_settings(scripted_llm, max_iterations=4)
    async with in_process(chdb_dsn, tmp_path, SERVICES, loop_agent=section) as p:
        yield p


async def playground(ll: InProcess, headers: dict[str, str] | None = None) -> dict[str, Any]:
    h = headers or ll.headers
    pid = (await ll.client.post("/v1/project", json={"name": "pg"}, headers=h)).json()["id"]
    prompt = {
        "project_id": pid,
        "name": "Answerer",
        "slug": "answerer",
        "function_data": {"type": "prompt"},
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": "Answer: {{input}}"}]},
            "options": {"model": "gpt-4o-mini"},
        },
    }
    r = await ll.client.post("/v1/prompt", json=prompt, headers=h)
    assert r.status_code == 200, r.text
    ds = (await ll.client.post("/v1/dataset", json={"project_id": pid, "name": "qa"}, headers=h)).json()["id"]
    return {
        "kind": "playground",
        "project_id": pid,
        "object_id": r.json()["id"],
        "dataset_id": ds,
        "scorers": [],
    }


async def propose(
    ll: InProcess,
    llm: ScriptedLLM,
    cid: str,
    page: dict[str, Any],
    tool: str,
    args: dict[str, Any],
    approve: bool,
) -> tuple[dict[str, Any], list[Any]]:
    """The model proposes one write; the user decides; the model answers. The confirmation request
    and the decision turn's events."""
    llm.push(Reply(tool_calls=[ToolCall(tool, args, id=f"c-{tool}-{approve}")]))
    events = await turn(ll, cid, content=f"please {tool}", page=page)
    ask = of(events, "confirmation_required")
    assert (
        len(ask) == 1 and ask[0]["name"] == tool and events[-1].data["status"] == "awaiting_confirmation"
    ), events
    llm.push(Reply("Done." if approve else "Left as it is."))
    decided = await turn(ll, cid, "confirm", call_id=ask[0]["call_id"], approve=approve, page=page)
    result = of(decided, "tool_result")[0]
    assert result["outcome"] == ("ok" if approve else "rejected"), result
    return ask[0], decided


async def scorers(ll: InProcess, pid: str) -> dict[str, dict[str, Any]]:
    r = await ll.client.get(f"/v1/function?project_id={pid}&function_type=scorer", headers=ll.headers)
    return {f["slug"]: f for f in r.json()["objects"]}


async def test_scorer_tools_with_confirmation(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    page = await playground(ll)
    pid = page["project_id"]
    cid = await new_conversation(ll)

    judge = {"name": "Correct", "prompt": JUDGE, "choice_scores": {"Y": 1, "N": 0}}
    ask, _ = await propose(ll, scripted_llm, cid, page, "create_llm_judge_scorer", judge, approve=False)
    assert ask["preview"]["action"].startswith("create 'Correct'") and await scorers(ll, pid) == {}
    await propose(ll, scripted_llm, cid, page, "create_llm_judge_scorer", judge, approve=True)
    saved = (await scorers(ll, pid))["correct"]
    pd = saved["prompt_data"]
    assert saved["function_type"] == "scorer" and saved["function_data"] == {"type": "prompt"}
    assert pd["parser"] == {"type": "llm_classifier", "use_cot": True, "choice_scores": {"Y": 1, "N": 0}}
    assert pd["options"]["model"] == "gpt-4o" and pd["prompt"]["messages"][0]["content"] == JUDGE

    # editing it (same slug) replaces it with a new version; the preview shows the current one
    edit = {**judge, "choice_scores": {"Y": 1, "Partly": 0.5, "N": 0}}
    ask, _ = await propose(ll, scripted_llm, cid, page, "create_llm_judge_scorer", edit, approve=True)
    assert "replace" in ask["preview"]["action"] and ask["preview"]["current"]["id"] == saved["id"]
    again = (await scorers(ll, pid))["correct"]
    assert again["id"] == saved["id"] and again["_xact_id"] != saved["_xact_id"]
    assert again["prompt_data"]["parser"]["choice_scores"]["Partly"] == 0.5

    code = {"name": "Exact", "code": CODE}
    await propose(ll, scripted_llm, cid, page, "create_code_scorer", code, approve=False)
    assert "exact" not in await scorers(ll, pid)
    await propose(ll, scripted_llm, cid, page, "create_code_scorer", code, approve=True)
    data = (await scorers(ll, pid))["exact"]["function_data"]["data"]
    assert (
        data["type"] == "inline" and data["code"] == CODE and data["runtime_context"]["runtime"] == "python"
    )

    # get_scorers sees both, and the globals; a broken code scorer is refused before any write
    scripted_llm.push(
        Reply(
            tool_calls=[
                ToolCall("get_scorers", {"details": True}, id="g"),
                ToolCall("create_code_scorer", {"name": "Bad", "code": "def nope(:"}, id="bad"),
            ]
        ),
        Reply("Two scorers."),
    )
    events = await turn(ll, cid, content="which scorers?", page={**page, "scorers": ["correct"]})
    results = of(events, "tool_result")
    assert [r["ok"] for r in results] == [True, False] and not of(events, "confirmation_required")
    assert "does not parse: line 1" in results[1]["summary"]  # refused before the user is asked
    out = tool_outputs(scripted_llm.requests_to("/v1/chat/completions")[-1])
    listed = {s["slug"]: s for s in out["g"]["project_scorers"]}
    assert listed["correct"]["kind"] == "llm_judge" and listed["exact"]["kind"] == "code"
    assert listed["exact"]["code"] == CODE and "Factuality" in out["g"]["global_scorers"]
    assert out["g"]["selected_in_playground"] == ["correct"]


async def test_edit_scorers_and_edit_prompt(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    page = await playground(ll)
    cid = await new_conversation(ll)
    ask, _ = await propose(
        ll, scripted_llm, cid, page, "edit_scorers", {"scorers": ["Factuality", "levenshtein"]}, approve=False
    )
    assert ask["preview"]["added"] == ["Factuality", "levenshtein"]
    _, events = await propose(
        ll, scripted_llm, cid, page, "edit_scorers", {"scorers": ["Factuality", "levenshtein"]}, approve=True
    )
    assert of(events, "page_update") == [{"scorers": ["Factuality", "levenshtein"]}]
    # an unknown scorer is refused before the user is asked
    scripted_llm.push(Reply(tool_calls=[ToolCall("edit_scorers", {"scorers": ["NoSuch"]})]), Reply("Sorry."))
    events = await turn(ll, cid, content="use NoSuch", page=page)
    assert (
        not of(events, "confirmation_required")
        and "no scorer named 'NoSuch'" in of(events, "tool_result")[0]["summary"]
    )

    new_messages = [
        {"role": "system", "content": "You answer in one sentence."},
        {"role": "user", "content": "Question: {{input}}"},
    ]
    change = {"messages": new_messages, "params": {"temperature": 0.2}}
    before = (await ll.client.get(f"/v1/prompt/{page['object_id']}", headers=ll.headers)).json()
    ask, _ = await propose(ll, scripted_llm, cid, page, "edit_prompt", change, approve=False)
    assert ask["preview"]["before"] == before["prompt_data"]
    assert ask["preview"]["after"]["prompt"]["messages"] == new_messages
    unchanged = (await ll.client.get(f"/v1/prompt/{page['object_id']}", headers=ll.headers)).json()
    assert unchanged["_xact_id"] == before["_xact_id"]
    await propose(ll, scripted_llm, cid, page, "edit_prompt", change, approve=True)
    after = (await ll.client.get(f"/v1/prompt/{page['object_id']}", headers=ll.headers)).json()
    assert (
        after["_xact_id"] != before["_xact_id"] and after["prompt_data"]["prompt"]["messages"] == new_messages
    )
    assert after["prompt_data"]["options"] == {"model": "gpt-4o-mini", "params": {"temperature": 0.2}}

    # no prompt in view: edit_prompt writes a new one (auto-accept: no confirmation)
    auto = await new_conversation(ll, auto_accept=True)
    logs_page = {"kind": "none", "project_id": page["project_id"]}
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("edit_prompt", {"name": "Summarizer", "messages": new_messages[:1]})]),
        Reply("Written."),
    )
    events = await turn(ll, auto, content="write me a summarizer prompt", page=logs_page)
    assert of(events, "tool_result")[0]["ok"] and not of(events, "confirmation_required")
    r = await ll.client.get(f"/v1/prompt?project_id={page['project_id']}&slug=summarizer", headers=ll.headers)
    assert r.json()["objects"][0]["prompt_data"]["options"]["model"] == "gpt-4o"


async def test_page_availability_and_other_orgs(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    page = await playground(ll)
    cid = await new_conversation(ll)
    logs = {"kind": "project_logs", "project_id": page["project_id"]}
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("edit_prompt", {"prompt_id": page["object_id"], "model": "gpt-4o"})]),
        Reply("Not here."),
    )
    events = await turn(ll, cid, content="switch the model", page=logs)
    assert "no tool 'edit_prompt' here" in of(events, "tool_result")[0]["summary"]
    offered = {
        t["function"]["name"] for t in scripted_llm.requests_to("/v1/chat/completions")[0].json["tools"]
    }
    assert "create_llm_judge_scorer" in offered and not offered & {"edit_prompt", "run_eval", "edit_scorers"}

    _, key = await ll.new_org("intruder")
    h = {"Authorization": f"Bearer {key}"}
    theirs = await new_conversation(ll, headers=h, auto_accept=True)
    scripted_llm.push(
        Reply(
            tool_calls=[
                ToolCall("get_scorers", {"project_id": page["project_id"]}, id="g"),
                ToolCall("edit_prompt", {"prompt_id": page["object_id"], "model": "gpt-4o"}, id="e"),
                ToolCall(
                    "create_code_scorer",
                    {"name": "X", "code": CODE, "project_id": page["project_id"]},
                    id="c",
                ),
            ]
        ),
        Reply("I cannot."),
    )
    events = await turn(ll, theirs, headers=h, content="touch their playground", page={**page})
    results = of(events, "tool_result")
    assert len(results) == 3 and not any(r["ok"] for r in results), results
    out = tool_outputs(scripted_llm.requests_to("/v1/chat/completions")[-1])
    assert "Answer: {{input}}" not in str(out)
    prompt = (await ll.client.get(f"/v1/prompt/{page['object_id']}", headers=ll.headers)).json()
    assert prompt["prompt_data"]["options"]["model"] == "gpt-4o-mini"
    assert await scorers(ll, page["project_id"]) == {}


QUESTIONS = {"2+2": "4", "3*3": "9", "10-7": "3"}


def loop_and_task(seen: Seen) -> Reply:
    """Loop's model (its requests offer run_eval) asks to run the eval, then reports; the eval's
    task model answers each question."""
    tools = (
        [t["function"]["name"] for t in (seen.json.get("tools") or [])] if isinstance(seen.json, dict) else []
    )
    if "run_eval" in tools:
        last = seen.messages[-1]
        if last.get("role") == "tool":
            return Reply("The eval ran: ExactMatch 1.0.")
        return Reply(tool_calls=[ToolCall("run_eval", {"experiment_name": "loop-run"})])
    return Reply(QUESTIONS[seen.last_user_text])


async def test_run_eval_with_confirmation(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    r = await ll.client.post(
        "/v1/ai_secret",
        json={
            "name": "OPENAI",
            "type": "openai",
            "secret": "sk-t-" + "x" * 24,
            "metadata": {"api_base": scripted_llm.openai_base_url},
        },
        headers=ll.headers,
    )
    assert r.status_code == 200, r.text
    page = await playground(ll)
    pid, ds = page["project_id"], page["dataset_id"]
    r = await ll.client.patch(
        f"/v1/prompt/{page['object_id']}",
        json={
            "prompt_data": {
                "prompt": {"type": "chat", "messages": [{"role": "user", "content": "{{input.question}}"}]},
                "options": {"model": "gpt-4o-mini"},
            }
        },
        headers=ll.headers,
    )
    assert r.status_code == 200, r.text
    events = [{"input": {"question": q}, "expected": a} for q, a in QUESTIONS.items()]
    assert (
        await ll.client.post(f"/v1/dataset/{ds}/insert", json={"events": events}, headers=ll.headers)
    ).status_code == 200
    page["scorers"] = ["exact_match"]  # a global scorer, however it is spelled
    scripted_llm.respond_with(loop_and_task)
    cid = await new_conversation(ll)

    ask = await turn(ll, cid, content="run the eval", page=page)
    request = of(ask, "confirmation_required")[0]
    assert "run an eval of 'Answerer' on dataset 'qa' with 1 scorers" in request["preview"]["action"]
    assert request["preview"]["request"]["scores"] == [{"global_function": "ExactMatch"}]
    await turn(ll, cid, "confirm", call_id=request["call_id"], approve=False, page=page)
    assert (await ll.client.get(f"/v1/eval?project_id={pid}", headers=ll.headers)).json()["objects"] == []

    ask = await turn(ll, cid, content="run it after all", page=page)
    request = of(ask, "confirmation_required")[0]
    done = await turn(ll, cid, "confirm", call_id=request["call_id"], approve=True, page=page)
    result = of(done, "tool_result")[0]
    assert (
        result["ok"] and "ExactMatch 1.00" in result["summary"] and done[-1].data["status"] == "complete"
    ), done
    jobs = (await ll.client.get(f"/v1/eval?project_id={pid}", headers=ll.headers)).json()["objects"]
    assert len(jobs) == 1 and jobs[0]["status"] == "succeeded"
    seen = tool_outputs(scripted_llm.requests_to("/v1/chat/completions")[-1])
    summary = next(iter(v for v in seen.values() if isinstance(v, dict) and "scores" in v))
    assert (
        summary["experiment_name"].startswith("loop-run") and summary["scores"]["ExactMatch"]["score"] == 1.0
    )
