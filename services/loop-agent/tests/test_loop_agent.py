"""The agent end to end: conversations over the real `openai`/`anthropic` clients against the
scripted LLM server, multi-step tool use on a seeded project, confirmation, audit, BTQL repair,
the iteration budget, allowlist refusal, provider failures mid-stream and org isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.loop_agent.evaluation import seed
from loopline.loop_agent.events import parse_sse

from tests.support.app import InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall
from tests.support.loop_chat import agent_settings, last_tool_content, new_conversation, of, turn

SERVICES = ("gateway", "ingest", "writer", "query", "loop-agent")


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, SERVICES, loop_agent=agent_settings(scripted_llm)) as p:
        yield p


async def make_dataset(ll: InProcess, pid: str, name: str) -> str:
    r = await ll.client.post("/v1/dataset", json={"project_id": pid, "name": name}, headers=ll.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def dataset_rows(ll: InProcess, ds: str) -> list[dict[str, Any]]:
    r = await ll.client.post(f"/v1/dataset/{ds}/fetch", json={"limit": 100}, headers=ll.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


async def test_errors_into_a_dataset_with_confirmation_accept_and_reject(
    ll: InProcess, scripted_llm: ScriptedLLM
) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "bot", traces=60)
    pid = s.project_id
    ds = await make_dataset(ll, pid, "X")
    page = {"kind": "project_logs", "project_id": pid}
    query = (
        "select: id, input, error | filter: error IS NOT NULL and span_attributes.name = 'lookup_order' "
        "| sort: id | limit: 5"
    )
    scripted_llm.push(Reply(tool_calls=[ToolCall("analyze", {"name": "top_errors", "days": 14})]))
    scripted_llm.push(Reply(tool_calls=[ToolCall("btql_query", {"query": query})]))

    def responder(seen: Seen) -> Reply:
        last = last_tool_content(seen)
        if "rows" in last:  # the query's rows → records of dataset X
            records = [
                {"input": r["input"], "expected": r["error"], "metadata": {"span_id": r["id"]}}
                for r in last["rows"]
            ]
            return Reply(tool_calls=[ToolCall("edit_data", {"dataset_id": ds, "insert": records})])
        if "rejected" in last:
            return Reply("Understood, I left the dataset as it is.")
        return Reply("I added the five most common lookup_order errors to dataset X.")

    scripted_llm.respond_with(responder)
    cid = await new_conversation(ll, title="errors")
    events = await turn(
        ll, cid, content="find the most common errors and add five of them to dataset X", page=page
    )
    assert [e["name"] for e in of(events, "tool_call_start")] == ["analyze", "btql_query", "edit_data"]
    results = of(events, "tool_result")
    assert [r["ok"] for r in results] == [True, True]
    ask = of(events, "confirmation_required")
    assert len(ask) == 1 and ask[0]["name"] == "edit_data" and "insert 5" in ask[0]["preview"]["action"]
    assert events[-1].data["status"] == "awaiting_confirmation"
    assert await dataset_rows(ll, ds) == []  # nothing written before the user confirms
    # the model saw the analysis: lookup_order tops the blast radius
    assert "lookup_order" in scripted_llm.requests_to("/v1/chat/completions")[1].messages[-1]["content"]

    events = await turn(ll, cid, "confirm", call_id=ask[0]["call_id"], approve=True, page=page)
    assert of(events, "tool_result")[0]["rows_touched"] == 5
    assert "".join(d["text"] for d in of(events, "text_delta")).startswith("I added the five")
    done = events[-1].data
    assert (
        done["status"] == "complete" and done["usage"]["total_tokens"] > 0 and done["usage"]["cost_usd"] > 0
    )
    want = sorted(
        r["id"] for r in s.rows if r.get("error") and r["span_attributes"]["name"] == "lookup_order"
    )[:5]
    rows = await dataset_rows(ll, ds)
    assert sorted(r["metadata"]["span_id"] for r in rows) == want
    assert all("failed" in r["expected"] for r in rows)

    # reject: nothing changes, the model is told
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("edit_data", {"dataset_id": ds, "delete": [rows[0]["id"]]})])
    )
    events = await turn(ll, cid, content="delete the first one", page=page)
    ask = of(events, "confirmation_required")
    assert ask[0]["preview"]["delete"] == [rows[0]["id"]]
    events = await turn(ll, cid, "confirm", call_id=ask[0]["call_id"], approve=False, page=page)
    assert of(events, "tool_result")[0]["outcome"] == "rejected"
    assert events[-1].data["status"] == "complete"
    assert len(await dataset_rows(ll, ds)) == 5
    # a decision about a call nobody waits for is refused
    r = await ll.client.post(
        f"/v1/loop/conversations/{cid}/confirm", json={"call_id": "nope", "approve": True}, headers=ll.headers
    )
    assert r.status_code == 409

    audit = (await ll.client.get(f"/v1/loop/audit?conversation_id={cid}", headers=ll.headers)).json()[
        "objects"
    ]
    outcomes = sorted((a["tool"], a["outcome"], a["rows_touched"]) for a in audit)
    assert outcomes == [
        ("analyze", "ok", 0),
        ("btql_query", "ok", 0),
        ("edit_data", "awaiting_confirmation", 0),
        ("edit_data", "awaiting_confirmation", 0),
        ("edit_data", "ok", 5),
        ("edit_data", "rejected", 0),
    ]
    assert all(a["api_key_id"] for a in audit) and all(a["duration_ms"] >= 0 for a in audit)
    # the conversation, as stored
    conv = (await ll.client.get(f"/v1/loop/conversations/{cid}", headers=ll.headers)).json()
    assert [m["role"] for m in conv["messages"]][:2] == ["user", "assistant"]
    assert conv["messages"][-1]["content"].startswith("Understood")


async def test_btql_repair_after_a_bind_error_and_auto_accept(
    ll: InProcess, scripted_llm: ScriptedLLM
) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "repair", traces=30)
    pid = s.project_id
    bad = f"select: id | from: project_logs('{pid}') | filter: count(error) > 0"  # an aggregate in filter
    good = f"measures: count(error) as errors | from: project_logs('{pid}') | filter: span_attributes.type = 'llm'"
    scripted_llm.push(Reply(tool_calls=[ToolCall("run_btql", {"query": bad})]))

    def responder(seen: Seen) -> Reply:
        last = last_tool_content(seen)
        if last.get("error", {}).get("class") == "BindError":
            return Reply(tool_calls=[ToolCall("run_btql", {"query": good})])
        if "rows" in last and "records_inserted" not in last:
            return Reply(
                tool_calls=[
                    ToolCall(
                        "create_dataset_from_query",
                        {
                            "name": "llm errors",
                            "query": good.replace(
                                "measures: count(error) as errors", "select: id, input, error"
                            ).replace(
                                "span_attributes.type = 'llm'",
                                "span_attributes.type = 'llm' and error IS NOT NULL",
                            ),
                        },
                    )
                ]
            )
        return Reply("Done.")

    scripted_llm.respond_with(responder)
    cid = await new_conversation(ll, model="gpt-4o", auto_accept=True)
    events = await turn(
        ll,
        cid,
        content="count the LLM errors and keep them in a dataset",
        page={"kind": "btql", "project_id": pid, "query": bad, "error": "unknown field"},
    )
    results = of(events, "tool_result")
    assert [r["name"] for r in results] == ["run_btql", "run_btql", "create_dataset_from_query"]
    assert results[0]["outcome"] == "error" and "BindError" in results[0]["summary"]
    assert results[1]["ok"] and results[2]["ok"]
    assert not of(events, "confirmation_required")  # auto-accept
    chat = scripted_llm.requests_to("/v1/chat/completions")
    repair = orjson.loads(chat[1].messages[-1]["content"])
    assert (
        repair["error"]["class"] == "BindError"
        and repair["error"]["line"] == 1
        and repair["repairs_left"] == 2
    )
    assert "fix" in chat[0].messages[0]["content"]  # the sandbox's failing query is in the system prompt
    expected_errors = sum(1 for r in s.rows if r.get("error") and r["span_attributes"]["type"] == "llm")
    assert orjson.loads(chat[2].messages[-1]["content"])["rows"] == [{"errors": expected_errors}]
    # the third model call used the budget (max_iterations = 3); the stored tool result says what was made
    assert events[-1].data["status"] == "budget_exhausted"
    stored = (await ll.client.get(f"/v1/loop/conversations/{cid}", headers=ll.headers)).json()["messages"]
    created = orjson.loads(stored[-1]["content"])
    assert created["records_inserted"] == expected_errors == results[2]["rows_touched"]
    assert len(await dataset_rows(ll, created["dataset_id"])) == expected_errors


async def test_budget_exhausted_then_continue(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "budget", traces=10)
    page = {"kind": "project_logs", "project_id": s.project_id}
    for _ in range(3):  # max_iterations = 3: three tool steps use the budget
        scripted_llm.push(Reply(tool_calls=[ToolCall("get_summarized_results", {})]))
    cid = await new_conversation(ll)
    events = await turn(ll, cid, content="dig", page=page)
    assert events[-2].type == "budget_exhausted" and events[-1].data["status"] == "budget_exhausted"
    assert events[-1].data["iterations"] == 3 and len(of(events, "tool_result")) == 3
    scripted_llm.push(Reply("Here is what I found."))
    events = await turn(ll, cid, "continue", page=page)
    assert events[-1].data["status"] == "complete" and events[-1].data["iterations"] == 1
    last = scripted_llm.requests_to("/v1/chat/completions")[-1].messages
    assert last[-1]["role"] == "tool"  # it went on from the last tool result


async def test_provider_errors_end_the_stream_with_an_error(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    from tests.support.llm_server import Fail

    cid = await new_conversation(ll)
    scripted_llm.push(Reply("this answer will be cut off in the middle", abort_after_chunks=3))
    events = await turn(ll, cid, content="hello")
    assert of(events, "text_delta")
    err = of(events, "error")
    assert len(err) == 1 and err[0]["provider"] == "openai" and err[0]["model"] == "gpt-4o"
    assert events[-1].data["status"] == "error"
    scripted_llm.push(Fail(529, "Overloaded"))
    events = await turn(ll, cid, content="again")
    err = of(events, "error")
    assert err[0]["kind"] == "unavailable" and "529" in err[0]["message"]
    # the conversation goes on after a failure
    scripted_llm.push(Reply("fine now"))
    events = await turn(ll, cid, content="and now?")
    assert events[-1].data["status"] == "complete"


async def test_anthropic_model_with_tools(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "claude", traces=20)
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("analyze", {"name": "provider_errors", "project_id": s.project_id})])
    )
    scripted_llm.push(Reply("Mostly rate limits."))
    cid = await new_conversation(ll, model="claude-3-5-sonnet")
    events = await turn(ll, cid, content="which provider errors?")
    assert of(events, "tool_result")[0]["ok"] and events[-1].data["status"] == "complete"
    sent = scripted_llm.requests_to("/v1/messages")
    assert len(sent) == 2 and sent[0].json["tools"][0]["name"]
    assert any(
        b.get("type") == "tool_result"
        for m in sent[1].json["messages"]
        for b in m["content"]
        if isinstance(b, dict)
    )


async def test_allowlist_crud_and_other_orgs(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    r = await ll.client.post("/v1/loop/conversations", json={"model": "gpt-5-secret"}, headers=ll.headers)
    assert (
        r.status_code == 400
        and "allowlist" in r.json()["error"]["message"]
        and r.json()["error"]["field"] == "model"
    )
    cid = await new_conversation(ll, title="mine")
    r = await ll.client.put(
        "/v1/loop/settings", json={"allowed_models": ["claude-3-5-sonnet"]}, headers=ll.headers
    )
    assert r.status_code == 200
    r = await ll.client.post(
        f"/v1/loop/conversations/{cid}/messages", json={"content": "hi"}, headers=ll.headers
    )
    assert r.status_code == 400 and "gpt-4o" in r.json()["error"]["message"]
    r = await ll.client.patch(
        f"/v1/loop/conversations/{cid}", json={"model": "claude-3-5-sonnet"}, headers=ll.headers
    )
    assert r.status_code == 200 and r.json()["model"] == "claude-3-5-sonnet"
    r = await ll.client.post(
        f"/v1/loop/conversations/{cid}/messages", json={"content": ""}, headers=ll.headers
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "content"

    _, other = await ll.new_org("other")
    h = {"Authorization": f"Bearer {other}"}
    for method, path, body in (
        ("GET", f"/v1/loop/conversations/{cid}", None),
        ("DELETE", f"/v1/loop/conversations/{cid}", None),
        ("PATCH", f"/v1/loop/conversations/{cid}", {"title": "x"}),
        ("POST", f"/v1/loop/conversations/{cid}/messages", {"content": "hi"}),
        ("POST", f"/v1/loop/conversations/{cid}/continue", {}),
    ):
        r = await ll.client.request(method, path, json=body, headers=h)
        assert r.status_code == 404, (method, path, r.text)
    assert (await ll.client.get("/v1/loop/conversations", headers=h)).json()["objects"] == []
    assert (await ll.client.get("/v1/loop/audit", headers=h)).json()["objects"] == []
    listed = (await ll.client.get("/v1/loop/conversations", headers=ll.headers)).json()["objects"]
    assert [c["id"] for c in listed] == [cid]
    assert (await ll.client.delete(f"/v1/loop/conversations/{cid}", headers=ll.headers)).status_code == 200
    assert (await ll.client.get(f"/v1/loop/conversations/{cid}", headers=ll.headers)).status_code == 404
    assert not scripted_llm.requests  # refused before any model call


async def test_tools_act_as_the_caller_and_never_see_other_orgs(
    ll: InProcess, scripted_llm: ScriptedLLM
) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "private", traces=20)
    ds = await make_dataset(ll, s.project_id, "private-ds")
    _, other = await ll.new_org("intruder")
    h = {"Authorization": f"Bearer {other}"}
    r = await ll.client.post("/v1/loop/conversations", json={"auto_accept": True}, headers=h)
    cid = r.json()["id"]
    pid = s.project_id
    scripted_llm.push(
        Reply(
            tool_calls=[
                ToolCall("analyze", {"name": "top_errors", "project_id": pid}),
                ToolCall("run_btql", {"query": f"select: * | from: project_logs('{pid}') | limit: 5"}),
                ToolCall("get_detailed_results", {"object_type": "project_logs", "object_id": pid}),
                ToolCall("infer_schema", {"object_type": "dataset", "object_id": ds}),
                ToolCall("edit_data", {"dataset_id": ds, "insert": [{"input": "planted"}]}),
            ]
        ),
        Reply("I cannot read that project."),
    )
    r = await ll.client.post(f"/v1/loop/conversations/{cid}/messages", json={"content": "show me"}, headers=h)
    events = parse_sse(r.text)
    results = of(events, "tool_result")
    assert len(results) == 5 and not any(x["ok"] for x in results), results
    sent = orjson.dumps([m for q in scripted_llm.requests for m in q.messages]).decode()
    assert "lookup_order" not in sent and "question 1" not in sent
    assert await dataset_rows(ll, ds) == []
    audit = (await ll.client.get(f"/v1/loop/audit?conversation_id={cid}", headers=h)).json()["objects"]
    assert len(audit) == 5 and {a["outcome"] for a in audit} == {"error"}
    # the owner's audit does not list the intruder's calls
    assert (await ll.client.get(f"/v1/loop/audit?conversation_id={cid}", headers=ll.headers)).json()[
        "objects"
    ] == []


async def test_a_conversation_resumes_after_a_restart(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    """A turn waiting for a confirmation is confirmed by a new app over the same store."""
    section = agent_settings(scripted_llm)
    async with in_process(chdb_dsn, tmp_path / "first", SERVICES, loop_agent=section) as ll:
        s = await seed.seed_project(ll.client, ll.headers, "restart", traces=10)
        ds = await make_dataset(ll, s.project_id, "kept")
        scripted_llm.push(
            Reply(tool_calls=[ToolCall("edit_data", {"dataset_id": ds, "insert": [{"input": "a"}]})])
        )
        cid = await new_conversation(ll)
        events = await turn(ll, cid, content="add a row")
        call_id = of(events, "confirmation_required")[0]["call_id"]
        database, key = ll.ctx.settings.database, ll.api_key
    async with in_process(
        chdb_dsn, tmp_path / "second", SERVICES, database=database, bootstrap_api_key=key, loop_agent=section
    ) as again:
        scripted_llm.push(Reply("Added."))
        events = await turn(again, cid, "confirm", call_id=call_id, approve=True)
        assert of(events, "tool_result")[0]["rows_touched"] == 1 and events[-1].data["status"] == "complete"
        assert [r["input"] for r in await dataset_rows(again, ds)] == ["a"]
        conv = (await again.client.get(f"/v1/loop/conversations/{cid}", headers=again.headers)).json()
        assert [m["role"] for m in conv["messages"]] == ["user", "assistant", "tool", "assistant"]


async def test_tools_switched_off_for_a_conversation(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    """Loop's gear menu: a conversation's switched-off tools are not offered to the model, a call of
    one is refused, and switching them on again offers them again."""
    pid = await ll.make_project()
    page = {"kind": "project_logs", "project_id": pid}
    r = await ll.client.post(
        "/v1/loop/conversations", json={"disabled_tools": ["run_btql", "nope"]}, headers=ll.headers
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "disabled_tools", r.text
    assert "nope" in r.json()["error"]["message"]
    r = await ll.client.post(
        "/v1/loop/conversations",
        json={"disabled_tools": ["run_btql", "edit_data", "run_btql"]},
        headers=ll.headers,
    )
    assert r.status_code == 200 and r.json()["disabled_tools"] == ["edit_data", "run_btql"], r.text
    cid = r.json()["id"]

    def offered() -> set[str]:
        return {
            t["function"]["name"] for t in scripted_llm.requests_to("/v1/chat/completions")[-1].json["tools"]
        }

    query = f"select: id | from: project_logs('{pid}') | limit: 1"
    scripted_llm.push(Reply(tool_calls=[ToolCall("run_btql", {"query": query})]), Reply("It is off."))
    events = await turn(ll, cid, content="run a query", page=page)
    assert not {"run_btql", "edit_data"} & offered() and "btql_query" in offered()
    [result] = of(events, "tool_result")
    assert not result["ok"] and "no tool 'run_btql' here" in result["summary"], result
    assert events[-1].data["status"] == "complete"

    # kept with the conversation; another change leaves it; [] switches every tool on again
    conv = (await ll.client.get(f"/v1/loop/conversations/{cid}", headers=ll.headers)).json()
    assert conv["disabled_tools"] == ["edit_data", "run_btql"]
    r = await ll.client.patch(f"/v1/loop/conversations/{cid}", json={"title": "t"}, headers=ll.headers)
    assert r.json()["disabled_tools"] == ["edit_data", "run_btql"]
    r = await ll.client.patch(
        f"/v1/loop/conversations/{cid}", json={"disabled_tools": []}, headers=ll.headers
    )
    assert r.status_code == 200 and r.json()["disabled_tools"] == []
    scripted_llm.push(Reply("All tools again."))
    await turn(ll, cid, content="and now?", page=page)
    assert {"run_btql", "edit_data"} <= offered()


async def test_switched_off_tools_of_any_shape_are_a_400_or_none(ll: InProcess) -> None:
    """`disabled_tools: null` is "none" on create and "no change" on PATCH (it was a 500: the list's
    length bound was applied to null); any other shape, an over-long name or list is a 400."""
    r = await ll.client.post("/v1/loop/conversations", json={"disabled_tools": None}, headers=ll.headers)
    assert r.status_code == 200 and r.json()["disabled_tools"] == [], r.text
    cid = r.json()["id"]
    r = await ll.client.patch(
        f"/v1/loop/conversations/{cid}", json={"disabled_tools": None, "title": "t"}, headers=ll.headers
    )
    assert r.status_code == 200 and r.json()["disabled_tools"] == [] and r.json()["title"] == "t", r.text
    for bad in ("run_btql", 3, True, {"a": 1}, [None], [["run_btql"]], ["x" * 101], ["run_btql"] * 101):
        for method, path in (("POST", "/v1/loop/conversations"), ("PATCH", f"/v1/loop/conversations/{cid}")):
            r = await ll.client.request(method, path, json={"disabled_tools": bad}, headers=ll.headers)
            assert r.status_code == 400, (method, bad, r.text)
            assert r.json()["error"]["field"].startswith("disabled_tools"), r.text
