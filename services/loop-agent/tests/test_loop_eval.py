"""Loop's evaluation harness end to end, in-process against the scripted LLM server (CI proves it
works; a real model is measured with `loopline loop-eval`): a scripted model that answers each
question from the tools' outputs scores 1 everywhere, one that does not scores low, and the run is
logged as an experiment whose summary carries the score. Plus the scorers on their own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from loopline.loop_agent.evaluation.harness import Answer, run_loop_eval, score
from loopline.loop_agent.evaluation.questions import Question

from tests.support.app import InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM, Seen, ToolCall
from tests.support.loop_chat import agent_settings, tool_outputs

SERVICES = ("gateway", "ingest", "writer", "query", "loop-agent")
SINCE = "created > now() - interval 7 day"

#: the scripted model's plan per question: (words of the question, the tool call, the answer from its output)
PLANS: list[tuple[str, ToolCall, Any]] = [
    (
        "How many traces",
        ToolCall("btql_query", {"query": f"measures: count(1) as n | filter: is_root and {SINCE}"}),
        lambda out: f"{out['rows'][0]['n']:,} traces in the last 7 days.",
    ),
    (
        "Which tool failed",
        ToolCall("blast_radius", {"by": "tool"}),
        lambda out: f"{max(out['groups'], key=lambda g: g['errors'])['name']} failed most often.",
    ),
    (
        "rate limit",
        ToolCall("analyze", {"name": "provider_errors"}),
        lambda out: f"There were {out['result']['by_kind']['rate_limit']} rate-limited calls.",
    ),
    (
        "most common user intent",
        ToolCall("intent_distribution", {}),
        lambda out: f"Mostly {out['intents'][0]['intent']}.",
    ),
    (
        "context-window overflow",
        ToolCall("analyze", {"name": "context_overflow"}),
        lambda out: f"{out['result']['incidents']} overflows.",
    ),
    (
        "Which LLM model",
        ToolCall("analyze", {"name": "provider_errors"}),
        lambda out: f"{out['result']['by_model'][0]['model']} had the most failures.",
    ),
    (
        "percentage points",
        ToolCall("analyze", {"name": "tool_success"}),
        lambda out: "It changed by {:.1f} percentage points.".format(
            abs(next(t for t in out["result"]["tools"] if t["tool"] == "lookup_order")["change"]) * 100
        ),
    ),
    (
        "BTQL query",
        ToolCall(
            "btql_query",
            {
                "query": "dimensions: span_attributes.name as tool | measures: count(1) as n "
                f"| filter: span_attributes.type = 'tool' and error IS NOT NULL and {SINCE}"
            },
        ),
        lambda out: "Here is the query and its counts.",
    ),
]


def perfect(seen: Seen) -> Reply:
    """Answers each question by calling the planned tool, then reading its output."""
    question = next(m["content"] for m in seen.messages if m.get("role") == "user")
    _, call, answer = next(p for p in PLANS if p[0] in question)
    outputs = tool_outputs(seen)
    if not outputs:
        return Reply(tool_calls=[call])
    return Reply(answer(next(iter(outputs.values()))))


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, SERVICES, loop_agent=agent_settings(scripted_llm)) as p:
        yield p


async def test_a_model_that_uses_the_tools_well_scores_one(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    scripted_llm.respond_with(perfect)
    report = await run_loop_eval(ll.client, ll.headers, "gpt-4o", traces=120)
    rows = report.as_dict()
    assert len(rows["questions"]) == len(PLANS) == 8
    assert all(q["score"] == 1.0 for q in rows["questions"]), report.table()
    assert rows["score"] == 1.0 and report.experiment_id
    summary = (
        await ll.client.get(f"/v1/experiment/{report.experiment_id}/summarize", headers=ll.headers)
    ).json()
    assert summary["scores"]["correct"]["score"] == pytest.approx(1.0)
    assert "gpt-4o" in summary["experiment_name"]


async def test_a_model_that_guesses_scores_low(ll: InProcess, scripted_llm: ScriptedLLM) -> None:
    scripted_llm.respond_with(lambda seen: Reply("Probably about 3, mostly send_email and billing."))
    report = await run_loop_eval(ll.client, ll.headers, "claude-3-5-sonnet", traces=120, log=False)
    assert report.experiment_id is None
    assert report.mean < 0.6, report.table()
    btql = next(s for s in report.scored if s.question.id == "btql_errors_per_tool")
    assert btql.score == 0 and "no successful BTQL" in btql.detail
    assert scripted_llm.requests_to("/v1/messages")  # asked through the Anthropic wire


def test_scorers() -> None:
    n = Question("n", "how many?", "number", 120)
    assert score(n, Answer(text="There were 1,20 ... no: 120 traces."))[0] == 1.0
    assert 0 < score(n, Answer(text="About 100."))[0] < 1
    assert score(n, Answer(text="Many."))[0] == 0.0
    pp = Question("pp", "change?", "number", 12.5, tolerance=0.5)
    assert score(pp, Answer(text="It fell by -12.3 points"))[0] == 1.0
    name = Question("t", "which?", "name", "lookup_order", candidates=("lookup_order", "send_email"))
    assert score(name, Answer(text="lookup_order, then send_email"))[0] == 1.0
    assert score(name, Answer(text="send_email, not lookup_order"))[0] == 0.0
    b = Question("b", "btql", "btql", {"lookup_order": 7, "search_docs": 2})
    assert (
        score(b, Answer(rows=[{"tool": "search_docs", "n": 2}, {"tool": "lookup_order", "n": 7}]))[0] == 1.0
    )
    wrong = score(b, Answer(rows=[{"tool": "lookup_order", "n": 6}]))
    assert 0 <= wrong[0] < 1 and "rows differ" in wrong[1]
    assert re.search("no successful", score(b, Answer())[1])
