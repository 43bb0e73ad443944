"""Pure parts of the provider layer: prices, Retry-After, retry policy, routing, error messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from loopline.providers import ModelClient, Price, PriceTable, ProviderConfig, ProviderError, RetryPolicy
from loopline.providers.retry import retry_after_seconds


def test_price_table_prefixes_and_overrides() -> None:
    t = PriceTable({"my-llama": Price(0.1, 0.2), "gpt-4o": Price(1.0, 2.0)})
    assert t.price("gpt-4o-2024-08-06") == Price(1.0, 2.0)  # overridden, by prefix
    assert t.price("gpt-4o-mini") == Price(0.15, 0.6)  # the longer listed prefix wins
    assert t.cost("my-llama", 1_000_000, 500_000) == pytest.approx(0.2)
    assert t.price("gpt-4ox") is None and t.cost("unknown-model", 10, 10) is None
    assert PriceTable(defaults=False).price("gpt-4o") is None


def test_retry_after_forms() -> None:
    now = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "Thu, 03 Dec 2026 12:00:30 GMT"}, now) == 30.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_retry_policy() -> None:
    p = RetryPolicy(max_attempts=3, base_delay_s=1.0, max_delay_s=1.5, max_retry_after_s=10)
    assert p.delay(1, 4.0) == 4.0
    assert p.delay(1, 11.0) is None  # longer than we are willing to wait
    assert 0.5 <= (p.delay(1, None) or 0) <= 1.0
    assert 0.75 <= (p.delay(2, None) or 0) <= 1.5  # capped
    assert p.delay(3, None) is None


def test_routing() -> None:
    client = ModelClient(
        [
            ProviderConfig(name="openai", kind="openai", api_key="k"),
            ProviderConfig(name="claude", kind="anthropic", api_key="k"),
            ProviderConfig(
                name="ollama", kind="openai_compatible", base_url="http://x/v1", models=("llama3*", "qwen")
            ),
            ProviderConfig(name="together", kind="openai_compatible", models=("meta-llama/*",)),
        ]
    )
    assert client.route("gpt-4o").provider.name == "openai"
    assert client.route("text-embedding-3-small").provider.name == "openai"
    assert client.route("claude-3-5-sonnet-latest").provider.name == "claude"
    assert client.route("llama3.1:8b").provider.name == "ollama"
    r = client.route("ollama/gpt-4o")  # pinned: provider name as a prefix
    assert (r.provider.name, r.model) == ("ollama", "gpt-4o")
    r = client.route("meta-llama/Llama-3")  # no provider is called "meta-llama": not a pin
    assert (r.provider.name, r.model) == ("together", "meta-llama/Llama-3")
    with pytest.raises(ProviderError) as e:
        client.route("qwen2")
    assert (
        e.value.kind == "no_provider"
        and "qwen2" in str(e.value)
        and "ollama (openai_compatible)" in str(e.value)
    )


def test_routing_unknown_family_has_no_provider() -> None:
    with pytest.raises(ProviderError, match="no configured provider serves this model"):
        ModelClient([]).route("gpt-4o")


def test_duplicate_provider_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        ModelClient([ProviderConfig(name="a", kind="openai"), ProviderConfig(name="a", kind="anthropic")])


def test_error_message_names_provider_model_and_reason() -> None:
    e = ProviderError("openai", "gpt-4o", "rate_limited", "slow down", status=429, attempts=3)
    assert str(e) == "provider 'openai', model 'gpt-4o': rate limited (HTTP 429) after 3 attempts: slow down"
    assert e.retryable and e.http_status() == 429
    assert ProviderError("a", "m", "auth", "bad key", status=401).http_status() == 502
    assert ProviderError("a", "m", "bad_request", "no such model", status=404).http_status() == 404
