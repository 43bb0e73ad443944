"""Loop against `loopline up`, embedded and on Kafka: a streamed conversation whose model comes
from the org's AI secret (the scripted OpenAI server behind the model gateway), that analyses the
seeded logs, queries them, asks to add five errors to a dataset, and writes them once the user
accepts; the rows are read back and the conversation is stored."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from loopline.loop_agent.evaluation import seed
from loopline.loop_agent.events import Event, parse_sse

from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall
from tests.support.loop_chat import last_tool_content
from tests.support.running import RunningLoopline


def _turn(c: httpx.Client, path: str, body: dict[str, Any]) -> list[Event]:
    r = c.post(path, json=body, timeout=120)
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    assert events and events[-1].type == "done", events
    return events


def _of(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == kind]


async def _seed(server: RunningLoopline, name: str) -> seed.SeedRows:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        return await seed.seed_project(c, server.headers, name, traces=60)


def test_a_streamed_conversation_with_tools_and_a_confirmed_write(
    server: RunningLoopline, scripted_llm: ScriptedLLM
) -> None:
    c = httpx.Client(base_url=server.url, headers=server.headers, timeout=60)
    secret = f"openai-{uuid.uuid4().hex[:6]}"
    body = {
        "name": secret,
        "type": "openai",
        "secret": "sk-loop-" + "x" * 20,
        "metadata": {"api_base": scripted_llm.openai_base_url, "models": ["gpt-4o-mini"], "max_attempts": 1},
    }
    assert c.post("/v1/ai_secret", json=body).status_code == 200
    try:
        s = asyncio.run(_seed(server, f"loop-{uuid.uuid4().hex[:8]}"))
        pid = s.project_id
        r = c.post("/v1/dataset", json={"project_id": pid, "name": "X"})
        assert r.status_code == 200, r.text
        ds = r.json()["id"]
        page = {"kind": "project_logs", "project_id": pid}
        query = (
            "select: id, input, error | filter: error IS NOT NULL and span_attributes.name = 'lookup_order' "
            "| sort: id | limit: 5"
        )
        scripted_llm.push(Reply(tool_calls=[ToolCall("analyze", {"name": "top_errors", "days": 14})]))
        scripted_llm.push(Reply(tool_calls=[ToolCall("btql_query", {"query": query})]))

        def responder(seen: Seen) -> Reply:
            last = last_tool_content(seen)
            if "rows" in last:
                records = [
                    {"input": row["input"], "expected": row["error"], "metadata": {"span_id": row["id"]}}
                    for row in last["rows"]
                ]
                return Reply(tool_calls=[ToolCall("edit_data", {"dataset_id": ds, "insert": records})])
            return Reply("I added the five most common lookup_order errors to dataset X.")

        scripted_llm.respond_with(responder)
        r = c.post("/v1/loop/conversations", json={"model": "gpt-4o-mini", "title": "errors"})
        assert r.status_code == 200, r.text
        cid = r.json()["id"]
        events = _turn(
            c,
            f"/v1/loop/conversations/{cid}/messages",
            {"content": "find the most common errors and add five of them to dataset X", "page": page},
        )
        assert [e["name"] for e in _of(events, "tool_call_start")] == ["analyze", "btql_query", "edit_data"]
        ask = _of(events, "confirmation_required")
        assert len(ask) == 1 and events[-1].data["status"] == "awaiting_confirmation"
        events = _turn(
            c,
            f"/v1/loop/conversations/{cid}/confirm",
            {"call_id": ask[0]["call_id"], "approve": True, "page": page},
        )
        assert _of(events, "tool_result")[0]["rows_touched"] == 5
        assert "".join(d["text"] for d in _of(events, "text_delta")).startswith("I added the five")
        assert events[-1].data["status"] == "complete" and events[-1].data["usage"]["total_tokens"] > 0
        rows = c.post(f"/v1/dataset/{ds}/fetch", json={"limit": 100}).json()["events"]
        want = sorted(
            r["id"] for r in s.rows if r.get("error") and r["span_attributes"]["name"] == "lookup_order"
        )[:5]
        assert sorted(r["metadata"]["span_id"] for r in rows) == want
        sent = scripted_llm.requests_to("/v1/chat/completions")
        assert sent and all(x.api_key == "sk-loop-" + "x" * 20 for x in sent)  # the org's secret

        # the conversation persists with its messages (another org's 404 is tested in-process:
        # services/loop-agent/tests)
        history = c.get(f"/v1/loop/conversations/{cid}")
        assert history.status_code == 200, history.text
        assert "I added the five" in history.text
    finally:
        c.request("DELETE", "/v1/ai_secret", json={"name": secret})
        c.close()
