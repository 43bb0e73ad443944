"""Span → text to classify: every input shape the SDKs log, and hostile text."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loopline.classifier.text import clean_text, extract_text, resolve_path, truncate

OPENAI_CHAT = [
    {"role": "system", "content": "You are a bank assistant."},
    {"role": "user", "content": "Where is my card?"},
    {"role": "assistant", "content": "It was posted on Monday."},
    {"role": "user", "content": "Can I  track\nthe delivery?"},
]
ANTHROPIC_WITH_TOOL_RESULT = [
    {"role": "user", "content": [{"type": "text", "text": "Refund my last order"}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "orders", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "order 42"}]},
]
CONTENT_PARTS = [
    {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "text", "text": "What is in this picture?"},
            {"type": "text", "text": "Be brief."},
        ],
    }
]

CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("openai chat: last user message", {"input": OPENAI_CHAT}, "Can I track the delivery?"),
    ("anthropic: tool-result turn skipped", {"input": ANTHROPIC_WITH_TOOL_RESULT}, "Refund my last order"),
    ("content parts: text parts joined", {"input": CONTENT_PARTS}, "What is in this picture? Be brief."),
    (
        "chat under messages key",
        {"input": {"model": "gpt-4o", "messages": OPENAI_CHAT}},
        "Can I track the delivery?",
    ),
    (
        "responses api input items",
        {"input": {"input": [{"role": "user", "content": [{"type": "input_text", "text": "hi there"}]}]}},
        "hi there",
    ),
    ("human role", {"input": [{"role": "human", "content": "close my account"}]}, "close my account"),
    ("string input", {"input": "  reset my password  "}, "reset my password"),
    ("json string holding chat", {"input": orjson.dumps(OPENAI_CHAT).decode()}, "Can I track the delivery?"),
    ("json string holding object", {"input": '{"question": "why was I charged?"}'}, "why was I charged?"),
    ("string that only looks like json", {"input": "[draft] my card is lost"}, "[draft] my card is lost"),
    ("object: common key", {"input": {"question": "how do I pay?", "context": "x" * 50}}, "how do I pay?"),
    ("object: key order", {"input": {"text": "second", "query": "first"}}, "first"),
    ("object: only value", {"input": {"ask": "book a flight"}}, "book a flight"),
    ("object: nested common key", {"input": {"input": {"prompt": "translate this"}}}, "translate this"),
    ("object: no known key", {"input": {"a": "one", "b": "two"}}, None),
    ("list of strings: last", {"input": ["first", "second", ""]}, "second"),
    ("no user message", {"input": [{"role": "system", "content": "be nice"}]}, None),
    ("no input", {"output": "hello"}, None),
    ("null input", {"input": None}, None),
    ("number input", {"input": 42}, None),
    ("bool input", {"input": True}, None),
    ("empty string", {"input": ""}, None),
    ("whitespace only", {"input": " \n\t "}, None),
    ("punctuation only", {"input": "?!?! ..."}, None),
    ("control characters", {"input": "\x00\x01hello\x07 world\x1b"}, "hello world"),
    ("binary-ish bytes", {"input": b"\xff\xfe\x00\x01"}, None),
    ("bytes with text", {"input": b"pay my bill \xff"}, "pay my bill"),
    ("lone surrogate", {"input": "card \ud800 lost"}, "card lost"),
    ("data url dropped", {"input": "see data:image/png;base64," + "A" * 64 + " please"}, "see please"),
    ("other script", {"input": "Где моя карта?"}, "Где моя карта?"),
    ("cjk", {"input": [{"role": "user", "content": "我的卡在哪里"}]}, "我的卡在哪里"),
    ("emoji kept beside text", {"input": "lost card 😢"}, "lost card 😢"),
    ("emoji only", {"input": "😢😢"}, None),
]


@pytest.mark.parametrize(("span", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_extract_text(span: dict[str, Any], expected: str | None) -> None:
    assert extract_text(span) == expected


PATH_CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("object key", {"input": {"question": "q1", "query": "q2"}}, "input.query", "q2"),
    (
        "metadata",
        {"input": "ignored", "metadata": {"user_query": "from metadata"}},
        "metadata.user_query",
        "from metadata",
    ),
    ("array index", {"input": {"messages": OPENAI_CHAT}}, "input.messages.1.content", "Where is my card?"),
    (
        "negative index",
        {"input": {"messages": OPENAI_CHAT}},
        "input.messages.-1.content",
        "Can I track the delivery?",
    ),
    ("path to messages", {"input": {"history": OPENAI_CHAT}}, "input.history", "Can I track the delivery?"),
    (
        "path to content parts",
        {"input": CONTENT_PARTS},
        "input.0.content",
        "What is in this picture? Be brief.",
    ),
    ("missing key", {"input": {"question": "q1"}}, "input.nope", None),
    ("bad index", {"input": ["a"]}, "input.x", None),
    ("index out of range", {"input": ["a"]}, "input.5", None),
    ("through a string", {"input": "abc"}, "input.x", None),
    ("path wins over input", {"input": "from input", "output": "from output"}, "output", "from output"),
]


@pytest.mark.parametrize(
    ("span", "path", "expected"), [c[1:] for c in PATH_CASES], ids=[c[0] for c in PATH_CASES]
)
def test_extract_text_at_path(span: dict[str, Any], path: str, expected: str | None) -> None:
    assert extract_text(span, path=path) == expected


def test_resolve_path_returns_raw_values() -> None:
    assert resolve_path({"a": {"b": [1, {"c": 3}]}}, "a.b.1.c") == 3
    assert resolve_path({"a": None}, "a.b") is None


def test_huge_input_is_bounded_and_keeps_head_and_tail() -> None:
    text = "HEAD " + "filler words " * 200_000 + " TAIL?"
    out = extract_text({"input": text}, max_chars=300)
    assert out is not None
    assert len(out) <= 300
    assert out.startswith("HEAD ")
    assert out.endswith("TAIL?")


def test_huge_chat_is_bounded() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "x " * 10_000}] * 100}] * 10_000
    out = extract_text({"input": messages}, max_chars=500)
    assert out is not None
    assert len(out) <= 500


def test_deeply_nested_object_stops() -> None:
    value: Any = "deep text"
    for _ in range(50):
        value = {"input": value}
    assert extract_text({"input": value}) is None


TRUNCATE_CASES = [
    ("short kept", "hello world", 20, "hello world"),
    ("cut at spaces", "aaaa bbbb cccc dddd eeee ffff gggg", 20, "aaaa bbbb … gggg"),
    ("no spaces", "x" * 30, 12, "xxxxxx … xxx"),
    ("tiny limit", "abcdefgh", 4, "abcd"),
]


@pytest.mark.parametrize(
    ("text", "limit", "expected"), [c[1:] for c in TRUNCATE_CASES], ids=[c[0] for c in TRUNCATE_CASES]
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    out = truncate(text, limit)
    assert out == expected
    assert len(out) <= limit


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        extract_text({"input": "x"}, max_chars=0)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text() | st.binary(),
        lambda c: (
            st.lists(c)
            | st.dictionaries(
                st.sampled_from(["role", "content", "type", "text", "input", "messages", "query", "x"])
                | st.text(),
                c,
            )
        ),
        max_leaves=30,
    )
)
def test_any_json_value_gives_clean_bounded_text_or_none(value: Any) -> None:
    out = extract_text({"input": value}, max_chars=64)
    if out is not None:
        assert 0 < len(out) <= 64
        assert out == out.strip()
        assert clean_text(out, 64) == out
        out.encode("utf-8")  # no lone surrogates: the tokenizer needs valid UTF-8
