"""Talking to the loop agent in tests: its settings section for the scripted LLM server, a
conversation, one streamed turn, and what the model was shown."""

from __future__ import annotations

from typing import Any

import orjson
from loopline.loop_agent.events import Event, parse_sse

from tests.support.app import InProcess
from tests.support.llm_server import ScriptedLLM, Seen


def agent_settings(llm: ScriptedLLM, **overrides: Any) -> dict[str, Any]:
    """The loop agent's settings section: both wires of the scripted server, no retries."""
    providers = [
        {
            "name": "openai",
            "kind": "openai",
            "api_key": "k",
            "base_url": llm.openai_base_url,
            "max_attempts": 1,
        },
        {
            "name": "anthropic",
            "kind": "anthropic",
            "api_key": "k",
            "base_url": llm.anthropic_base_url,
            "max_attempts": 1,
        },
    ]
    return {
        "providers": providers,
        "allowed_models": ["gpt-4o", "claude-3-5-sonnet"],
        "default_model": "gpt-4o",
        "max_iterations": 3,
        "btql_repairs": 2,
        **overrides,
    }


async def new_conversation(ll: InProcess, headers: dict[str, str] | None = None, **body: Any) -> str:
    r = await ll.client.post("/v1/loop/conversations", json=body, headers=headers or ll.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def turn(
    ll: InProcess, cid: str, what: str = "messages", headers: dict[str, str] | None = None, **body: Any
) -> list[Event]:
    """One streamed turn (`messages`, `confirm` or `continue`); its events, ending with `done`."""
    r = await ll.client.post(f"/v1/loop/conversations/{cid}/{what}", json=body, headers=headers or ll.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert events and events[-1].type == "done", events
    return events


def of(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == kind]


def _decoded(content: Any) -> Any:
    if isinstance(content, list):  # Anthropic: text blocks
        content = "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    try:
        return orjson.loads(content)
    except (orjson.JSONDecodeError, TypeError):
        return content


def tool_outputs(seen: Seen) -> dict[str, Any]:
    """The tool results the model was shown in a request (OpenAI `tool` messages or Anthropic
    `tool_result` blocks), by tool call id, decoded from JSON."""
    out = {}
    for m in seen.messages:
        if m.get("role") == "tool":
            out[str(m["tool_call_id"])] = _decoded(m["content"])
        elif m.get("role") == "user" and isinstance(m.get("content"), list):
            for b in m["content"]:
                if isinstance(b, dict) and b.get("type") == "tool_result":
                    out[str(b["tool_use_id"])] = _decoded(b.get("content"))
    return out


def last_tool_content(seen: Seen) -> dict[str, Any]:
    """The last tool result the model was shown in this turn (OpenAI wire), decoded; {} if none."""
    for m in reversed(seen.messages):
        if m.get("role") == "tool":
            out = orjson.loads(m["content"])
            return out if isinstance(out, dict) else {}
        if m.get("role") == "user":
            return {}
    return {}
