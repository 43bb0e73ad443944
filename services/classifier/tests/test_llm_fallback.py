"""The LLM fallback: a facet that asks for it sends its low-confidence spans to the org's model
(the scripted provider, through the model gateway and the real openai / anthropic clients) with
the taxonomy as a tool schema; `source` says llm. Without a provider nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process
from tests.support.classifier_logs import log_rows, root_span, until_labelled
from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall

SERVICES = ("gateway", "ingest", "writer", "query", "evaluator", "classifier")
TAXONOMY: dict[str, Any] = {
    "labels": [
        {"name": "refund", "description": "wants money back", "examples": ["I want a refund"]},
        {"name": "card_lost", "description": "lost or stolen card", "examples": ["I lost my card"]},
    ],
    "threshold": 0.999,  # the local head is never this sure: every span is a fallback candidate
    "llm_fallback": True,
}


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=SERVICES) as p:
        yield p


async def labelled(ll: InProcess, headers: dict[str, str], pid: str, row_id: str) -> dict[str, Any]:
    return (await until_labelled(ll, pid, {row_id}, headers, timeout_s=90))[row_id]


def answer(seen: Seen) -> Reply:
    text = seen.last_user_text
    label = "card_lost" if "card" in text else "refund" if "money" in text else "not-a-label"
    return Reply(tool_calls=[ToolCall("classify", {"label": label, "confidence": 0.8})])


async def test_low_confidence_spans_go_to_the_orgs_llm(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    c, h = ll.client, ll.headers
    scripted_llm.respond_with(answer)

    # an org without an AI secret: the head's `other` stands, no model is called
    other_org, other_key = await ll.new_org("no-provider")
    oh = {"Authorization": f"Bearer {other_key}"}
    opid = await ll.make_project(org_id=other_org)
    assert (await c.post(f"/v1/project/{opid}/classifier", json=TAXONOMY, headers=oh)).status_code == 200
    await log_rows(ll, [root_span("n1", opid, "where is my money")], oh)
    item = await labelled(ll, oh, opid, "n1")
    assert item["label"] == "other" and item["source"]["type"] == "model"
    assert scripted_llm.requests == []

    # this org has OpenAI and Anthropic secrets at the scripted server
    for name, kind, base in (
        ("OPENAI_API_KEY", "openai", scripted_llm.openai_base_url),
        ("ANTHROPIC_API_KEY", "anthropic", scripted_llm.anthropic_base_url),
    ):
        r = await c.post(
            "/v1/ai_secret",
            json={"name": name, "type": kind, "secret": "k", "metadata": {"api_base": base}},
            headers=h,
        )
        assert r.status_code == 200, r.text
    pid = await ll.make_project()
    created = await c.post(f"/v1/project/{pid}/classifier", json=TAXONOMY, headers=h)
    assert created.status_code == 200 and created.json()["llm_fallback"] is True, created.text
    cid = created.json()["id"]
    await log_rows(ll, [root_span("a1", pid, "I want my money back"), root_span("a2", pid, "blah blah")])
    item = await labelled(ll, h, pid, "a1")
    assert item["label"] == "refund" and item["confidence"] == 0.8
    assert item["source"] == {"type": "llm", "id": cid, "version": "1"}
    assert item["metadata"]["model"] == "gpt-4o-mini" and item["metadata"]["local"]["label"] == "other"
    # an answer outside the taxonomy keeps the head's `other`
    kept = await labelled(ll, h, pid, "a2")
    assert kept["label"] == "other" and kept["source"]["type"] == "model"
    [sent] = [
        s
        for s in scripted_llm.requests_to("/v1/chat/completions")
        if s.last_user_text == "I want my money back"
    ]
    tool = sent.json["tools"][0]["function"]
    assert tool["name"] == "classify"
    assert tool["parameters"]["properties"]["label"]["enum"] == ["refund", "card_lost", "other"]
    assert "lost or stolen card" in sent.messages[0]["content"]

    # the facet's model may be Claude: the same tool through the Anthropic client
    patched = await c.patch(
        f"/v1/project/{pid}/classifier/{cid}", json={"llm_model": "claude-3-5-haiku-latest"}, headers=h
    )
    assert patched.json()["version"] == 2
    await log_rows(ll, [root_span("a3", pid, "my card is gone")])
    item = await labelled(ll, h, pid, "a3")
    assert item["label"] == "card_lost" and item["source"] == {"type": "llm", "id": cid, "version": "2"}
    [sent] = scripted_llm.requests_to("/v1/messages")
    assert sent.json["tools"][0]["name"] == "classify" and sent.json["tool_choice"]["name"] == "classify"

    # turned off for the facet: the model is not asked
    before = len(scripted_llm.requests)
    await c.patch(f"/v1/project/{pid}/classifier/{cid}", json={"llm_fallback": False}, headers=h)
    await log_rows(ll, [root_span("a4", pid, "money money")])
    assert (await labelled(ll, h, pid, "a4"))["source"] == {"type": "model", "id": cid, "version": "3"}
    assert len(scripted_llm.requests) == before

    # on again (version 4, Claude): a backfill sends the old spans the head is unsure of too
    await c.patch(f"/v1/project/{pid}/classifier/{cid}", json={"llm_fallback": True}, headers=h)
    job = (await c.post(f"/v1/project/{pid}/classifier/{cid}/backfill", json={}, headers=h)).json()
    deadline = asyncio.get_running_loop().time() + 90
    while job["state"] in ("queued", "running"):
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.3)
        job = (await c.get(f"/v1/project/{pid}/classifier/{cid}/backfill/{job['id']}", headers=h)).json()
    assert (job["state"], job["labelled"]) == ("done", 4), job
    want = {
        "a1": ("refund", "llm"),
        "a2": ("other", "model"),
        "a3": ("card_lost", "llm"),
        "a4": ("refund", "llm"),
    }
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        items = await until_labelled(ll, pid, set(want), h)
        got = {i: (items[i]["label"], items[i]["source"]["type"]) for i in want}
        if {items[i]["source"]["version"] for i in want} == {"4"}:
            break
        assert asyncio.get_running_loop().time() < deadline, items
        await asyncio.sleep(0.3)
    assert got == want


async def test_llm_settings_validate(ll: InProcess) -> None:
    pid = await ll.make_project()
    url = f"/v1/project/{pid}/classifier"
    for body, field in (({"llm_fallback": "yes"}, "llm_fallback"), ({"llm_model": ""}, "llm_model")):
        r = await ll.client.post(url, json={**TAXONOMY, **body}, headers=ll.headers)
        assert r.status_code == 400 and field in r.text, r.text
