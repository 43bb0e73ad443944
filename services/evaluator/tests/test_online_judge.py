"""Online scoring with an LLM-judge scorer (a stored prompt function, llm_classifier) against the
scripted LLM server: scores and their cost, the provider down for a while (503/429) → retried,
caught up, nothing lost; the provider down for good → the reason recorded as a scorer error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.app import ALL, InProcess, in_process
from tests.support.llm_server import Fail, Reply, ScriptedLLM, Seen, ToolCall

from .test_online_engine import FAST, events, log, scorer_spans, span, until
from .test_online_rules import scorer_function

SERVICES = (*ALL, "evaluator")
YES = Reply(
    tool_calls=[ToolCall("select_choice", {"reasons": "Kind words.", "choice": "Y"})], usage=(100, 20)
)


async def judge_rule(ll: InProcess, llm: ScriptedLLM, **online: Any) -> tuple[str, str]:
    """A project with an org AI secret on the scripted server, an LLM-judge scorer and a rule using it."""
    c, h = ll.client, ll.headers
    secret = {
        "name": "openai",
        "type": "openai",
        "secret": "sk-t-" + "x" * 20,
        "metadata": {"api_base": llm.openai_base_url},
    }
    assert (await c.post("/v1/ai_secret", json=secret, headers=h)).status_code == 200
    pid = await ll.make_project()
    judge = {
        "project_id": pid,
        "name": "Is Polite",
        "slug": "is-polite",
        "function_type": "scorer",
        "function_data": {"type": "prompt"},
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": "Polite? {{output}}"}]},
            "options": {"model": "gpt-4o-mini"},
            "parser": {"type": "llm_classifier", "use_cot": True, "choice_scores": {"Y": 1, "N": 0}},
        },
    }
    r = await c.post("/v1/function", json=judge, headers=h)
    assert r.status_code == 200, r.text
    body = {
        "project_id": pid,
        "name": "polite",
        "score_type": "online",
        "config": {
            "online": {
                "sampling_rate": 1.0,
                "scorers": [{"type": "function", "id": r.json()["id"]}],
                "apply_to_root_span": True,
                **online,
            }
        },
    }
    r = await c.post("/v1/project_score", json=body, headers=h)
    assert r.status_code == 200, r.text
    return pid, str(r.json()["id"])


async def test_llm_judge_scores_with_cost(chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM) -> None:
    scripted_llm.respond_with(lambda seen: YES)
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=FAST) as ll:
        pid, rid = await judge_rule(ll, scripted_llm)
        await log(ll, [span(pid, f"j{i}", f"j{i}", output="thank you kindly") for i in range(3)])
        st = await until(ll, rid, 3)
        assert st["counters"]["scored"] == 3 and st["counters"]["errors"] == 0, st
        assert st["spend_today_usd"] > 0
        evs = await events(ll, pid)
        roots = [e for e in evs if e["id"].startswith("row-j")]
        assert [e["scores"] for e in roots] == [{"Is Polite": 1.0}] * 3
        spans = scorer_spans(evs)
        assert len(spans) == 3 and all(s["metrics"]["estimated_cost"] > 0 for s in spans)
        assert all(s["metrics"]["prompt_tokens"] == 100 for s in spans)
        asked = [r for r in scripted_llm.requests if r.path.endswith("/chat/completions")]
        assert len(asked) == 3 and "thank you kindly" in asked[0].last_user_text


async def test_provider_down_for_a_while_scores_catch_up(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    # down for its first 24 calls, alternating 429 (Retry-After) and 503: counted in calls, not in
    # seconds (a wall-clock window could end before a loaded machine's first call came). The
    # provider layer tries a call 4 times, so 5 spans' calls cannot absorb 24 failures (at most
    # 5 x 3): some span's scoring fails whole and the engine's own retry takes it (`retries`)
    failures = {"n": 0}

    def flaky(seen: Seen) -> Fail | Reply:
        if failures["n"] < 24:
            failures["n"] += 1
            return Fail(429, "slow down", retry_after=0.2) if failures["n"] % 2 else Fail(503, "overloaded")
        return YES

    scripted_llm.respond_with(flaky)
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring={**FAST, "max_attempts": 30}) as ll:
        pid, rid = await judge_rule(ll, scripted_llm)
        await log(ll, [span(pid, f"d{i}", f"d{i}", output="thanks") for i in range(5)])
        st = await until(ll, rid, 5, timeout_s=90)
        assert st["counters"]["scored"] == 5 and st["counters"]["errors"] == 0, st
        assert st["counters"]["retries"] > 0 and failures["n"] > 0
        roots = [e for e in await events(ll, pid) if e["id"].startswith("row-d")]
        assert sorted(e["id"] for e in roots if e.get("scores") == {"Is Polite": 1.0}) == [
            f"row-d{i}" for i in range(5)
        ]


async def test_provider_down_for_good_is_a_recorded_scorer_error(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.respond_with(lambda seen: Fail(503, "the model is overloaded"))
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring={**FAST, "max_attempts": 2}) as ll:
        pid, rid = await judge_rule(ll, scripted_llm, skip_logging=True)
        await log(ll, [span(pid, f"e{i}", f"e{i}") for i in range(2)])
        st = await until(ll, rid, 2, counter="errors", timeout_s=90)
        assert st["counters"]["errors"] == 2 and st["counters"]["scored"] == 0, st
        assert len(st["recent_errors"]) == 2
        assert all("503" in e["error"] and "overloaded" in e["error"] for e in st["recent_errors"])
        evs = await events(ll, pid)
        # skip_logging: no scorer spans for scores, but an error is always written on one
        errs = scorer_spans(evs)
        assert len(errs) == 2 and all("503" in s["error"] for s in errs)
        assert not any(e.get("scores") for e in evs if e["id"].startswith("row-e"))


async def test_spend_cap_pauses_the_rule_for_the_day(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.respond_with(lambda seen: YES)
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring={**FAST, "concurrency": 1}) as ll:
        pid, rid = await judge_rule(ll, scripted_llm, daily_spend_cap_usd=1e-9)
        await log(ll, [span(pid, "c0", "c0")])
        st = await until(ll, rid, 1)
        assert st["counters"]["scored"] == 1 and st["state"] == "budget_exhausted", st
        assert st["budget_resets_at"] is not None
        await log(ll, [span(pid, f"c{i}", f"c{i}") for i in range(1, 4)])
        st = await until(ll, rid, 3, counter="skipped_budget")
        assert st["counters"]["skipped_budget"] == 3 and st["counters"]["scored"] == 1, st
        assert len([r for r in scripted_llm.requests if r.path.endswith("/chat/completions")]) == 1


async def test_a_function_scorer_deleted_after_the_rule_was_saved_is_a_recorded_error(
    chdb_dsn: str, tmp_path: Path
) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=FAST) as ll:
        c, h = ll.client, ll.headers
        pid = await ll.make_project()
        fid = await scorer_function(ll, pid)
        body = {
            "project_id": pid,
            "name": "exact",
            "score_type": "online",
            "config": {"online": {"sampling_rate": 1.0, "scorers": [{"type": "function", "id": fid}]}},
        }
        r = await c.post("/v1/project_score", json=body, headers=h)
        assert r.status_code == 200, r.text
        rid = r.json()["id"]
        assert (await c.delete(f"/v1/function/{fid}", headers=h)).status_code == 200
        await log(ll, [span(pid, "gone", "gone")])
        st = await until(ll, rid, 1, counter="errors")
        assert st["counters"]["errors"] == 1 and st["counters"]["scored"] == 0, st
        assert fid in st["recent_errors"][0]["error"], st["recent_errors"]
        spans = scorer_spans(await events(ll, pid))
        assert len(spans) == 1 and fid in spans[0]["error"]
