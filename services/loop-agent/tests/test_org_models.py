"""Models from the org's AI secrets: a conversation's model served through the evaluator's model
gateway (`/v1/proxy`) as the caller, over the real `openai` client (and `anthropic` behind the
gateway), chosen per conversation within the admin's allowlist, never another org's secrets; and
the streaming in-process transport the gateway is reached through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopline.loop_agent.asgi_stream import StreamingASGITransport
from loopline.loop_agent.evaluation import seed
from starlette.types import Receive, Scope, Send

from tests.support.app import InProcess, in_process
from tests.support.llm_server import Fail, Reply, ScriptedLLM, ToolCall

SERVICES = ("gateway", "ingest", "writer", "query", "evaluator", "loop-agent")


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    # no providers of its own: every model comes from the org's AI secrets
    async with in_process(chdb_dsn, tmp_path, SERVICES, loop_agent={"max_iterations": 3}) as p:
        yield p


async def add_secrets(ll: InProcess, llm: ScriptedLLM, headers: dict[str, str] | None = None) -> None:
    for secret in (
        {
            "name": "team-openai",
            "type": "openai",
            "secret": "sk-team-" + "o" * 24,
            "metadata": {"api_base": llm.openai_base_url, "models": ["gpt-4o-mini"], "max_attempts": 1},
        },
        {
            "name": "team-claude",
            "type": "anthropic",
            "secret": "sk-ant-" + "c" * 24,
            "metadata": {"api_base": llm.anthropic_base_url, "max_attempts": 1},
        },
    ):
        r = await ll.client.post("/v1/ai_secret", json=secret, headers=headers or ll.headers)
        assert r.status_code == 200, r.text


async def sse(ll: InProcess, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    from loopline.loop_agent.events import parse_sse

    r = await ll.client.post(path, json=body, headers=headers or ll.headers)
    assert r.status_code == 200, r.text
    return parse_sse(r.text)


async def test_models_come_from_the_orgs_ai_secrets(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    r = await ll.client.post("/v1/loop/conversations", json={"model": "gpt-4o-mini"}, headers=ll.headers)
    assert r.status_code == 400 and "no provider serves it" in r.json()["error"]["message"]
    await add_secrets(ll, scripted_llm)
    listed = (await ll.client.get("/v1/loop/models", headers=ll.headers)).json()
    assert listed["allowed_models"] is None  # no allowlist: whatever the org can call
    assert {(m["id"], m["source"], m["provider"], m["provider_type"]) for m in listed["models"]} == {
        ("gpt-4o-mini", "ai_secret", "team-openai", "openai"),
        ("claude-*", "ai_secret", "team-claude", "anthropic"),
    }
    s = await seed.seed_project(ll.client, ll.headers, "secrets", traces=10)
    page = {"kind": "project_logs", "project_id": s.project_id}

    # OpenAI through the gateway: a tool step, then the answer, streamed as deltas
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("infer_schema", {})]), Reply("The logs have input and output.")
    )
    r = await ll.client.post("/v1/loop/conversations", json={"model": "gpt-4o-mini"}, headers=ll.headers)
    cid = r.json()["id"]
    events = await sse(ll, f"/v1/loop/conversations/{cid}/messages", {"content": "shape?", "page": page})
    assert [e.type for e in events if e.type in ("tool_call_start", "tool_result")] == [
        "tool_call_start",
        "tool_result",
    ]
    assert (
        "".join(e.data["text"] for e in events if e.type == "text_delta") == "The logs have input and output."
    )
    done = events[-1].data
    assert done["status"] == "complete" and done["usage"]["total_tokens"] > 0
    sent = scripted_llm.requests_to("/v1/chat/completions")
    assert len(sent) == 2 and sent[0].api_key == "sk-team-" + "o" * 24  # the secret, not a Loopline key
    assert sent[0].json["tools"] and sent[0].stream

    # the model is chosen per conversation: a Claude model through the org's Anthropic secret
    scripted_llm.push(Reply(tool_calls=[ToolCall("get_summarized_results", {})]), Reply("Summarized."))
    r = await ll.client.post("/v1/loop/conversations", json={"model": "claude-3-5-haiku"}, headers=ll.headers)
    cid2 = r.json()["id"]
    events = await sse(ll, f"/v1/loop/conversations/{cid2}/messages", {"content": "sum up", "page": page})
    assert events[-1].data["status"] == "complete", events
    claude = scripted_llm.requests_to("/v1/messages")
    assert len(claude) == 2 and claude[0].json["tools"][0]["name"] and claude[0].model == "claude-3-5-haiku"

    # the admin's allowlist narrows it; the listing says which are allowed
    r = await ll.client.put(
        "/v1/loop/settings", json={"allowed_models": ["claude-3-5-haiku"]}, headers=ll.headers
    )
    assert r.status_code == 200
    listed = (await ll.client.get("/v1/loop/models", headers=ll.headers)).json()
    assert {m["id"]: m["allowed"] for m in listed["models"]} == {"gpt-4o-mini": False, "claude-*": True}
    r = await ll.client.post(
        f"/v1/loop/conversations/{cid}/messages", json={"content": "hi"}, headers=ll.headers
    )
    assert r.status_code == 400 and "allowlist" in r.json()["error"]["message"]
    r = await ll.client.patch(
        f"/v1/loop/conversations/{cid}", json={"model": "claude-3-5-haiku"}, headers=ll.headers
    )
    assert r.status_code == 200

    # an empty list allows nothing; null clears the org's list (every model again); viewers may not
    r = await ll.client.put("/v1/loop/settings", json={"allowed_models": []}, headers=ll.headers)
    assert r.status_code == 200 and r.json() == {"allowed_models": []}
    listed = (await ll.client.get("/v1/loop/models", headers=ll.headers)).json()
    assert not any(m["allowed"] for m in listed["models"])
    viewer, _ = await ll.keys.create_key(ll.org_id, "viewer", role="viewer")
    r = await ll.client.put(
        "/v1/loop/settings", json={"allowed_models": None}, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert r.status_code == 403
    r = await ll.client.put("/v1/loop/settings", json={"allowed_models": None}, headers=ll.headers)
    assert r.status_code == 200 and r.json() == {"allowed_models": None}
    assert (await ll.client.get("/v1/loop/settings", headers=ll.headers)).json() == {"allowed_models": None}
    listed = (await ll.client.get("/v1/loop/models", headers=ll.headers)).json()
    assert all(m["allowed"] for m in listed["models"]) and listed["allowed_models"] is None
    r = await ll.client.put(
        "/v1/loop/settings", json={"allowed_models": ["claude-3-5-haiku"]}, headers=ll.headers
    )
    assert r.json() == {"allowed_models": ["claude-3-5-haiku"]}

    # a provider failure behind the gateway is an error event naming it, then done
    scripted_llm.push(Fail(529, "Overloaded"))
    events = await sse(ll, f"/v1/loop/conversations/{cid}/messages", {"content": "again"})
    err = [e.data for e in events if e.type == "error"]
    assert len(err) == 1 and "Overloaded" in err[0]["message"] and events[-1].data["status"] == "error"


async def test_another_org_cannot_use_these_secrets(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    await add_secrets(ll, scripted_llm)
    _, key = await ll.new_org("elsewhere")
    h = {"Authorization": f"Bearer {key}"}
    assert (await ll.client.get("/v1/loop/models", headers=h)).json()["models"] == []
    r = await ll.client.post("/v1/loop/conversations", json={"model": "gpt-4o-mini"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"] == "model"
    assert not scripted_llm.requests


async def test_the_streaming_transport_hands_over_chunks_as_they_are_sent() -> None:
    """The app sends a second chunk only after the client has read the first: a transport that
    waited for the app's end would never get there (the guard's timeout fails the test)."""
    read_first = asyncio.Event()
    disconnected = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["body"] == b"ping"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await read_first.wait()
        await send({"type": "http.response.body", "body": b"two", "more_body": True})
        if (await receive())["type"] == "http.disconnect":
            disconnected.set()

    async with httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://x") as client:
        async with client.stream("POST", "/s", content=b"ping") as r:
            assert r.status_code == 200 and r.headers["x-a"] == "1"
            chunks = r.aiter_raw()
            assert await asyncio.wait_for(anext(chunks), 30) == b"one"
            read_first.set()
            assert await asyncio.wait_for(anext(chunks), 30) == b"two"
        # the client closed the response before the app ended: the app is told
        await asyncio.wait_for(disconnected.wait(), 30)

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async with httpx.AsyncClient(transport=StreamingASGITransport(broken), base_url="http://x") as client:
        with pytest.raises(RuntimeError, match="boom"):
            await client.get("/")
