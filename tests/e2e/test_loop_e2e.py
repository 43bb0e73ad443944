"""Loop against `loopline up`, embedded and on Kafka: a streamed conversation whose model comes
from the org's AI secret (the scripted OpenAI server behind the model gateway), that analyses the
seeded logs, queries them, asks to add five errors to a dataset, and writes them once the user
accepts; the rows are read back and the conversation is stored. Then one conversation that uses
every tool of the agent (auto-accept), and `loopline loop-eval` measuring a model."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
from loopline.loop_agent.evaluation import seed
from loopline.loop_agent.events import Event, parse_sse
from loopline.loop_agent.tools import TOOLS
from typer.testing import CliRunner

from loopline.cli.main import app
from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall
from tests.support.loop_chat import last_tool_content
from tests.support.running import RunningLoopline


def _turn(c: httpx.Client, path: str, body: dict[str, Any]) -> list[Event]:
    r = c.post(path, json=body, timeout=120)
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    assert events and events[-1].type == "done", events
    return events


def _of(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == kind]


async def _seed(server: RunningLoopline, name: str) -> seed.SeedRows:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        return await seed.seed_project(c, server.headers, name, traces=60)


def _scripted_secret(c: httpx.Client, scripted_llm: ScriptedLLM, key_prefix: str) -> str:
    """An org AI secret serving gpt-4o-mini from the scripted OpenAI server (one attempt per
    call); its name, for deleting it after."""
    secret = f"openai-{uuid.uuid4().hex[:6]}"
    body = {
        "name": secret,
        "type": "openai",
        "secret": key_prefix + "x" * 20,
        "metadata": {"api_base": scripted_llm.openai_base_url, "models": ["gpt-4o-mini"], "max_attempts": 1},
    }
    assert c.post("/v1/ai_secret", json=body).status_code == 200
    return secret


def test_a_streamed_conversation_with_tools_and_a_confirmed_write(
    server: RunningLoopline, scripted_llm: ScriptedLLM
) -> None:
    c = httpx.Client(base_url=server.url, headers=server.headers, timeout=60)
    secret = _scripted_secret(c, scripted_llm, "sk-loop-")
    try:
        s = asyncio.run(_seed(server, f"loop-{uuid.uuid4().hex[:8]}"))
        pid = s.project_id
        r = c.post("/v1/dataset", json={"project_id": pid, "name": "X"})
        assert r.status_code == 200, r.text
        ds = r.json()["id"]
        page = {"kind": "project_logs", "project_id": pid}
        query = (
            "select: id, input, error | filter: error IS NOT NULL and span_attributes.name = 'lookup_order' "
            "| sort: id | limit: 5"
        )
        scripted_llm.push(Reply(tool_calls=[ToolCall("analyze", {"name": "top_errors", "days": 14})]))
        scripted_llm.push(Reply(tool_calls=[ToolCall("btql_query", {"query": query})]))

        def responder(seen: Seen) -> Reply:
            last = last_tool_content(seen)
            if "rows" in last:
                records = [
                    {"input": row["input"], "expected": row["error"], "metadata": {"span_id": row["id"]}}
                    for row in last["rows"]
                ]
                return Reply(tool_calls=[ToolCall("edit_data", {"dataset_id": ds, "insert": records})])
            return Reply("I added the five most common lookup_order errors to dataset X.")

        scripted_llm.respond_with(responder)
        r = c.post("/v1/loop/conversations", json={"model": "gpt-4o-mini", "title": "errors"})
        assert r.status_code == 200, r.text
        cid = r.json()["id"]
        events = _turn(
            c,
            f"/v1/loop/conversations/{cid}/messages",
            {"content": "find the most common errors and add five of them to dataset X", "page": page},
        )
        assert [e["name"] for e in _of(events, "tool_call_start")] == ["analyze", "btql_query", "edit_data"]
        ask = _of(events, "confirmation_required")
        assert len(ask) == 1 and events[-1].data["status"] == "awaiting_confirmation"
        events = _turn(
            c,
            f"/v1/loop/conversations/{cid}/confirm",
            {"call_id": ask[0]["call_id"], "approve": True, "page": page},
        )
        assert _of(events, "tool_result")[0]["rows_touched"] == 5
        assert "".join(d["text"] for d in _of(events, "text_delta")).startswith("I added the five")
        assert events[-1].data["status"] == "complete" and events[-1].data["usage"]["total_tokens"] > 0
        rows = c.post(f"/v1/dataset/{ds}/fetch", json={"limit": 100}).json()["events"]
        want = sorted(
            r["id"] for r in s.rows if r.get("error") and r["span_attributes"]["name"] == "lookup_order"
        )[:5]
        assert sorted(r["metadata"]["span_id"] for r in rows) == want
        sent = scripted_llm.requests_to("/v1/chat/completions")
        assert sent and all(x.api_key == "sk-loop-" + "x" * 20 for x in sent)  # the org's secret

        # the conversation persists with its messages (another org's 404 is tested in-process:
        # services/loop-agent/tests)
        history = c.get(f"/v1/loop/conversations/{cid}")
        assert history.status_code == 200, history.text
        assert "I added the five" in history.text
    finally:
        c.request("DELETE", "/v1/ai_secret", json={"name": secret})
        c.close()


CODE = "def handler(output, expected):\n    return 1.0 if output == expected else 0.0\n"
JUDGE = "Is {{output}} the right answer to {{input}} given {{expected}}? Answer Y or N."
ANSWERS = {"2+2": "4", "3*3": "9", "10-7": "3"}


def _every_tool_calls(pid: str, ds: str) -> tuple[list[ToolCall], list[ToolCall]]:
    """One step of every read tool, then one of every write tool (the playground offers them all)."""
    reads = [
        ToolCall("get_summarized_results", {"days": 14}, id="r-summary"),
        ToolCall("get_detailed_results", {"limit": 2}, id="r-detail"),
        ToolCall("analyze", {"name": "top_errors", "days": 14}, id="r-analyze"),
        ToolCall("btql_query", {"query": "measures: count(1) as n"}, id="r-btql"),
        ToolCall("run_btql", {"query": f"measures: count(1) as n | from: project_logs('{pid}')"}, id="r-run"),
        ToolCall("infer_schema", {}, id="r-schema"),
        ToolCall("get_data_source", {"kind": "dataset", "project_id": pid}, id="r-source"),
        ToolCall("search_docs", {"query": "how does a classifier backfill label old spans"}, id="r-docs"),
        ToolCall("intent_distribution", {"days": 14}, id="r-intents"),
        ToolCall("blast_radius", {"by": "span_name", "days": 14}, id="r-blast"),
        ToolCall("get_scorers", {}, id="r-scorers"),
    ]
    errors = f"select: id, input, error | from: project_logs('{pid}') | filter: error IS NOT NULL | limit: 3"
    writes = [
        ToolCall("create_dataset_from_query", {"name": "errors", "query": errors}, id="w-dataset"),
        ToolCall(
            "edit_data",
            {"dataset_id": ds, "insert": [{"input": {"q": "10-7"}, "expected": "3"}]},
            id="w-data",
        ),
        ToolCall("create_code_scorer", {"name": "Exact", "code": CODE}, id="w-code"),
        ToolCall(
            "create_llm_judge_scorer",
            {"name": "Correct", "prompt": JUDGE, "choice_scores": {"Y": 1, "N": 0}},
            id="w-judge",
        ),
        ToolCall(
            "edit_prompt",
            {"messages": [{"role": "user", "content": "{{input.q}}"}], "params": {"temperature": 0}},
            id="w-prompt",
        ),
        ToolCall("edit_scorers", {"scorers": ["exact_match"]}, id="w-scorers"),
        ToolCall("run_eval", {"experiment_name": "loop-every-tool"}, id="w-eval"),
    ]
    return reads, writes


def test_one_conversation_uses_every_tool(server: RunningLoopline, scripted_llm: ScriptedLLM) -> None:
    """Every tool of the agent in one streamed conversation (auto-accept on, a playground page):
    each runs as the caller against the running services and succeeds, and what the writes made
    is read back (datasets, scorers, the prompt's new version, the eval's experiment)."""
    c = httpx.Client(base_url=server.url, headers=server.headers, timeout=60)
    secret = _scripted_secret(c, scripted_llm, "sk-every-")
    try:
        s = asyncio.run(_seed(server, f"loop-all-{uuid.uuid4().hex[:8]}"))
        pid = s.project_id
        prompt = {
            "project_id": pid,
            "name": "Calculator",
            "slug": f"calc-{uuid.uuid4().hex[:6]}",
            "function_data": {"type": "prompt"},
            "prompt_data": {
                "prompt": {"type": "chat", "messages": [{"role": "user", "content": "Compute {{input}}"}]},
                "options": {"model": "gpt-4o-mini"},
            },
        }
        r = c.post("/v1/prompt", json=prompt)
        assert r.status_code == 200, r.text
        prompt_id = r.json()["id"]
        r = c.post("/v1/dataset", json={"project_id": pid, "name": "sums"})
        assert r.status_code == 200, r.text
        ds = r.json()["id"]
        records = [{"input": {"q": q}, "expected": a} for q, a in list(ANSWERS.items())[:2]]
        assert c.post(f"/v1/dataset/{ds}/insert", json={"events": records}).status_code == 200
        reads, writes = _every_tool_calls(pid, ds)
        assert {t.name for t in reads + writes} == {t.name for t in TOOLS}  # no tool left out

        def responder(seen: Seen) -> Reply:
            offered = [t["function"]["name"] for t in (seen.json or {}).get("tools") or []]
            if not offered:  # the eval's task: the prompt's model answers the question
                return Reply(ANSWERS.get(seen.last_user_text.strip(), "?"))
            answered = {str(m.get("tool_call_id")) for m in seen.messages if m.get("role") == "tool"}
            if "r-summary" not in answered:
                return Reply(tool_calls=reads)
            if "w-dataset" not in answered:
                return Reply(tool_calls=writes)
            return Reply("Done: every tool ran.")

        scripted_llm.respond_with(responder)
        r = c.post("/v1/loop/conversations", json={"model": "gpt-4o-mini", "auto_accept": True})
        assert r.status_code == 200, r.text
        cid = r.json()["id"]
        page = {
            "kind": "playground",
            "project_id": pid,
            "object_id": prompt_id,
            "dataset_id": ds,
            "scorers": [],
        }
        events = _turn(
            c, f"/v1/loop/conversations/{cid}/messages", {"content": "use every tool", "page": page}
        )
        started = [e["name"] for e in _of(events, "tool_call_start")]
        assert started == [t.name for t in reads + writes], started
        results = {x["call_id"]: x for x in _of(events, "tool_result")}
        failed = {k: v["summary"] for k, v in results.items() if not v["ok"]}
        assert not failed and len(results) == len(reads) + len(writes), failed
        assert not _of(events, "confirmation_required")  # auto-accept
        assert _of(events, "choose")[0]["kind"] == "data_source"
        assert _of(events, "page_update")[0]["scorers"] == ["exact_match"]
        done = events[-1].data
        assert done["status"] == "complete" and done["iterations"] == 3, done
        assert results["r-run"]["summary"] == "1 rows" and results["w-data"]["rows_touched"] == 1
        assert results["w-dataset"]["rows_touched"] == 3
        assert "ExactMatch" in results["w-eval"]["summary"], results["w-eval"]

        # what the writes made, read back through the API
        rows = c.post(f"/v1/dataset/{ds}/fetch", json={"limit": 100}).json()["events"]
        assert sorted(r["expected"] for r in rows) == ["3", "4", "9"]
        made = {
            d["name"]: d["id"] for d in c.get("/v1/dataset", params={"project_id": pid}).json()["objects"]
        }
        assert len(c.post(f"/v1/dataset/{made['errors']}/fetch", json={"limit": 100}).json()["events"]) == 3
        fns = c.get("/v1/function", params={"project_id": pid, "function_type": "scorer"}).json()["objects"]
        assert {f["slug"] for f in fns} >= {"exact", "correct"}
        edited = c.get(f"/v1/prompt/{prompt_id}").json()["prompt_data"]
        assert edited["prompt"]["messages"] == [{"role": "user", "content": "{{input.q}}"}]
        assert edited["options"]["params"]["temperature"] == 0
        jobs = c.get("/v1/eval", params={"project_id": pid}).json()["objects"]
        assert [j["status"] for j in jobs] == ["succeeded"], jobs
        audit = c.get("/v1/loop/audit", params={"conversation_id": cid}).json()["objects"]
        assert sorted(a["tool"] for a in audit) == sorted(t.name for t in TOOLS)
        assert {a["outcome"] for a in audit} == {"ok"}
    finally:
        c.request("DELETE", "/v1/ai_secret", json={"name": secret})
        c.close()


def test_loop_eval_cli_measures_a_model_against_a_running_loopline(
    server: RunningLoopline, scripted_llm: ScriptedLLM
) -> None:
    """`loopline loop-eval` seeds a project, asks Loop (the org's model: the scripted server, which
    answers from the tool's output) and logs the scored run as an experiment."""
    c = httpx.Client(base_url=server.url, headers=server.headers, timeout=60)
    secret = _scripted_secret(c, scripted_llm, "sk-eval-")

    def counts_traces(seen: Seen) -> Reply:
        last = last_tool_content(seen)
        if "rows" in last:
            return Reply(f"{last['rows'][0]['n']} traces in the last 7 days.")
        query = "measures: count(1) as n | filter: is_root and created > now() - interval 7 day"
        return Reply(tool_calls=[ToolCall("btql_query", {"query": query})])

    scripted_llm.respond_with(counts_traces)
    try:
        args = ["loop-eval", "--model", "gpt-4o-mini", "--only", "traces_7d", "--traces", "40", "--json"]
        r = CliRunner().invoke(app, [*args, "--url", server.url, "--api-key", server.api_key])
        assert r.exit_code == 0, r.output
        report = orjson.loads(r.stdout[r.stdout.index("{") :])
        [question] = report["questions"]
        assert question["id"] == "traces_7d" and report["score"] == 1.0, report
        summary = c.get(f"/v1/experiment/{report['experiment_id']}/summarize").json()
        assert summary["scores"]["correct"]["score"] == 1.0, summary
    finally:
        c.request("DELETE", "/v1/ai_secret", json={"name": secret})
        c.close()
