"""ModelClient against the scripted OpenAI/Anthropic server, through the official SDKs."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from loopline.providers import ModelClient, Price, PriceTable, ProviderConfig, ProviderError, RetryPolicy

from tests.support.llm_server import Fail, Reply, ScriptedLLM, ToolCall, embedding_for

USER = [{"role": "user", "content": "hello there"}]


def recorded_sleep() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)
        await asyncio.sleep(0)

    return waits, sleep


def clients(llm: ScriptedLLM, **kw: Any) -> ModelClient:
    return ModelClient(
        [
            ProviderConfig(name="oai", kind="openai", api_key="sk-o", base_url=llm.openai_base_url, **kw),
            ProviderConfig(
                name="ant", kind="anthropic", api_key="sk-a", base_url=llm.anthropic_base_url, **kw
            ),
        ],
        prices=PriceTable({"claude-sonnet-4-5": Price(3.0, 15.0)}),
    )


async def test_openai_chat_usage_cost_and_meter(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Reply("hi!", usage=(1000, 200)))
    client = clients(scripted_llm)
    r = await client.complete("gpt-4o-mini", USER, temperature=0, seed=7)
    assert (r.provider, r.model, r.text, r.finish_reason) == ("oai", "gpt-4o-mini", "hi!", "stop")
    assert r.usage.prompt_tokens == 1000 and r.usage.completion_tokens == 200
    assert r.usage.cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.6) / 1e6)
    sent = scripted_llm.requests[-1]
    assert sent.json["temperature"] == 0 and sent.json["seed"] == 7 and sent.api_key == "sk-o"
    totals = client.meter.totals()[("oai", "gpt-4o-mini")]
    assert (totals.calls, totals.prompt_tokens, totals.completion_tokens) == (1, 1000, 200)
    await client.aclose()


async def test_anthropic_chat_in_openai_format(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(
        Reply("Checking.", tool_calls=[ToolCall("wx", {"city": "Oslo"}, id="toolu_7")], usage=(10, 20))
    )
    client = clients(scripted_llm)
    r = await client.chat(
        {
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "system", "content": "Be brief."}, *USER],
            "tools": [{"type": "function", "function": {"name": "wx", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "temperature": 0.5,
        }
    )
    assert r.provider == "ant" and r.finish_reason == "tool_calls" and r.text == "Checking."
    assert [(t.id, t.name, t.arguments) for t in r.tool_calls] == [("toolu_7", "wx", '{"city":"Oslo"}')]
    assert r.usage.cost_usd == pytest.approx((10 * 3 + 20 * 15) / 1e6)
    sent = scripted_llm.requests[-1]
    assert sent.path == "/v1/messages" and sent.json["system"] == "Be brief."
    assert sent.json["tool_choice"] == {"type": "any"} and sent.json["tools"][0]["name"] == "wx"
    assert sent.json["temperature"] == 0.5
    await client.aclose()


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-5"])
async def test_streaming_from_both_providers(scripted_llm: ScriptedLLM, model: str) -> None:
    scripted_llm.push(Reply("one two three four", usage=(4, 4)), Reply("again", usage=(2, 1)))
    client = clients(scripted_llm)
    async with await client.stream_chat({"model": model, "messages": USER}) as stream:
        chunks = [c async for c in stream]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "one two three four" == "".join(stream.totals.text)
    assert all(c["choices"] for c in chunks)  # the usage chunk was not asked for: not passed on
    assert stream.totals.finish_reason == "stop" and stream.totals.usage.prompt_tokens == 4
    stream2 = await client.stream_chat(
        {"model": model, "messages": USER, "stream_options": {"include_usage": True}}
    )
    chunks2 = [c async for c in stream2]
    assert chunks2[-1]["choices"] == [] and chunks2[-1]["usage"]["completion_tokens"] == 1
    t = client.meter.totals()[("oai" if model.startswith("gpt") else "ant", model)]
    assert (t.calls, t.prompt_tokens) == (2, 6)
    await client.aclose()


async def test_retries_honour_retry_after_then_succeed(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Fail(429, "slow down", retry_after=3), Fail(503, "blip"), Reply("finally"))
    waits, sleep = recorded_sleep()
    client = ModelClient(
        [ProviderConfig(name="oai", kind="openai", base_url=scripted_llm.openai_base_url)],
        retry=RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=1.0),
        sleep=sleep,
    )
    r = await client.complete("gpt-4o", USER)
    assert r.text == "finally" and r.attempts == 3
    assert waits[0] == 3.0 and 0.2 <= waits[1] <= 0.4  # Retry-After, then backoff of attempt 2
    assert client.meter.totals()[("oai", "gpt-4o")].errors == 2
    await client.aclose()


async def test_retries_exhausted_error_names_provider_model_reason(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(*[Fail(500, "database on fire")] * 3)
    _, sleep = recorded_sleep()
    client = ModelClient(
        [ProviderConfig(name="oai", kind="openai", base_url=scripted_llm.openai_base_url, max_attempts=3)],
        sleep=sleep,
    )
    with pytest.raises(ProviderError) as e:
        await client.complete("gpt-4o", USER)
    assert e.value.kind == "unavailable" and e.value.attempts == 3 and e.value.status == 500
    assert (
        str(e.value)
        == "provider 'oai', model 'gpt-4o': unavailable (HTTP 500) after 3 attempts: database on fire"
    )
    assert len(scripted_llm.requests) == 3
    await client.aclose()


async def test_no_retry_on_bad_request_or_too_long_retry_after(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Fail(400, "unknown parameter: foo"), Fail(429, "come back tomorrow", retry_after=86400))
    client = clients(scripted_llm)
    with pytest.raises(ProviderError, match="unknown parameter: foo") as e1:
        await client.complete("claude-sonnet-4-5", USER)
    assert e1.value.kind == "bad_request" and e1.value.attempts == 1 and e1.value.provider == "ant"
    with pytest.raises(ProviderError, match="come back tomorrow") as e2:
        await client.complete("gpt-4o", USER)
    assert e2.value.kind == "rate_limited" and e2.value.retry_after_s == 86400 and e2.value.attempts == 1
    await client.aclose()


async def test_timeout_per_call(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Reply("too late", delay_s=3.0))
    client = clients(scripted_llm, max_attempts=1)
    with pytest.raises(ProviderError) as e:
        await client.complete("gpt-4o", USER, timeout_s=0.3)
    assert e.value.kind == "timeout" and "gpt-4o" in str(e.value)
    await client.aclose()


async def test_connection_refused_is_a_connection_error() -> None:
    with ScriptedLLM() as llm:
        url = llm.openai_base_url
    client = ModelClient(
        [ProviderConfig(name="gone", kind="openai_compatible", base_url=url, models=("m",), max_attempts=1)]
    )
    with pytest.raises(ProviderError) as e:
        await client.complete("m", USER)
    assert e.value.kind == "connection" and e.value.provider == "gone"
    await client.aclose()


async def test_concurrency_limit_per_provider(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.respond_with(lambda req: Reply("ok", delay_s=0.2))
    client = clients(scripted_llm, max_concurrency=2)
    results = await asyncio.gather(*[client.complete("gpt-4o", USER) for _ in range(6)])
    assert [r.text for r in results] == ["ok"] * 6
    assert scripted_llm.max_in_flight == 2
    await client.aclose()


async def test_stream_retried_before_its_first_chunk(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Fail(529, "overloaded"), Reply("streamed"))
    _, sleep = recorded_sleep()
    client = ModelClient(
        [ProviderConfig(name="ant", kind="anthropic", api_key="k", base_url=scripted_llm.anthropic_base_url)],
        sleep=sleep,
    )
    stream = await client.stream_chat({"model": "claude-sonnet-4-5", "messages": USER})
    assert stream.attempts == 2
    assert "".join([c["choices"][0]["delta"].get("content") or "" async for c in stream]) == "streamed"
    # the slot was given back: a limit of 1 would otherwise block the next call
    scripted_llm.push(Reply("next"))
    assert (await asyncio.wait_for(client.complete("claude-sonnet-4-5", USER), 10)).text == "next"
    await client.aclose()


async def test_embeddings_and_moderations(scripted_llm: ScriptedLLM) -> None:
    client = clients(scripted_llm)
    r = await client.embed({"model": "text-embedding-3-small", "input": ["cat", "dog"]})
    assert [d["embedding"] for d in r.body["data"]] == [embedding_for("cat"), embedding_for("dog")]
    assert r.usage.prompt_tokens == 2 and r.usage.cost_usd == pytest.approx(2 * 0.02 / 1e6)
    b = await client.embed({"model": "text-embedding-3-small", "input": "cat", "encoding_format": "base64"})
    raw = b.body["data"][0]["embedding"]
    assert list(struct.unpack("<16f", base64.b64decode(raw))) == pytest.approx(embedding_for("cat"), abs=1e-6)
    m = await client.moderate({"input": ["fine", "a bomb"]})
    assert m.model == "omni-moderation-latest" and [x["flagged"] for x in m.body["results"]] == [False, True]
    with pytest.raises(ProviderError) as e:
        await client.embed({"model": "ant/claude-sonnet-4-5", "input": "x"})
    assert e.value.kind == "unsupported" and e.value.provider == "ant"
    await client.aclose()


async def test_azure_deployment(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.push(Reply("from azure"))
    client = ModelClient(
        [
            ProviderConfig(
                name="az",
                kind="azure",
                api_key="az-key",
                base_url=scripted_llm.url,
                api_version="2024-10-21",
                deployment="prod-4o",
                models=("gpt-4o",),
            )
        ]
    )
    r = await client.complete("gpt-4o", USER)
    assert (r.provider, r.text) == ("az", "from azure")
    seen = scripted_llm.requests[-1]
    assert seen.path == "/openai/deployments/prod-4o/chat/completions" and seen.api_key == "az-key"
    e = await client.embed({"model": "gpt-4o", "input": "cat"})
    assert e.body["data"][0]["embedding"] == embedding_for("cat")
    await client.aclose()


async def test_observer_sees_every_call_once(scripted_llm: ScriptedLLM) -> None:
    from loopline.providers import CallRecord

    seen: list[CallRecord] = []
    scripted_llm.push(Reply("a", usage=(5, 1)), Fail(400, "no"), Reply("streamed", usage=(2, 2)))
    client = ModelClient(
        [ProviderConfig(name="oai", kind="openai", base_url=scripted_llm.openai_base_url)],
        observer=seen.append,
    )
    await client.complete("gpt-4o", USER)
    with pytest.raises(ProviderError):
        await client.complete("gpt-4o", USER)
    async with await client.stream_chat({"model": "gpt-4o", "messages": USER}) as s:
        _ = [c async for c in s]
    await client.embed({"model": "text-embedding-3-small", "input": "x"})
    assert [(r.operation, r.outcome, r.kind, r.attempts) for r in seen] == [
        ("chat", "ok", "openai", 1),
        ("chat", "bad_request", "openai", 1),
        ("stream", "ok", "openai", 1),
        ("embed", "ok", "openai", 1),
    ]
    assert seen[0].usage is not None and seen[0].usage.prompt_tokens == 5
    assert seen[2].usage is not None and seen[2].usage.completion_tokens == 2
    assert all(r.seconds >= 0 for r in seen)
    await client.aclose()
