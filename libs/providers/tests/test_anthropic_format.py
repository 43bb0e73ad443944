"""OpenAI chat requests translated for Anthropic, and Anthropic answers and streams translated back."""

from __future__ import annotations

from typing import Any

import pytest
from loopline.providers.anthropic_format import (
    StreamTranslator,
    TranslationError,
    from_anthropic,
    to_anthropic,
)


def test_request_translation() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "wx", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "-3C"},
            {"role": "user", "content": "and tomorrow?"},
        ],
        "temperature": 1.5,
        "max_completion_tokens": 50,
        "stop": "END",
        "tools": [
            {
                "type": "function",
                "function": {"name": "wx", "description": "weather", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "wx"}},
        "parallel_tool_calls": False,
    }
    p = to_anthropic(body)
    assert p["system"] == "Be brief."
    assert p["max_tokens"] == 50 and p["temperature"] == 1.0 and p["stop_sequences"] == ["END"]
    assert p["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
    }
    assert p["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "c1", "name": "wx", "input": {"city": "Oslo"}}],
    }
    # the tool result and the next user turn are one user message (roles alternate)
    assert p["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "-3C"},
        {"type": "text", "text": "and tomorrow?"},
    ]
    assert p["tools"] == [{"name": "wx", "description": "weather", "input_schema": {"type": "object"}}]
    assert p["tool_choice"] == {"type": "tool", "name": "wx", "disable_parallel_tool_use": True}


def test_untranslatable_requests() -> None:
    with pytest.raises(TranslationError, match="n > 1"):
        to_anthropic({"model": "c", "messages": [], "n": 2})
    with pytest.raises(TranslationError, match="not JSON"):
        to_anthropic(
            {
                "model": "c",
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": "{"}}],
                    }
                ],
            }
        )


def test_response_translation() -> None:
    msg = {
        "id": "msg_1",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "t1", "name": "wx", "input": {"c": 1}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 4, "cache_read_input_tokens": 2},
    }
    out = from_anthropic(msg, "claude-x")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me look."
    assert choice["message"]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "wx", "arguments": '{"c":1}'}}
    ]
    assert out["usage"] == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
    assert (
        from_anthropic({"content": [], "stop_reason": "max_tokens"}, "m")["choices"][0]["finish_reason"]
        == "length"
    )


def test_stream_translation() -> None:
    t = StreamTranslator("claude-x")
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {"id": "msg_9", "usage": {"input_tokens": 5, "output_tokens": 1}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "1}"},
        },
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
    ]
    chunks = [c for e in events for c in t.feed(e)]
    assert all(c["id"] == "msg_9" and c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"content": "Hi"}
    assert deltas[2]["tool_calls"][0]["function"] == {"name": "f", "arguments": ""}
    assert "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[3:5]) == '{"a":1}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 7,
        "total_tokens": 12,
    }
