"""OpenAI chat format ↔ Anthropic Messages format (pure functions, no I/O).

Callers speak OpenAI's chat format; an Anthropic provider gets the request translated here and
its answer (or stream of events) translated back, so a client cannot tell the difference.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

DEFAULT_MAX_TOKENS = 4096

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class TranslationError(ValueError):
    """The OpenAI request has something Anthropic cannot express."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _image_block(part: Mapping[str, Any]) -> dict[str, Any]:
    url = str((part.get("image_url") or {}).get("url", ""))
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif part.get("type") == "image_url":
            blocks.append(_image_block(part))
        else:
            raise TranslationError(f"message content part of type {part.get('type')!r} has no Anthropic form")
    return blocks


def _assistant_blocks(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text(msg.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for tc in msg.get("tool_calls") or []:
        fn = tc.get("function") or {}
        raw = fn.get("arguments") or "{}"
        try:
            args = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise TranslationError(f"tool call {tc.get('id')!r} has arguments that are not JSON") from exc
        blocks.append({"type": "tool_use", "id": tc.get("id", ""), "name": fn.get("name", ""), "input": args})
    return blocks


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        raise TranslationError(f"tool_choice {choice!r} is not understood")
    if parallel is False:
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


def to_anthropic(body: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic `messages.create` parameters for an OpenAI chat request body."""
    if int(body.get("n") or 1) != 1:
        raise TranslationError("n > 1 (several choices) is not supported by Anthropic models")
    system: list[str] = []
    messages: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if messages and messages[-1]["role"] == role:  # Anthropic alternates roles: merge
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})

    for m in body.get("messages") or []:
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_text(m.get("content")))
        elif role == "user":
            add("user", _user_blocks(m.get("content")))
        elif role == "assistant":
            blocks = _assistant_blocks(m)
            if blocks:
                add("assistant", blocks)
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": m.get("tool_call_id", ""),
                "content": _text(m.get("content")),
            }
            add("user", [result])
        else:
            raise TranslationError(f"message role {role!r} is not understood")
    params: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "max_tokens": int(body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS),
    }
    if system:
        params["system"] = "\n\n".join(s for s in system if s)
    if body.get("temperature") is not None:
        params["temperature"] = min(float(body["temperature"]), 1.0)  # Anthropic's range is 0..1
    if body.get("top_p") is not None:
        params["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = [t for t in body.get("tools") or [] if t.get("type", "function") == "function"]
    if tools:
        params["tools"] = [
            {
                "name": (t.get("function") or {}).get("name", ""),
                "description": (t.get("function") or {}).get("description", ""),
                "input_schema": (t.get("function") or {}).get("parameters")
                or {"type": "object", "properties": {}},
            }
            for t in tools
        ]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and tools:
        params["tool_choice"] = choice
    if body.get("user"):
        params["metadata"] = {"user_id": str(body["user"])}
    return params


def usage_from_anthropic(usage: Mapping[str, Any]) -> dict[str, int]:
    prompt = int(usage.get("input_tokens") or 0)
    prompt += int(usage.get("cache_read_input_tokens") or 0) + int(
        usage.get("cache_creation_input_tokens") or 0
    )
    completion = int(usage.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def from_anthropic(message: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The OpenAI `chat.completion` for an Anthropic message."""
    text = "".join(b.get("text", "") for b in message.get("content", []) if b.get("type") == "text")
    calls = [
        {
            "id": b.get("id", ""),
            "type": "function",
            "function": {"name": b.get("name", ""), "arguments": orjson.dumps(b.get("input", {})).decode()},
        }
        for b in message.get("content", [])
        if b.get("type") == "tool_use"
    ]
    out_msg: dict[str, Any] = {
        "role": "assistant",
        "content": text or (None if calls else ""),
        "refusal": None,
    }
    if calls:
        out_msg["tool_calls"] = calls
    return {
        "id": str(message.get("id", "")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": out_msg,
                "logprobs": None,
                "finish_reason": _FINISH.get(str(message.get("stop_reason")), "stop"),
            }
        ],
        "usage": usage_from_anthropic(message.get("usage") or {}),
    }


class StreamTranslator:
    """Anthropic stream events in, OpenAI `chat.completion.chunk` objects out (`feed` per event)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = ""
        self.created = int(time.time())
        self.usage: dict[str, Any] = {}
        self._tool_index: dict[int, int] = {}  # Anthropic block index → OpenAI tool call index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.id = str(message.get("id", ""))
            self.usage = dict(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = len(self._tool_index)
                self._tool_index[int(event.get("index", 0))] = index
                call = {
                    "index": index,
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "input_json_delta":
                index = self._tool_index.get(int(event.get("index", 0)), 0)
                args = {"index": index, "function": {"arguments": delta.get("partial_json", "")}}
                return [self._chunk({"tool_calls": [args]})]
            return []
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            reason = (event.get("delta") or {}).get("stop_reason")
            return [self._chunk({}, _FINISH.get(str(reason), "stop"))]
        if kind == "message_stop":
            final = self._chunk({})
            final["choices"] = []
            final["usage"] = usage_from_anthropic(self.usage)
            return [final]
        return []  # ping, content_block_stop
