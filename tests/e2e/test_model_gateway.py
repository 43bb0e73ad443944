"""The model gateway end to end: a running `loopline up`, org AI secrets created through the
Braintrust SDK's API client, the scripted OpenAI/Anthropic server as the upstream provider, and
autoevals' LLM scorers with nothing but `OPENAI_BASE_URL` (or `BRAINTRUST_AI_GATEWAY_URL`) and
a Loopline API key pointing them at Loopline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import autoevals
import httpx
import openai
import pytest
from braintrust.api import BraintrustOpenApiClient

from tests.support.llm_server import Fail, Reply, ScriptedLLM, ToolCall
from tests.support.running import RunningLoopline

PROVIDER_KEY = "sk-upstream-" + "q" * 32


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(max_lifetime_s=300) as server:
        yield server


@pytest.fixture
def bt(embedded: RunningLoopline) -> Iterator[BraintrustOpenApiClient]:
    """The SDK's REST client; every AI secret a test made is deleted after it."""
    client = BraintrustOpenApiClient(api_key=embedded.api_key, api_url=embedded.url)
    yield client
    for s in client.ai_secrets.get_ai_secret()["objects"]:
        client.ai_secrets.delete_ai_secret_id(s["id"])


def add_provider(
    bt: BraintrustOpenApiClient, llm: ScriptedLLM, kind: str, **meta: object
) -> dict[str, object]:
    base = llm.openai_base_url if kind == "openai" else llm.anthropic_base_url
    body = {
        "name": f"{kind}-{uuid.uuid4().hex[:6]}",
        "type": kind,
        "secret": PROVIDER_KEY,
        "metadata": {"api_base": base, **meta},
    }
    return dict(bt.ai_secrets.post_ai_secret(body=body))  # type: ignore[arg-type]


def test_ai_secret_api_through_the_sdk_client(
    embedded: RunningLoopline, bt: BraintrustOpenApiClient, llm: ScriptedLLM
) -> None:
    s = add_provider(bt, llm, "openai")
    assert s["preview_secret"] == "sk-u…qqqq" and "secret" not in s
    listed = bt.ai_secrets.get_ai_secret(ai_secret_name=str(s["name"]))["objects"]
    assert [x["id"] for x in listed] == [s["id"]]
    got = bt.ai_secrets.get_ai_secret_id(str(s["id"]))
    assert got["name"] == s["name"] and PROVIDER_KEY not in str(got)
    patched = bt.ai_secrets.patch_ai_secret_id(
        str(s["id"]), body={"metadata": {"api_base": llm.openai_base_url, "models": ["gpt-4o"]}}
    )
    assert patched["metadata"] == {"api_base": llm.openai_base_url, "models": ["gpt-4o"]}
    assert patched["preview_secret"] == s["preview_secret"]  # the value was kept
    r = httpx.get(f"{embedded.url}/v1/ai_secret/{uuid.uuid4()}", headers=embedded.headers)
    assert r.status_code == 404 and "no AI secret" in r.json()["error"]["message"]
    r = httpx.post(
        f"{embedded.url}/v1/ai_secret", json={"name": "x", "type": "opneai"}, headers=embedded.headers
    )
    assert r.status_code == 400 and "type" in r.json()["error"]["message"]


def test_factuality_and_closedqa_through_openai_base_url(
    embedded: RunningLoopline, bt: BraintrustOpenApiClient, llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_provider(bt, llm, "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{embedded.url}/v1/proxy")
    monkeypatch.setenv("OPENAI_API_KEY", embedded.api_key)
    llm.push(Reply(tool_calls=[ToolCall("select_choice", {"reasons": "The answer matches.", "choice": "C"})]))
    llm.push(Reply(tool_calls=[ToolCall("select_choice", {"reasons": "It does not answer.", "choice": "N"})]))
    fact = autoevals.Factuality(model="gpt-4o")(
        output="Paris is the capital of France", expected="Paris", input="What is the capital of France?"
    )
    assert (
        fact.score == 1
        and fact.metadata["choice"] == "C"
        and fact.metadata["rationale"] == "The answer matches."
    )
    qa = autoevals.ClosedQA(model="gpt-4o")(
        output="I like turtles", input="Name a city in France", criteria="Does it name a city?"
    )
    assert qa.score == 0 and qa.metadata["choice"] == "N"
    first, second = llm.requests_to("/v1/chat/completions")
    # the provider saw the org's secret, never the Loopline key, and autoevals' own request
    assert first.api_key == PROVIDER_KEY and second.api_key == PROVIDER_KEY
    assert "Paris is the capital of France" in first.last_user_text
    assert first.json["tool_choice"] == {"type": "function", "function": {"name": "select_choice"}}
    assert "Does it name a city?" in second.last_user_text


def test_factuality_on_an_anthropic_model_through_the_gateway_url(
    embedded: RunningLoopline, bt: BraintrustOpenApiClient, llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_provider(bt, llm, "anthropic")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("BRAINTRUST_AI_GATEWAY_URL", f"{embedded.url}/v1/proxy")
    monkeypatch.setenv("BRAINTRUST_API_KEY", embedded.api_key)
    llm.push(Reply(tool_calls=[ToolCall("select_choice", {"reasons": "Subset.", "choice": "A"})]))
    fact = autoevals.Factuality(model="claude-sonnet-4-5")(
        output="Paris", expected="Paris, France", input="Capital?"
    )
    assert fact.score == pytest.approx(0.4) and fact.metadata["choice"] == "A"
    (seen,) = llm.requests_to("/v1/messages")
    assert seen.api_key == PROVIDER_KEY
    assert seen.json["tool_choice"] == {"type": "tool", "name": "select_choice"}
    assert seen.json["tools"][0]["input_schema"]["properties"]["choice"]["enum"] == ["A", "B", "C", "D", "E"]


def test_streaming_cache_and_errors(
    embedded: RunningLoopline, bt: BraintrustOpenApiClient, llm: ScriptedLLM
) -> None:
    client = openai.OpenAI(base_url=f"{embedded.url}/v1/proxy", api_key=embedded.api_key, max_retries=0)
    # no provider yet: a clear 400
    with pytest.raises(openai.BadRequestError, match="no AI provider is configured"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    add_provider(bt, llm, "anthropic", max_attempts=2)
    # streaming passes through, translated from Anthropic's events
    llm.push(Reply("streamed from claude", usage=(3, 3)))
    chunks = list(
        client.chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed from claude"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    # deterministic requests are cached: the second is a HIT and never reaches the provider
    llm.push(Reply("cached answer"))
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "same"}], "temperature": 0}
    h = {**embedded.headers}
    r1 = httpx.post(f"{embedded.url}/v1/proxy/chat/completions", json=body, headers=h, timeout=30)
    r2 = httpx.post(f"{embedded.url}/v1/proxy/chat/completions", json=body, headers=h, timeout=30)
    assert r1.status_code == 200, r1.text
    assert (r1.headers["x-bt-cached"], r2.headers["x-bt-cached"]) == ("MISS", "HIT")
    assert (
        r1.json()["choices"][0]["message"]["content"]
        == r2.json()["choices"][0]["message"]["content"]
        == "cached answer"
    )
    assert len(llm.requests_to("/v1/messages")) == 2
    llm.push(Reply("fresh"))
    r3 = httpx.post(
        f"{embedded.url}/v1/proxy/chat/completions",
        json=body,
        headers={**h, "x-bt-use-cache": "never"},
        timeout=30,
    )
    assert r3.headers["x-bt-cached"] == "MISS" and r3.json()["choices"][0]["message"]["content"] == "fresh"
    # a provider that keeps failing: the error names provider, model and its reason
    llm.push(Fail(529, "overloaded right now"), Fail(529, "overloaded right now"))
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 502
    assert "model 'claude-sonnet-4-5'" in e.value.message and "overloaded right now" in e.value.message
    assert "after 2 attempts" in e.value.message
