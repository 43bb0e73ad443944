"""The pre-canned analyses over a seeded project (written through /logs3), checked against answers
computed from the seed's rows in Python; through the API, as the caller, with no model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from loopline.loop_agent.evaluation import seed

from tests.support.app import InProcess, in_process

SERVICES = ("gateway", "ingest", "writer", "query", "loop-agent")


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, SERVICES) as p:
        yield p


async def analyze(ll: InProcess, name: str, **params: Any) -> dict[str, Any]:
    r = await ll.client.post(f"/v1/loop/analyze/{name}", json=params, headers=ll.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["analysis"] == name and body["queries"]
    return body["result"]  # type: ignore[no-any-return]


async def test_analyses_match_answers_computed_from_the_seed(ll: InProcess) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "support-bot")
    pid = s.project_id

    top = await analyze(ll, "top_errors", project_id=pid)
    got = [(x["name"], x["total"], x["errors"], x["blast_radius"]) for x in top["by_span_name"]]
    want = seed.expected_errors_by_name(s)
    assert [g[:3] for g in got] == [w[:3] for w in want]
    assert [g[3] for g in got] == pytest.approx([w[3] for w in want])
    assert got[0][0] == "lookup_order"  # the tool that broke this week hurts most
    by_intent = {x["intent"]: (x["total"], x["errors"]) for x in top["by_intent"]}
    assert by_intent == {k: v for k, v in seed.expected_errors_by_intent(s).items() if v[1]}

    tools = await analyze(ll, "tool_success", project_id=pid)
    want_tools = seed.expected_tool_success(s)
    for t in tools["tools"]:
        w = want_tools[t["tool"]]
        assert (t["current"]["calls"], t["current"]["failures"]) == w["current"]
        assert (t["previous"]["calls"], t["previous"]["failures"]) == w["previous"]
        rate = {p: (c - f) / c for p, (c, f) in w.items()}
        assert t["change"] == pytest.approx(rate["current"] - rate["previous"])
    assert tools["tools"][0]["tool"] == "lookup_order" and tools["tools"][0]["change"] < -0.1
    cur = sum(w["current"][0] for w in want_tools.values()), sum(w["current"][1] for w in want_tools.values())
    assert tools["overall"]["current"]["calls"] == cur[0]
    assert tools["overall"]["current"]["failures"] == cur[1]

    overflow = await analyze(ll, "context_overflow", project_id=pid, limit=100)
    want_overflow = seed.expected_overflows(s)
    assert overflow["incidents"] == len(want_overflow) > 0
    assert sorted(x["id"] for x in overflow["latest"]) == sorted(r["id"] for r in want_overflow)

    provider = await analyze(ll, "provider_errors", project_id=pid)
    want_kinds = seed.expected_provider_errors(s)
    assert provider["by_kind"] == want_kinds
    assert provider["total_errors"] == sum(want_kinds.values())
    llm_spans = [r for r in s.spans(7) if r["span_attributes"]["type"] == "llm"]
    assert provider["llm_calls"] == len(llm_spans)

    out = await analyze(ll, "outliers", project_id=pid, factor=3, limit=50)
    for metric in ("latency", "tokens"):
        mean, ids = seed.expected_outliers(s, metric, 3.0)
        assert out[metric]["stats"]["mean"] == pytest.approx(mean)
        assert out[metric]["outliers"] == len(ids) > 0
        assert [x["id"] for x in out[metric]["top"]] == ids

    intents = await analyze(ll, "intents", project_id=pid)
    want_intents = seed.expected_intents(s)
    assert intents["classified"] is True
    assert {
        i["intent"]: {"current": i["current"], "previous": i["previous"]} for i in intents["intents"]
    } == want_intents
    cur_total = sum(c["current"] for c in want_intents.values())
    for i in intents["intents"]:
        assert i["current_share"] == pytest.approx(want_intents[i["intent"]]["current"] / cur_total)


async def test_analyses_without_classifier_or_data(ll: InProcess) -> None:
    pid = str((await ll.client.post("/v1/project", json={"name": "empty"}, headers=ll.headers)).json()["id"])
    top = await analyze(ll, "top_errors", project_id=pid)
    assert top == {"by_span_name": [], "by_intent": []}
    intents = await analyze(ll, "intents", project_id=pid)
    assert intents["classified"] is False and intents["intents"] == []
    out = await analyze(ll, "outliers", project_id=pid, metric="latency")
    assert out["latency"]["outliers"] == 0 and out["latency"]["top"] == []


async def test_analysis_refusals_and_other_orgs(ll: InProcess) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "mine", traces=20)
    r = await ll.client.get("/v1/loop/analyses", headers=ll.headers)
    assert {a["name"] for a in r.json()["analyses"]} == set(seed_names())
    r = await ll.client.post("/v1/loop/analyze/nope", json={"project_id": s.project_id}, headers=ll.headers)
    assert r.status_code == 404 and "top_errors" in r.json()["error"]["message"]
    r = await ll.client.post("/v1/loop/analyze/top_errors", json={"days": 7}, headers=ll.headers)
    assert r.status_code == 400 and r.json()["error"]["field"] == "project_id"
    r = await ll.client.get(f"/v1/loop/analyze/outliers?project_id={s.project_id}&days=0", headers=ll.headers)
    assert r.status_code == 400 and r.json()["error"]["field"] == "days"
    r = await ll.client.post("/v1/loop/analyze/top_errors", content=b"{", headers=ll.headers)
    assert r.status_code == 400
    # another org's key sees nothing of this project
    _, other_key = await ll.new_org("other")
    r = await ll.client.post(
        "/v1/loop/analyze/top_errors",
        json={"project_id": s.project_id},
        headers={"Authorization": f"Bearer {other_key}"},
    )
    assert r.status_code in (403, 404), r.text
    assert "lookup_order" not in r.text
    r = await ll.client.get(f"/v1/loop/analyze/top_errors?project_id={s.project_id}")
    assert r.status_code == 401


def seed_names() -> tuple[str, ...]:
    return ("top_errors", "tool_success", "context_overflow", "provider_errors", "outliers", "intents")
