""" "Score past logs": a rule applied to spans already logged, as a job — bounded (max_spans, newest
first, a time range), exactly once with live scoring and other jobs (the dedupe records), the
spend cap, progress, cancel, and a dead engine's job resumed from its cursor."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loopline.common.messages import committed
from loopline.evaluator.online.backfill import COLUMNS, Job
from loopline.evaluator.online.engine import GROUP

from tests.support.app import InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM, ToolCall

from .test_online_engine import FAST, SERVICES, add_rule, events, log, scorer_spans, span, status, until
from .test_online_judge import judge_rule

LEASED = {**FAST, "lease_s": 2.0, "claim_settle_s": 0.2}
HOUR_AGO = float(int(time.time()) - 3600)


def _at(i: int) -> str:
    return datetime.fromtimestamp(HOUR_AGO + i, UTC).isoformat().replace("+00:00", "Z")


async def past_logs(ll: InProcess, pid: str, n: int, first: int = 0) -> None:
    """n traces logged an hour ago (root + llm span; env prod for even i), consumed before any
    rule exists, so only a backfill scores them."""
    rows = []
    for i in range(first, first + n):
        env = "prod" if i % 2 == 0 else "dev"
        rows.append(span(pid, f"p{i}", f"p{i}", name="root", metadata={"env": env}, created=_at(2 * i)))
        rows.append(
            span(
                pid,
                f"p{i}",
                f"p{i}-llm",
                parent=f"p{i}",
                name="llm",
                metadata={"env": env},
                created=_at(2 * i + 1),
            )
        )
    await log(ll, rows)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the writer stored them (and announced them)
        if len([e for e in await events(ll, pid) if e["id"].startswith("row-p")]) >= 2 * (first + n):
            break
        await asyncio.sleep(0.1)
    bus = ll.ctx.bus  # then online scoring read every announcement
    assert await bus.wait_caught_up(committed.TOPIC, GROUP, await bus.end_offsets(committed.TOPIC), 30)


async def job_done(ll: InProcess, rid: str, jid: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = await ll.client.get(f"/v1/project_score/{rid}/backfill/{jid}", headers=ll.headers)
        assert r.status_code == 200, r.text
        if r.json()["state"] != "running" or time.monotonic() > deadline:
            return dict(r.json())
        await asyncio.sleep(0.2)


async def backfill(ll: InProcess, rid: str, **body: Any) -> dict[str, Any]:
    r = await ll.client.post(f"/v1/project_score/{rid}/backfill", json=body, headers=ll.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def scored_ids(evs: list[dict[str, Any]]) -> set[str]:
    return {e["id"] for e in evs if e.get("scores") and e["span_attributes"].get("purpose") != "scorer"}


async def test_score_past_logs_newest_first_once_with_live_scoring(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=FAST) as ll:
        pid = await ll.make_project()
        await past_logs(ll, pid, 12)  # prod llm spans: p0, p2, ..., p10
        rid = await add_rule(ll, pid, "llm", apply_to_span_names=["llm"], btql_filter="metadata.env = 'prod'")
        # live scoring scores a new trace (p12) as it is logged
        await log(ll, [span(pid, "p12", "p12-llm", parent="p12", name="llm", metadata={"env": "prod"})])
        await until(ll, rid, 1)
        # the 4 newest matching spans: p12 (already scored live), p10, p8, p6
        job = await job_done(ll, rid, (await backfill(ll, rid, max_spans=4))["id"])
        assert job["state"] == "done", job
        assert job["progress"] == {
            "examined": 4,
            "queued": 3,
            "already_taken": 1,
            "not_finished": 0,
            "not_sampled": 0,
        }
        assert job["items"] == {"pending": 0, "done": 3, "error": 0, "skipped": 0}
        assert scored_ids(await events(ll, pid)) == {f"row-p{i}-llm" for i in (6, 8, 10, 12)}
        # a time range: only spans created before p4's llm span (p0, p2)
        until_t = datetime.fromisoformat(_at(2 * 4 + 1).replace("Z", "+00:00")).timestamp()
        job = await job_done(ll, rid, (await backfill(ll, rid, until=until_t))["id"])
        assert job["progress"]["examined"] == 2 and job["progress"]["queued"] == 2, job
        # everything: nothing is scored twice
        job = await job_done(ll, rid, (await backfill(ll, rid, max_spans=100))["id"])
        assert job["progress"]["examined"] == 7 and job["progress"]["queued"] == 1, job
        assert job["progress"]["already_taken"] == 6
        evs = await events(ll, pid)
        assert scored_ids(evs) == {f"row-p{i}-llm" for i in range(0, 13, 2)}
        assert len(scorer_spans(evs)) == 7
        st = await status(ll, rid)
        assert st["counters"]["scored"] == 7 and st["counters"]["errors"] == 0
        listed = await ll.client.get(f"/v1/project_score/{rid}/backfill", headers=ll.headers)
        assert len(listed.json()["objects"]) == 3
        # bad requests
        for bad, field in (
            ({"max_spans": 0}, "max_spans"),
            ({"since": "yesterday"}, "since"),
            ({"since": 10, "until": 5}, "since"),
        ):
            r = await ll.client.post(f"/v1/project_score/{rid}/backfill", json=bad, headers=ll.headers)
            assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
        r = await ll.client.get(f"/v1/project_score/{rid}/backfill/nope", headers=ll.headers)
        assert r.status_code == 404


async def test_spend_cap_trace_scope_and_a_dead_engines_job_resumed(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=LEASED) as ll:
        pid = await ll.make_project()
        await past_logs(ll, pid, 6)
        capped = await add_rule(ll, pid, "capped", daily_spend_cap_usd=0)
        job = await job_done(ll, capped, (await backfill(ll, capped))["id"])
        assert job["state"] == "budget_exhausted" and "spend cap" in job["error"], job
        assert job["progress"]["queued"] == 0
        # trace scope: a job a dead engine left half way (its cursor after p3's root span)
        rid = await add_rule(ll, pid, "traces", scope={"type": "trace", "idle_seconds": 0})
        dead = Job(ll.org_id, pid, rid, "job-dead", None, None, 50, False, state="running")
        dead.cursor_created, dead.cursor_id = _at(2 * 3), "row-p3"
        dead.counts["examined"] = dead.counts["enqueued"] = 3
        dead.owner, dead.lease_until = "dead-engine", time.time() - 1
        await ll.ctx.require_store().insert("online_backfills", [dead.row()], COLUMNS)
        job = await job_done(ll, rid, "job-dead")
        assert job["state"] == "done", job
        # it went on from its cursor: p2, p1, p0 queued (3 more than the dead engine's 3)
        assert job["progress"]["examined"] == 6 and job["progress"]["queued"] == 6, job
        assert scored_ids(await events(ll, pid)) == {"row-p0", "row-p1", "row-p2"}


async def test_cancel_stops_the_job_and_skips_what_waits(
    chdb_dsn: str, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    slow = Reply(
        tool_calls=[ToolCall("select_choice", {"reasons": "ok", "choice": "Y"})], usage=(10, 5), delay_s=1.0
    )
    scripted_llm.respond_with(lambda seen: slow)
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring={**FAST, "concurrency": 1}) as ll:
        pid, rid = await judge_rule(ll, scripted_llm)
        # logged before: the rule (root spans) was created by judge_rule; these are sampled at 100%
        r = await ll.client.patch(
            f"/v1/project_score/{rid}", json={"config": {"online": {"status": "paused"}}}, headers=ll.headers
        )
        assert r.status_code == 200
        await past_logs(ll, pid, 6)
        r = await ll.client.patch(
            f"/v1/project_score/{rid}", json={"config": {"online": {"status": "active"}}}, headers=ll.headers
        )
        assert r.status_code == 200
        jid = (await backfill(ll, rid))["id"]
        deadline = time.monotonic() + 30
        while not any(r.path.endswith("/chat/completions") for r in scripted_llm.requests):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        r = await ll.client.post(f"/v1/project_score/{rid}/backfill/{jid}/cancel", headers=ll.headers)
        assert r.status_code == 200 and r.json()["cancel_requested"] is True, r.text
        job = await job_done(ll, rid, jid)
        assert job["state"] == "cancelled", job
        deadline = time.monotonic() + 30
        while job["items"]["pending"] and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            job = await job_done(ll, rid, jid)
        items = job["items"]
        assert items["pending"] == 0 and items["skipped"] >= 1 and items["done"] + items["skipped"] == 6, job
        asked = sum(1 for r in scripted_llm.requests if r.path.endswith("/chat/completions"))
        assert asked == items["done"] < 6
