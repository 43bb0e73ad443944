"""Online scoring end to end against `loopline up`, on the embedded bus and on Kafka: the real
braintrust SDK logs production traces; a span-scope rule with a global heuristic scorer scores
every `llm` span; a trace-scope rule with an LLM-judge scorer (a stored prompt function, answered by
the scripted LLM server) scores exactly the sampled traces, once each, only after their root span
ended and the trace went quiet. Read back through fetch and the rules' status."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loopline.evaluator.online.sampling import sampled

from tests.e2e.conftest import Api, run_flow, unique_project
from tests.support.llm_server import Reply, ScriptedLLM, ToolCall
from tests.support.running import RunningLoopline

FLOWS = Path(__file__).with_name("online_flows.py")
N = 12
RATE = 0.5
YES = Reply(tool_calls=[ToolCall("select_choice", {"reasons": "Polite.", "choice": "Y"})])


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as s:
        s.respond_with(lambda seen: YES)
        yield s


def rule(api: Api, pid: str, name: str, online: dict[str, Any]) -> str:
    r = api.client.post(
        "/v1/project_score",
        json={"project_id": pid, "name": name, "score_type": "online", "config": {"online": online}},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def judge_function(api: Api, pid: str, llm: ScriptedLLM) -> str:
    model = f"judge-{uuid.uuid4().hex[:8]}"  # served only by this test's secret
    secret = {
        "name": f"online-{model}",
        "type": "openai",
        "secret": "sk-t-" + "x" * 20,
        "metadata": {"api_base": llm.openai_base_url, "models": [model]},
    }
    assert api.client.post("/v1/ai_secret", json=secret).status_code == 200
    fn = {
        "project_id": pid,
        "name": "Is Polite",
        "slug": f"is-polite-{model}",
        "function_type": "scorer",
        "function_data": {"type": "prompt"},
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": "Polite? {{output}}"}]},
            "options": {"model": model},
            "parser": {"type": "llm_classifier", "use_cot": True, "choice_scores": {"Y": 1, "N": 0}},
        },
    }
    r = api.client.post("/v1/function", json=fn)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def status_until(api: Api, rule_id: str, scored: int, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        st = api.client.get(f"/v1/project_score/{rule_id}/status").json()
        if (st["counters"]["scored"] >= scored and st["pending"] == 0) or time.monotonic() > deadline:
            return dict(st)
        time.sleep(0.5)


def test_sdk_logs_are_scored_online(server: RunningLoopline, api: Api, llm: ScriptedLLM) -> None:
    project = unique_project("online")
    pid = api.project_id(project)
    span_rule = rule(
        api,
        pid,
        "exact-llm",
        {
            "sampling_rate": 1.0,
            "scorers": [{"type": "global", "name": "ExactMatch"}],
            "apply_to_span_names": ["llm"],
        },
    )
    trace_rule = rule(
        api,
        pid,
        "polite-trace",
        {
            "sampling_rate": RATE,
            "scorers": [{"type": "function", "id": judge_function(api, pid, llm)}],
            "scope": {"type": "trace", "idle_seconds": 2},
            "btql_filter": "metadata.n >= 0",
        },
    )
    traces = run_flow(server, sys.executable, "traces", project, flows=FLOWS, args=(str(N),))["traces"]
    want = {t["root_span_id"] for t in traces if sampled(t["root_span_id"], RATE)}
    assert 0 < len(want) < N

    st = status_until(api, span_rule, N)
    assert st["counters"]["scored"] == N and st["counters"]["errors"] == 0, st
    st = status_until(api, trace_rule, len(want))
    assert st["counters"]["scored"] == len(want) and st["counters"]["errors"] == 0, st
    assert st["counters"]["skipped_sampling"] == N - len(want)

    time.sleep(3)  # anything late would show now
    events = api.fetch("project_logs", pid)
    by_id = {e["id"]: e for e in events}
    for t in traces:
        assert by_id[t["llm_id"]]["scores"] == {"ExactMatch": 1.0}
        root_scores = by_id[t["root_id"]].get("scores") or {}
        assert root_scores == ({"Is Polite": 1.0} if t["root_span_id"] in want else {}), t
    scorer_spans = [e for e in events if (e.get("span_attributes") or {}).get("purpose") == "scorer"]
    assert len(scorer_spans) == N + len(want)  # once each: never on a partial trace, never twice
    judged = [s for s in scorer_spans if s["span_attributes"]["name"] == "Is Polite"]
    assert sorted(s["root_span_id"] for s in judged) == sorted(want)
    # the judge saw the finished root's output, never the partial trace's empty one
    asked = [r.last_user_text for r in llm.requests if r.path.endswith("/chat/completions")]
    assert len(asked) == len(want) and all("thank you kindly" in a for a in asked)
