"""A span → the text to classify: the user's request, cleaned and bounded. Pure.

What counts as the request (first match wins):
- a facet-named path (``"input.question"``, ``"metadata.query"``, ``"input.messages.-1.content"``)
  when the facet sets one; nothing else is tried then;
- ``input`` as OpenAI / Anthropic chat: a messages array (or ``{"messages": [...]}``, or the
  Responses API's ``{"input": [...]}``): the last ``user`` message that has text, its content a
  string or a list of content parts (``text`` / ``input_text`` parts; images, audio, tool calls
  and tool results are skipped);
- ``input`` as a string (a string holding a JSON chat or object is decoded first);
- ``input`` as an object: the first of the common keys (``question``, ``query``, ``prompt``, …)
  that holds text, or its only value.

The result is whitespace-collapsed, free of control characters, lone surrogates and base64
data URLs, and at most ``max_chars`` long (head and tail kept: a long paste often ends with the
question). ``None`` means "no usable text": the span gets no label and is counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

DEFAULT_MAX_CHARS = 1000
#: Object keys that usually hold the user's request, in order of preference.
COMMON_KEYS = (
    "question",
    "query",
    "prompt",
    "user_input",
    "user_message",
    "user_query",
    "message",
    "input",
    "text",
    "content",
    "request",
    "utterance",
    "q",
)
_USER_ROLES = frozenset({"user", "human"})
_TEXT_PART_TYPES = frozenset({"text", "input_text"})
_MAX_DEPTH = 6
# Collect at most this many characters before cleaning: bounds work on huge inputs.
_RAW_BUDGET_FACTOR = 4
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd\ud800-\udfff\u200b-\u200f\u2028\u2029\ufeff]+")
_DATA_URL = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]{16,}")
_SPACE = re.compile(r"\s+")
_ELLIPSIS = " … "


def extract_text(
    span: Mapping[str, Any], path: str | None = None, max_chars: int = DEFAULT_MAX_CHARS
) -> str | None:
    """The text to classify for one span row, or None when it has none."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    budget = max_chars * _RAW_BUDGET_FACTOR
    if path is not None:
        raw = value_text(resolve_path(span, path), budget)
    else:
        raw = input_text(span.get("input"), budget)
    return clean_text(raw, max_chars) if raw is not None else None


def resolve_path(obj: Any, path: str) -> Any:
    """Follow a dotted path through objects and arrays (integer segments index arrays, -1 = last)."""
    cur = obj
    for segment in path.split("."):
        if isinstance(cur, Mapping):
            if segment not in cur:
                return None
            cur = cur[segment]
        elif isinstance(cur, Sequence) and not isinstance(cur, str | bytes):
            try:
                cur = cur[int(segment)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return cur


def input_text(value: Any, budget: int, depth: int = 0) -> str | None:
    """The request inside a span's ``input`` (chat messages, a string, or an object)."""
    if depth > _MAX_DEPTH or value is None:
        return None
    if isinstance(value, str):
        decoded = _decode_json_text(value)
        if decoded is not None:
            return input_text(decoded, budget, depth + 1)
        return bound(value, budget)
    if isinstance(value, bytes | bytearray):
        return bound(bytes(value[: budget * 4]).decode("utf-8", "replace"), budget)
    if isinstance(value, Sequence):
        if _looks_like_messages(value):
            return last_user_text(value, budget)
        return _last_text_item(value, budget, depth)
    if isinstance(value, Mapping):
        for key in ("messages", "input"):
            inner = value.get(key)
            if isinstance(inner, Sequence) and not isinstance(inner, str) and _looks_like_messages(inner):
                return last_user_text(inner, budget)
        return _object_text(value, budget, depth)
    return None


def last_user_text(messages: Sequence[Any], budget: int) -> str | None:
    """The text of the last user message that has any (tool-result-only turns are skipped)."""
    for message in reversed(messages):
        if not isinstance(message, Mapping) or str(message.get("role", "")).lower() not in _USER_ROLES:
            continue
        text = content_text(message.get("content"), budget)
        if text is not None and text.strip():
            return text
    return None


def content_text(content: Any, budget: int) -> str | None:
    """A message's content: a string, or the text parts of a content-part list joined by newlines."""
    if isinstance(content, str):
        return bound(content, budget)
    if isinstance(content, Mapping):
        content = [content]
    if not isinstance(content, Sequence):
        return None
    texts: list[str] = []
    used = 0
    for part in content:
        if isinstance(part, str):
            text = part
        elif (
            isinstance(part, Mapping)
            and part.get("type", "text") in _TEXT_PART_TYPES
            and isinstance(part.get("text"), str)
        ):
            text = part["text"]
        else:
            continue
        texts.append(bound(text, budget - used))
        used += len(texts[-1]) + 1
        if used >= budget:
            break
    return "\n".join(texts) if texts else None


def value_text(value: Any, budget: int) -> str | None:
    """Any value a path points at, as text: chat content and messages are understood too."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        if _looks_like_messages(value):
            return last_user_text(value, budget)
        if any(isinstance(p, Mapping) and "type" in p for p in value[:8]):
            return content_text(value, budget)
    return input_text(value, budget)


def bound(text: str, budget: int) -> str:
    """At most ``budget`` characters of raw text, keeping its head and its tail."""
    if len(text) <= budget:
        return text
    half = max(budget // 2, 1)
    return f"{text[:half]} {text[len(text) - half :]}"


def clean_text(raw: str, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """Collapse whitespace, drop control characters and data URLs, bound the length; None if empty."""
    text = _DATA_URL.sub(" ", raw)
    text = _CONTROL.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    if not any(ch.isalnum() for ch in text):
        return None
    return truncate(text, max_chars)


def truncate(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters: the head (two thirds) and the tail, cut at spaces when near."""
    if len(text) <= max_chars:
        return text
    room = max_chars - len(_ELLIPSIS)
    if room < 3:
        return text[:max_chars]
    head_len = (room * 2) // 3
    tail_len = room - head_len
    head = text[:head_len]
    cut = head.rfind(" ")
    if cut >= head_len * 3 // 4:
        head = head[:cut]
    tail = text[len(text) - tail_len :]
    cut = tail.find(" ")
    if 0 <= cut <= tail_len // 4:
        tail = tail[cut + 1 :]
    return f"{head}{_ELLIPSIS}{tail}"


def _looks_like_messages(items: Sequence[Any]) -> bool:
    return any(isinstance(m, Mapping) and "role" in m for m in items[-50:])


def _last_text_item(items: Sequence[Any], budget: int, depth: int) -> str | None:
    for item in reversed(items[-50:]):
        text = input_text(item, budget, depth + 1)
        if text is not None and text.strip():
            return text
    return None


def _object_text(obj: Mapping[str, Any], budget: int, depth: int) -> str | None:
    for key in COMMON_KEYS:
        if key in obj:
            text = input_text(obj[key], budget, depth + 1)
            if text is not None and text.strip():
                return text
    if len(obj) == 1:
        return input_text(next(iter(obj.values())), budget, depth + 1)
    return None


def _decode_json_text(value: str) -> Any:
    """A string that is itself JSON chat or an object (some SDKs log the request serialised)."""
    stripped = value.lstrip()
    if not stripped or stripped[0] not in "[{" or len(value) > 1_000_000:
        return None
    try:
        decoded = orjson.loads(value)
    except ValueError:  # orjson.JSONDecodeError, and strings holding lone surrogates
        return None
    return decoded if isinstance(decoded, list | dict) else None
