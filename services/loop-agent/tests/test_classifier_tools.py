"""intent_distribution and blast_radius over a seeded, classified project, through the real
`anthropic` client (one turn calls them in parallel), checked against answers computed from the
seed's rows in Python; another org's project is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from loopline.loop_agent.evaluation import seed

from tests.support.app import InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM, ToolCall
from tests.support.loop_chat import agent_settings, new_conversation, of, tool_outputs, turn

SERVICES = ("gateway", "ingest", "writer", "query", "loop-agent")


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, SERVICES, loop_agent=agent_settings(scripted_llm)) as p:
        yield p


def spans_by(s: seed.SeedRows, kind: str | None, key: str) -> list[tuple[str, int, int, float]]:
    """(group, spans, errors, blast radius) of one week's spans of a type, grouped, ranked."""
    spans = [r for r in s.spans(7) if kind is None or r["span_attributes"]["type"] == kind]
    total: dict[str, int] = {}
    errors: dict[str, int] = {}
    for r in spans:
        g = r["span_attributes"]["name"] if key == "name" else r["metadata"]["model"]
        total[g] = total.get(g, 0) + 1
        errors[g] = errors.get(g, 0) + bool(r.get("error"))
    out = [(g, total[g], errors[g], errors[g] / len(spans)) for g in total if errors[g]]
    return sorted(out, key=lambda x: (-x[3], -x[2] / x[1], x[0]))


async def test_intent_distribution_and_blast_radius(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "classified")
    calls = [
        ToolCall("intent_distribution", {}, id="dist"),
        ToolCall("blast_radius", {"by": "intent"}, id="intent"),
        ToolCall("blast_radius", {"by": "tool", "limit": 5}, id="tool"),
        ToolCall("blast_radius", {"by": "model"}, id="model"),
        ToolCall("intent_distribution", {"facet": "Intent; drop"}, id="badfacet"),
    ]
    scripted_llm.push(Reply(tool_calls=calls), Reply("Refunds fail most."))
    cid = await new_conversation(ll, model="claude-3-5-sonnet")
    events = await turn(
        ll,
        cid,
        content="what do users ask, and what fails?",
        page={"kind": "project_logs", "project_id": s.project_id},
    )
    assert [r["ok"] for r in of(events, "tool_result")] == [True, True, True, True, False]
    assert events[-1].data["status"] == "complete"
    out: dict[str, Any] = tool_outputs(scripted_llm.requests_to("/v1/messages")[1])

    want_intents = seed.expected_intents(s)
    dist = out["dist"]
    assert dist["facet"] == "Intent" and "classifications.Intent[0].label" in dist["query"]
    assert {
        i["intent"]: {"current": i["current"], "previous": i["previous"]} for i in dist["intents"]
    } == want_intents
    unclassified = [r for r in s.spans(7) if r["id"] == r["root_span_id"] and not r.get("classifications")]
    assert dist["unclassified_traces"]["current"] == len(unclassified) > 0

    by_intent = {g["intent"]: (g["total"], g["errors"]) for g in out["intent"]["groups"]}
    assert by_intent == {k: v for k, v in seed.expected_errors_by_intent(s).items() if v[1]}
    assert out["intent"]["unit"] == "traces"

    want_tools = spans_by(s, "tool", "name")[:5]
    got_tools = out["tool"]["groups"]
    assert [(g["name"], g["total"], g["errors"]) for g in got_tools] == [w[:3] for w in want_tools]
    assert [g["blast_radius"] for g in got_tools] == pytest.approx([w[3] for w in want_tools])
    assert got_tools[0]["name"] == "lookup_order"
    want_models = spans_by(s, "llm", "model")
    assert [(g["name"], g["total"], g["errors"]) for g in out["model"]["groups"]] == [
        w[:3] for w in want_models
    ]
    assert "not a facet name" in out["badfacet"]["error"]


async def test_unclassified_projects_and_other_orgs(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "private", traces=20)
    empty = str(
        (await ll.client.post("/v1/project", json={"name": "quiet"}, headers=ll.headers)).json()["id"]
    )
    scripted_llm.push(
        Reply(
            tool_calls=[
                ToolCall("intent_distribution", {"project_id": empty}, id="d"),
                ToolCall("blast_radius", {"project_id": empty}, id="b"),
            ]
        ),
        Reply("Nothing classified."),
    )
    cid = await new_conversation(ll)
    await turn(ll, cid, content="intents?")
    out = tool_outputs(scripted_llm.requests_to("/v1/chat/completions")[1])
    assert out["d"]["classified"] is False and "no classifier ran" in out["d"]["note"]
    assert out["b"]["groups"] == [] and "no classifier ran" in out["b"]["note"]

    _, other = await ll.new_org("intruder")
    h = {"Authorization": f"Bearer {other}"}
    scripted_llm.push(
        Reply(
            tool_calls=[
                ToolCall("intent_distribution", {"project_id": s.project_id}, id="d2"),
                ToolCall("blast_radius", {"project_id": s.project_id, "by": "tool"}, id="b2"),
            ]
        ),
        Reply("I cannot read it."),
    )
    cid = await new_conversation(ll, headers=h)
    events = await turn(ll, cid, headers=h, content="intents of their project?")
    assert [r["ok"] for r in of(events, "tool_result")] == [False, False]
    seen = str(scripted_llm.requests_to("/v1/chat/completions")[-1].messages)
    assert "refund" not in seen and "lookup_order" not in seen
