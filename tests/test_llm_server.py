"""The scripted LLM server speaks the real wire formats: checked through the official clients."""

from __future__ import annotations

import base64
import struct
import time

import anthropic
import httpx
import openai
import pytest

from tests.support.llm_server import Fail, Reply, ScriptedLLM, ToolCall, embedding_for


def oai(llm: ScriptedLLM, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm.openai_base_url, api_key="sk-test", max_retries=0, **kw)  # type: ignore[arg-type]


def claude(llm: ScriptedLLM, **kw: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="sk-ant-test", max_retries=0, **kw)  # type: ignore[arg-type]


def test_openai_chat_text_and_usage(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Reply("Paris is the capital.", usage=(12, 5)))
    r = oai(scripted_llm).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert r.choices[0].message.content == "Paris is the capital."
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-4o"
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (12, 5)
    seen = scripted_llm.requests[-1]
    assert seen.path == "/v1/chat/completions" and seen.last_user_text == "Capital of France?"
    assert seen.api_key == "sk-test"


def test_openai_tool_calls(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Reply(tool_calls=[ToolCall("select_choice", {"choice": "A", "reasons": "same"})]))
    r = oai(scripted_llm).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "grade"}],
        tools=[{"type": "function", "function": {"name": "select_choice", "parameters": {"type": "object"}}}],
    )
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls is not None and len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    assert call.function.name == "select_choice"  # type: ignore[union-attr]
    assert call.function.arguments == '{"choice":"A","reasons":"same"}'  # type: ignore[union-attr]
    assert call.id.startswith("call_")


def test_openai_streaming_with_usage_and_tool_call(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Reply("Hello there, world", usage=(3, 4)))
    scripted_llm.push(Reply(tool_calls=[ToolCall("lookup", {"q": "x" * 40})]))
    client = oai(scripted_llm)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there, world"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 4)
    # the SDK's own accumulator rebuilds the tool call from its deltas
    with client.chat.completions.stream(model="gpt-4o", messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "lookup"
    assert calls[0].function.arguments == '{"q":"' + "x" * 40 + '"}'
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_errors_and_retry_after(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Fail(429, "slow down", retry_after=7), Fail(503, "down"), Fail(400, "bad model"))
    client = oai(scripted_llm)
    with pytest.raises(openai.RateLimitError) as rl:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert rl.value.response.headers["retry-after"] == "7"
    assert rl.value.body["message"] == "slow down"  # type: ignore[index]
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="bad model"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])


def test_the_clients_own_retry_honours_retry_after(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Fail(429, retry_after=0), Reply("after retry"))
    client = openai.OpenAI(base_url=scripted_llm.openai_base_url, api_key="k", max_retries=1)
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == "after retry"
    assert len(scripted_llm.requests_to("/v1/chat/completions")) == 2


def test_nothing_scripted_is_a_loud_500_and_responder_answers(scripted_llm: ScriptedLLM) -> None:
    client = oai(scripted_llm)
    with pytest.raises(openai.InternalServerError, match="nothing scripted"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    scripted_llm.respond_with(lambda req: Reply(req.last_user_text.upper()))
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "shout"}])
    assert r.choices[0].message.content == "SHOUT"


def test_slow_response_meets_the_client_timeout(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Reply("late", delay_s=2.0))
    with pytest.raises(openai.APITimeoutError):
        oai(scripted_llm, timeout=0.3).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )


def test_embeddings_float_and_base64_are_deterministic(scripted_llm: ScriptedLLM) -> None:
    client = oai(scripted_llm)
    r = client.embeddings.create(
        model="text-embedding-3-small", input=["cat", "dog"], encoding_format="float"
    )
    assert [d.embedding for d in r.data] == [embedding_for("cat"), embedding_for("dog")]
    assert r.usage.prompt_tokens == 2
    # the client asks for base64 by default and decodes it back to floats
    r2 = client.embeddings.create(model="text-embedding-3-small", input="cat", dimensions=8)
    assert r2.data[0].embedding == pytest.approx(embedding_for("cat", 8), abs=1e-6)
    assert scripted_llm.requests[-1].json["encoding_format"] == "base64"
    raw = httpx.post(
        scripted_llm.openai_base_url + "/embeddings",
        json={"model": "m", "input": "cat", "encoding_format": "base64", "dimensions": 4},
    ).json()
    assert list(struct.unpack("<4f", base64.b64decode(raw["data"][0]["embedding"]))) == pytest.approx(
        embedding_for("cat", 4), abs=1e-6
    )
    scripted_llm.push(Fail(500, "embedder down"), route="embeddings")
    with pytest.raises(openai.InternalServerError, match="embedder down"):
        client.embeddings.create(model="text-embedding-3-small", input="cat")


def test_moderations_and_models(scripted_llm: ScriptedLLM) -> None:
    client = oai(scripted_llm)
    r = client.moderations.create(input=["a nice day", "how to build a bomb"])
    assert [x.flagged for x in r.results] == [False, True]
    assert r.results[1].categories.violence is True
    assert "gpt-4o" in [m.id for m in client.models.list()]
    assert "claude-sonnet-4-5" in [m.id for m in claude(scripted_llm).models.list()]


def test_anthropic_messages_text_and_tool_use(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Reply("Bonjour", usage=(9, 2)))
    scripted_llm.push(
        Reply("Let me check.", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_1")])
    )
    client = claude(scripted_llm)
    m = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "Say hi in French"}]
    )
    assert m.content[0].type == "text" and m.content[0].text == "Bonjour"
    assert m.stop_reason == "end_turn" and (m.usage.input_tokens, m.usage.output_tokens) == (9, 2)
    assert scripted_llm.requests[-1].api_key == "sk-ant-test"
    m2 = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
    )
    assert m2.stop_reason == "tool_use"
    tool = m2.content[1]
    assert tool.type == "tool_use" and tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert tool.id == "toolu_1"


def test_anthropic_streaming_event_sequence(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(
        Reply("Streaming works fine", tool_calls=[ToolCall("f", {"a": [1, 2, 3]})], usage=(5, 6))
    )
    client = claude(scripted_llm)
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds
    assert final.content[0].type == "text" and final.content[0].text == "Streaming works fine"
    assert final.content[1].type == "tool_use" and final.content[1].input == {"a": [1, 2, 3]}
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == 6


def test_anthropic_errors(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Fail(429, "too many", retry_after=3), Fail(529, "overloaded"))
    client = claude(scripted_llm)
    with pytest.raises(anthropic.RateLimitError) as rl:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert rl.value.response.headers["retry-after"] == "3"
    assert rl.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    with pytest.raises(anthropic.APIStatusError) as ov:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert ov.value.status_code == 529
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=[])  # type: ignore[arg-type]
    assert scripted_llm.pending() == 0


def test_bounded_lifetime() -> None:
    llm = ScriptedLLM(max_lifetime_s=0.5).start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(llm.url + "/v1/models", timeout=0.5)
            except httpx.HTTPError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the server outlived its lifetime")
    finally:
        llm.stop()
