"""The read tools' answers, checked against the seed (not only that they ran): summarized and
detailed results of project logs and of a dataset, the inferred schema, get_data_source's choice
for the user (the caller's org only), and the BTQL repair budget running out."""

from __future__ import annotations

from collections import Counter
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


async def dataset_with(ll: InProcess, pid: str, name: str, records: list[dict[str, Any]]) -> str:
    r = await ll.client.post("/v1/dataset", json={"project_id": pid, "name": name}, headers=ll.headers)
    assert r.status_code == 200, r.text
    ds = str(r.json()["id"])
    r = await ll.client.post(f"/v1/dataset/{ds}/insert", json={"events": records}, headers=ll.headers)
    assert r.status_code == 200, r.text
    return ds


async def test_summaries_details_and_schema_match_the_seed(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    s = await seed.seed_project(ll.client, ll.headers, "read-tools", traces=20)
    pid = s.project_id
    records = [
        {"input": {"question": "q1"}, "expected": "a1"},
        {"input": {"question": "q2"}, "expected": "a2"},
    ]
    ds = await dataset_with(ll, pid, "gold", records)
    scripted_llm.push(
        Reply(
            tool_calls=[
                ToolCall("get_summarized_results", {"days": 14}, id="sum"),
                ToolCall("get_detailed_results", {"limit": 3}, id="det"),
                ToolCall("infer_schema", {}, id="schema"),
                ToolCall("get_summarized_results", {"object_type": "dataset", "object_id": ds}, id="dsum"),
                ToolCall("get_detailed_results", {"object_type": "dataset", "object_id": ds}, id="ddet"),
            ]
        ),
        Reply("Here is the overview."),
    )
    cid = await new_conversation(ll)
    events = await turn(
        ll, cid, content="what is in these logs?", page={"kind": "project_logs", "project_id": pid}
    )
    results = of(events, "tool_result")
    assert [r["ok"] for r in results] == [True] * 5, results
    assert events[-1].data["status"] == "complete"
    out = tool_outputs(scripted_llm.requests_to("/v1/chat/completions")[-1])

    # project logs at a glance: spans, traces, errors and the busiest span names, as in the seed
    totals = out["sum"]["totals"]
    assert (totals["spans"], totals["traces"]) == (len(s.rows), 20)
    assert totals["errors"] == sum(1 for r in s.rows if r.get("error"))
    names = Counter(r["span_attributes"]["name"] for r in s.rows)
    errors = Counter(r["span_attributes"]["name"] for r in s.rows if r.get("error"))
    assert {x["name"]: (x["spans"], x["errors"]) for x in out["sum"]["span_names"]} == {
        n: (names[n], errors[n]) for n in names
    }
    assert out["sum"]["span_names"][0]["spans"] == max(names.values())
    assert results[0]["summary"] == f"{len(s.rows)} spans in 14 days"

    # the newest rows, whole, and a sign that there are more
    detailed = out["det"]
    ids = {r["id"] for r in s.rows}
    assert len(detailed["rows"]) == 3 and {r["id"] for r in detailed["rows"]} <= ids
    assert detailed["more"] is True and all("span_attributes" in r for r in detailed["rows"])

    # the schema: the seed's JSON paths and how often they occur
    fields = out["schema"]["fields"]
    assert out["schema"]["sampled_rows"] == len(s.rows)
    metric_paths = {p["path"]: p["count"] for p in fields["metrics"]["paths"]}
    llm_spans = sum(1 for r in s.rows if r["span_attributes"]["type"] == "llm")
    assert metric_paths["metrics.tokens"] == llm_spans
    assert {"input.question", "input.tool"} <= {p["path"] for p in fields["input"]["paths"]}

    # a dataset: its size, and its records
    assert out["dsum"]["data_summary"]["total_records"] == 2 and out["dsum"]["dataset_name"] == "gold"
    assert sorted(r["expected"] for r in out["ddet"]["rows"]) == ["a1", "a2"] and not out["ddet"]["more"]


async def test_get_data_source_asks_the_user_to_choose_among_their_own(
    ll: InProcess, scripted_llm: ScriptedLLM
) -> None:
    mine = await ll.make_project(name="mine")
    ds = await dataset_with(ll, mine, "mine-ds", [{"input": "x"}])
    other_org, other_key = await ll.new_org("someone-else")
    theirs = await ll.make_project(org_id=other_org, name="theirs")
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("get_data_source", {}, id="src")]),
        Reply("Which project do you mean?"),
    )
    cid = await new_conversation(ll)
    events = await turn(ll, cid, content="how many errors were there?")  # no page: nothing in view
    [result] = of(events, "tool_result")
    [choose] = of(events, "choose")
    assert result["ok"] and choose["kind"] == "data_source"
    options = {(o["type"], o["id"]) for o in choose["options"]}
    assert {("project_logs", mine), ("dataset", ds)} <= options
    assert not any(o["id"] == theirs for o in choose["options"])
    seen = tool_outputs(scripted_llm.requests_to("/v1/chat/completions")[-1])["src"]
    assert {(o["type"], o["id"]) for o in seen["options"]} == options
    assert "ask the user" in seen["instruction"]
    assert events[-1].data["status"] == "complete"

    # the other org's user is offered theirs, not ours
    scripted_llm.push(Reply(tool_calls=[ToolCall("get_data_source", {"kind": "project_logs"})]), Reply("?"))
    oh = {"Authorization": f"Bearer {other_key}"}
    other_cid = await new_conversation(ll, headers=oh)
    events = await turn(ll, other_cid, content="which data?", headers=oh)
    [choose] = of(events, "choose")
    offered = {o["id"] for o in choose["options"]}
    assert theirs in offered and not offered & {mine, ds}


async def test_the_btql_repair_budget_runs_out(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    """btql_repairs = 2: the first failure and two repairs come back classified, with the repairs
    left; a fourth failing query in the same turn is refused without running."""
    pid = await ll.make_project()
    bad = [
        f"select: id | from: project_logs('{pid}') | filter: count(error) > 0",  # bind: aggregate
        f"select: id | from: project_logs('{pid}') | filter: (",  # parse
        f"select: nope( id ) | from: project_logs('{pid}')",  # unknown function
        f"select: id | from: project_logs('{pid}') | filter: count(id) > 1",
    ]
    scripted_llm.push(
        Reply(tool_calls=[ToolCall("run_btql", {"query": q}, id=f"q{i}") for i, q in enumerate(bad)]),
        Reply("I could not write a working query."),
    )
    cid = await new_conversation(ll)
    events = await turn(ll, cid, content="count spans with errors", page={"kind": "btql", "project_id": pid})
    results = of(events, "tool_result")
    assert [r["outcome"] for r in results] == ["error"] * 4, results
    out = tool_outputs(scripted_llm.requests_to("/v1/chat/completions")[-1])
    assert [out[f"q{i}"]["repairs_left"] for i in range(3)] == [2, 1, 0]
    for i in range(3):
        err = out[f"q{i}"]["error"]
        assert err["class"].endswith("Error") and err["message"], err
        assert out[f"q{i}"]["query"] == bad[i]
    assert out["q0"]["error"]["class"] == "BindError" and out["q1"]["error"]["line"] == 1
    assert "no repairs left" in out["q2"]["hint"] and "fix the query" in out["q0"]["hint"]
    assert "repair budget of this turn is used up" in out["q3"]["error"]
    assert events[-1].data["status"] == "complete"

    # the budget is per turn: the next turn may repair again
    scripted_llm.push(Reply(tool_calls=[ToolCall("run_btql", {"query": bad[0]}, id="again")]), Reply("."))
    await turn(ll, cid, content="try once more", page={"kind": "btql", "project_id": pid})
    again = tool_outputs(scripted_llm.requests_to("/v1/chat/completions")[-1])["again"]
    assert again["repairs_left"] == 2 and again["error"]["class"] == "BindError"
