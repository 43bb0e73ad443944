"""Pure parts of the agent: tool declarations, bounded tool output, pending calls, records."""

from __future__ import annotations

import orjson
import pytest
from loopline.common.errors import Conflict
from loopline.loop_agent.bounded import bounded_json
from loopline.loop_agent.events import Event, parse_sse
from loopline.loop_agent.loop import Decision, check_decision, pending_calls
from loopline.loop_agent.page import Page
from loopline.loop_agent.tools import TOOLS, available
from loopline.loop_agent.tools.create_dataset import to_record


def test_every_tool_declares_schema_description_and_risk() -> None:
    names = [t.name for t in TOOLS]
    assert len(names) == len(set(names))
    for t in TOOLS:
        decl = t.schema()["function"]
        assert decl["name"] == t.name and len(decl["description"]) > 40
        assert decl["parameters"]["type"] == "object"
        assert t.risk in ("read", "write")
        assert (t.preview is not None) == (t.risk == "write")
    assert {t.name for t in TOOLS if t.risk == "write"} == {
        "edit_data",
        "create_dataset_from_query",
        "edit_prompt",
        "edit_scorers",
        "create_code_scorer",
        "create_llm_judge_scorer",
        "run_eval",
    }
    sandbox = {t.name for t in available("btql")}
    assert "run_btql" in sandbox and "btql_query" not in sandbox
    assert available("playground") == TOOLS
    playground_only = {"edit_prompt", "edit_scorers", "run_eval"}
    for page in ("project_logs", "experiment", "dataset"):
        offered = {t.name for t in available(page)}
        assert not offered & playground_only and "create_llm_judge_scorer" in offered
    assert "edit_scorers" not in {t.name for t in available("prompt")}
    assert {"edit_prompt", "run_eval"} <= {t.name for t in available("none")}


def test_bounded_output_cuts_lists_then_text_and_says_so() -> None:
    content = {"rows": [{"i": i, "text": "x" * 100} for i in range(1000)], "row_count": 1000}
    text = bounded_json(content, 2000)
    assert len(text) <= 2000
    out = orjson.loads(text)
    assert out["row_count"] == 1000 and 0 < len(out["rows"]) < 1000 and "rows_truncated" in out
    huge = bounded_json({"blob": "y" * 50_000}, 1000)
    assert len(huge) <= 1000 and "cut at 1000" in huge
    assert bounded_json([1, 2], 100) == "[1,2]"


def test_pending_calls_and_decisions() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "edit_data", "arguments": "{}"}}
    other = {**call, "id": "c2"}
    history = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [call, other]},
    ]
    assert pending_calls(history) == [call, other]
    history.append({"role": "tool", "tool_call_id": "c1", "content": "{}"})
    assert pending_calls(history) == [other]
    check_decision(history, Decision("c2", True))
    with pytest.raises(Conflict):
        check_decision(history, Decision("c1", True))
    history.append({"role": "tool", "tool_call_id": "c2", "content": "{}"})
    assert pending_calls(history) == []
    with pytest.raises(Conflict):
        check_decision(history, Decision("c2", False))


def test_records_from_query_rows_and_sse_round_trip() -> None:
    assert to_record({"id": "s1", "input": {"q": 1}, "error": "boom"}) == {
        "input": {"q": 1},
        "metadata": {"source": {"error": "boom"}, "source_span_id": "s1"},
    }
    assert to_record({"name": "lookup", "n": 3}) == {"input": {"name": "lookup", "n": 3}}
    events = [Event("text_delta", {"text": "hi"}), Event("done", {"status": "complete"})]
    assert parse_sse(b"".join(e.sse() for e in events).decode()) == events
    assert "BTQL sandbox" not in Page(kind="btql", query="q", error="e").describe()
    assert "It failed with: e" in Page(kind="btql", query="q", error="e").describe()
