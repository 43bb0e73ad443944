"""Discovery end to end, through the in-process app: spans the classifier labels `other` →
clusters that find the planted topics, named by their words (no provider) or by the org's LLM
(the scripted model server), accepted as labels of a new version that labels such requests at
once. A facet with no labels clusters all root spans. Tenants see none of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process
from tests.support.classifier_logs import log_rows, root_span, until_labelled
from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall

SERVICES = ("gateway", "ingest", "writer", "query", "classifier", "evaluator")
# the taxonomy covers refunds and the weather; with this threshold everything else is `other`
TAXONOMY: dict[str, Any] = {
    "labels": [
        {"name": "refund", "description": "wants money back", "examples": ["I want a refund"]},
        {"name": "weather", "description": "weather forecast questions"},
    ],
    "threshold": 0.99,
}
PLANTED = {
    "pages": [
        "add a new page to my app",
        "how do I create another page",
        "I need a second page in this app",
        "can you add a settings page",
        "make a multi-page app with a login page",
        "insert a page for reports",
        "add page called dashboard",
        "please add one more page",
        "build an extra page for admin",
        "add a page that lists orders",
    ],
    "readme": [
        "write a readme for this app",
        "generate a readme describing my app",
        "update the app readme",
        "the readme of this app is outdated, fix it",
        "create a readme for the app",
        "can you write the README",
        "add usage notes to the readme",
        "explain this app in a readme",
        "produce a readme file for the app",
        "refresh the readme text",
    ],
    "speed": [
        "my app is very slow",
        "the table is slow to load",
        "why is loading so slow",
        "the dashboard is too slow",
        "the app is slow when I open it",
        "this query is slow, speed it up",
        "slow page load times",
        "everything is slow since yesterday",
        "the slow chart takes ages",
        "search results are slow",
    ],
}
SMALL_TALK = ["hello", "thanks!", "good morning", "ok", "bye", "who made you"]


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=SERVICES) as p:
        yield p


def span(row_id: str, pid: str, text: str) -> dict[str, Any]:
    return root_span(row_id, pid, [{"role": "user", "content": text}])


def namer(req: Seen) -> Reply:
    text = req.last_user_text
    name = "add_pages" if "page" in text else "app_docs" if "readme" in text else "slowness"
    return Reply(
        tool_calls=[ToolCall("name_cluster", {"name": name, "description": f"users asking: {name}"})]
    )


async def test_discovery_finds_planted_topics_and_accepting_adds_a_label(
    ll: InProcess, scripted_llm: ScriptedLLM
) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    base = f"/v1/project/{pid}/classifier"
    cid = (await c.post(base, json=TAXONOMY, headers=h)).json()["id"]
    topic_of: dict[str, str] = {}
    rows = []
    for topic, texts in PLANTED.items():
        for i, text in enumerate(texts):
            topic_of[f"{topic}{i}"] = topic
            rows.append(span(f"{topic}{i}", pid, text))
    rows += [span(f"talk{i}", pid, text) for i, text in enumerate(SMALL_TALK)]
    await log_rows(ll, rows)
    labelled = await until_labelled(ll, pid, {r["id"] for r in rows})
    assert {item["label"] for item in labelled.values()} == {"other"}

    # no AI provider yet: names from the clusters' distinctive words
    r = await c.post(f"{base}/{cid}/discover", json={}, headers=h)
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["texts"] == len(rows) and found["naming"]["by"] == "keywords"
    assert "provider" in found["naming"]["llm_unavailable"]
    proposals = found["proposals"]
    for topic, texts in PLANTED.items():
        # one proposal holds most of the topic, and little else
        best = max(proposals, key=lambda p: sum(topic_of.get(s) == topic for s in p["span_ids"]))
        hits = sum(topic_of.get(s) == topic for s in best["span_ids"])
        assert hits >= 0.8 * len(texts), (topic, best)
        assert hits >= 0.8 * best["size"], (topic, best)
        assert best["size"] >= 8 and best["examples"] and best["named_by"] == "keywords"
        keyword = {"pages": "page", "readme": "readme", "speed": "slow"}[topic]
        assert keyword in best["name"], best
    names = [p["name"] for p in proposals]
    assert len(set(names)) == len(names)

    # with the org's provider: names written by its LLM
    r = await c.post(
        "/v1/ai_secret",
        json={
            "name": "openai",
            "type": "openai",
            "secret": "sk-t-" + "x" * 20,
            "metadata": {"api_base": scripted_llm.openai_base_url},
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    scripted_llm.respond_with(namer)
    r = await c.post(f"{base}/{cid}/discover", json={"model": "gpt-4o-mini"}, headers=h)
    assert r.status_code == 200, r.text
    named = r.json()
    assert named["naming"] == {"by": "llm", "model": "gpt-4o-mini"}
    by_name = {p["name"]: p for p in named["proposals"]}
    assert {"add_pages", "app_docs", "slowness"} <= by_name.keys()
    assert by_name["app_docs"]["named_by"] == "llm"
    assert by_name["app_docs"]["description"] == "users asking: app_docs"
    sent = scripted_llm.requests[-1].json
    assert sent["tools"][0]["function"]["name"] == "name_cluster"

    # accepting a proposal adds the label: a new version that knows it at once
    docs = by_name["app_docs"]
    r = await c.post(f"{base}/{cid}/accept", json=docs, headers=h)
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["added"] == ["app_docs"] and accepted["classifier"]["version"] == 2
    labels = {lab["name"]: lab for lab in accepted["classifier"]["labels"]}
    assert labels["app_docs"]["examples"] == docs["examples"]
    r = await c.post(
        f"{base}/{cid}/classify", json={"texts": ["please write a readme for my app"]}, headers=h
    )
    assert r.json()["version"] == 2
    again = await c.post(f"{base}/{cid}/accept", json=docs, headers=h)
    assert again.status_code == 400 and "duplicate" in again.text  # already a label
    for bad in ({"labels": []}, {"name": ""}, [1]):
        assert (await c.post(f"{base}/{cid}/accept", json=bad, headers=h)).status_code in (400, 422), bad

    # a facet with no labels yet clusters all the root spans
    topic_cid = (await c.post(base, json={"facet": "Topic"}, headers=h)).json()["id"]
    r = await c.post(f"{base}/{topic_cid}/discover", json={"llm": False}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["texts"] == len(rows) and len(r.json()["proposals"]) >= 3

    # bad input names the field; another org sees nothing
    r = await c.post(f"{base}/{cid}/discover", json={"min_cluster_size": 0}, headers=h)
    assert r.status_code == 400 and "min_cluster_size" in r.text
    _, other_key = await ll.new_org("clf-discovery-other")
    oh = {"Authorization": f"Bearer {other_key}"}
    assert (await c.post(f"{base}/{cid}/discover", json={}, headers=oh)).status_code == 404
    assert (await c.post(f"{base}/{cid}/accept", json={"name": "x"}, headers=oh)).status_code == 404
