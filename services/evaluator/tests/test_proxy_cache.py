"""The gateway cache's modes (x-bt-use-cache, Cache-Control, x-bt-cache-ttl) and its store."""

from __future__ import annotations

import pytest
from loopline.common.errors import Invalid
from loopline.common.store import Store
from loopline.evaluator.proxy.cache import DEFAULT_TTL_S, ProxyCache, plan

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_auto_caches_deterministic_chat_and_all_embeddings() -> None:
    assert not plan("chat", "/p", CHAT, {}, "k", "o").used
    assert plan("chat", "/p", {**CHAT, "temperature": 0}, {}, "k", "o").used
    assert plan("chat", "/p", {**CHAT, "temperature": 0.7, "seed": 1}, {}, "k", "o").used
    assert plan("embeddings", "/p", {"model": "m", "input": "x"}, {}, "k", "o").used
    assert plan("chat", "/p", CHAT, {"x-bt-use-cache": "always"}, "k", "o").used
    assert not plan(
        "embeddings", "/p", {"model": "m", "input": "x"}, {"x-bt-use-cache": "never"}, "k", "o"
    ).used


def test_cache_control_and_ttl() -> None:
    always = {"x-bt-use-cache": "always"}
    p = plan("chat", "/p", CHAT, {**always, "cache-control": "no-cache"}, "k", "o")
    assert (p.read, p.write) == (False, True)
    p = plan("chat", "/p", CHAT, {**always, "cache-control": "no-store"}, "k", "o")
    assert (p.read, p.write) == (True, False)
    p = plan("chat", "/p", CHAT, {**always, "cache-control": "max-age=0"}, "k", "o")
    assert not p.read
    p = plan("chat", "/p", CHAT, {**always, "cache-control": "max-age=60", "x-bt-cache-ttl": "10"}, "k", "o")
    assert (p.max_age_s, p.ttl_s) == (60, 10)
    assert plan("chat", "/p", CHAT, always, "k", "o").ttl_s == DEFAULT_TTL_S
    for bad in (
        {"x-bt-cache-ttl": "0"},
        {"x-bt-cache-ttl": "604801"},
        {"x-bt-cache-ttl": "soon"},
        {"x-bt-use-cache": "maybe"},
    ):
        with pytest.raises(Invalid):
            plan("chat", "/p", CHAT, bad, "k", "o")


def test_key_depends_on_body_token_org_and_endpoint() -> None:
    base = plan("chat", "/p", {**CHAT, "temperature": 0}, {}, "k", "o")
    assert (
        base.key == plan("chat", "/p", {"temperature": 0, **CHAT}, {}, "k", "o").key
    )  # key order irrelevant
    assert base.key != plan("chat", "/p", {**CHAT, "temperature": 0, "seed": 2}, {}, "k", "o").key
    assert base.key != plan("chat", "/p", {**CHAT, "temperature": 0}, {}, "k2", "o").key
    assert base.key != plan("chat", "/p", {**CHAT, "temperature": 0}, {}, "k", "o2").key
    assert (
        base.key != plan("chat", "/p", {**CHAT, "temperature": 0}, {"x-bt-endpoint-name": "e"}, "k", "o").key
    )


async def test_put_get_encrypted_and_scoped(store: Store) -> None:
    cache = ProxyCache(store)
    p = plan("chat", "/p", {**CHAT, "temperature": 0}, {}, "k", "org1")
    assert await cache.get("org1", p) is None
    await cache.put("org1", p, {"json": {"answer": "secret words"}})
    hit = await cache.get("org1", p)
    assert (
        hit is not None
        and hit.value == {"json": {"answer": "secret words"}}
        and hit.ttl_s > DEFAULT_TTL_S - 60
    )
    _, rows = await store.query(store.sql("SELECT value FROM {db}.proxy_cache"))
    assert "secret words" not in str(rows)
    assert await cache.get("org2", p) is None  # another org's row is never read
    # a fresh process (no entries in memory) reads the store
    again = await ProxyCache(store).get("org1", p)
    assert again is not None and again.value == {"json": {"answer": "secret words"}}
    p_max = plan("chat", "/p", {**CHAT, "temperature": 0}, {"cache-control": "max-age=0"}, "k", "org1")
    assert await cache.get("org1", p_max) is None
