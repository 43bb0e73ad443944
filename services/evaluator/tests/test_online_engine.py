"""Online scoring end to end in one process: /logs3 → writer → rows.committed → rules → scores as
merge rows on the spans plus scorer spans; span and trace scope, sampling, filters, dedupe across a
restart, tenant isolation."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from loopline.evaluator.online.sampling import sampled

from tests.support.app import ALL, InProcess, in_process

SERVICES = (*ALL, "evaluator")
FAST = {"tick_s": 0.05, "flush_s": 0.2, "retry_base_s": 0.2, "retry_max_s": 1.0}


def span(
    pid: str,
    root: str,
    sid: str,
    *,
    parent: str | None = None,
    name: str = "task",
    output: Any = "hello",
    expected: Any = "hello",
    ended: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    now = time.time()
    row: dict[str, Any] = {
        "id": f"row-{sid}",
        "span_id": sid,
        "root_span_id": root,
        "project_id": pid,
        "log_id": "g",
        "span_attributes": {"name": name, "type": "llm" if parent else "task"},
        "input": {"q": sid},
        "output": output,
        "expected": expected,
        "metrics": {"start": now - 1, **({"end": now} if ended else {})},
        **extra,
    }
    if parent:
        row["span_parents"] = [parent]
    return row


async def log(ll: InProcess, rows: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": rows}), headers=headers or ll.headers)
    assert r.status_code == 200, r.text


async def add_rule(
    ll: InProcess, pid: str, name: str, headers: dict[str, str] | None = None, **online: Any
) -> str:
    body = {
        "project_id": pid,
        "name": name,
        "score_type": "online",
        "config": {
            "online": {"sampling_rate": 1.0, "scorers": [{"type": "global", "name": "Levenshtein"}], **online}
        },
    }
    r = await ll.client.post("/v1/project_score", json=body, headers=headers or ll.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def events(ll: InProcess, pid: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    r = await ll.client.post(
        f"/v1/project_logs/{pid}/fetch", json={"limit": 1000}, headers=headers or ll.headers
    )
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


async def status(ll: InProcess, rule_id: str) -> dict[str, Any]:
    r = await ll.client.get(f"/v1/project_score/{rule_id}/status", headers=ll.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def until(
    ll: InProcess, rule_id: str, done: int, counter: str = "scored", timeout_s: float = 60.0
) -> dict[str, Any]:
    """The rule's status once its `counter` reached `done` and nothing is pending, or at the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = await status(ll, rule_id)
        if (st["counters"][counter] >= done and st["pending"] == 0) or time.monotonic() > deadline:
            return st
        await asyncio.sleep(0.2)


def scorer_spans(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in evs if (e.get("span_attributes") or {}).get("purpose") == "scorer"]


async def test_span_scope_scores_matching_spans_once(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=FAST) as ll:
        pid = await ll.make_project()
        rid = await add_rule(
            ll, pid, "llm-only", apply_to_span_names=["llm"], btql_filter="metadata.env = 'prod'"
        )
        rows = []
        for i in range(6):
            root = f"t{i}"
            env = "prod" if i < 4 else "dev"
            rows.append(span(pid, root, root, name="root", metadata={"env": env}))
            rows.append(
                span(pid, root, f"{root}-llm", parent=root, name="llm", output="hallo", metadata={"env": env})
            )
        # an unfinished llm span is not scored until it ends
        rows.append(span(pid, "t9", "t9-llm", parent="t9", name="llm", ended=False, metadata={"env": "prod"}))
        await log(ll, rows)
        st = await until(ll, rid, 4)
        assert st["counters"]["scored"] == 4 and st["counters"]["errors"] == 0, st
        evs = await events(ll, pid)
        by_id = {e["id"]: e for e in evs}
        for i in range(6):
            llm = by_id[f"row-t{i}-llm"]
            if i < 4:
                assert llm["scores"] == {"Levenshtein": 0.8}, llm
            else:
                assert not llm.get("scores"), llm  # filtered out (env dev)
            assert not by_id[f"row-t{i}"].get("scores")  # not an llm span
        assert not by_id["row-t9-llm"].get("scores")
        spans = scorer_spans(evs)
        assert len(spans) == 4
        s = next(x for x in spans if x["root_span_id"] == "t0")
        assert s["span_parents"] == ["t0-llm"] and s["span_attributes"]["type"] == "score"
        assert s["scores"] == {"Levenshtein": 0.8} and s["metadata"]["online_rule"]["id"] == rid
        # the span ends later: now it is scored
        await log(
            ll,
            [
                {
                    "id": "row-t9-llm",
                    "_is_merge": True,
                    "project_id": pid,
                    "log_id": "g",
                    "metrics": {"end": time.time()},
                }
            ],
        )
        st = await until(ll, rid, 5)
        assert st["counters"]["scored"] == 5
        # writing the same spans again (a redelivery, an update) scores nothing twice
        await log(ll, rows[:2])
        await asyncio.sleep(1.5)
        st = await until(ll, rid, 5)
        assert st["counters"]["scored"] == 5
        assert len(scorer_spans(await events(ll, pid))) == 5
        assert st["recent_lag_seconds"]["samples"] == 5 and st["state"] == "active"


async def test_trace_scope_waits_for_the_complete_quiet_trace_and_scores_once(
    chdb_dsn: str, tmp_path: Path
) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=FAST) as ll:
        pid = await ll.make_project()
        rid = await add_rule(ll, pid, "trace", scope={"type": "trace", "idle_seconds": 1})
        # the root starts, a child ends; the root has not ended: nothing is scored
        await log(ll, [span(pid, "tr", "tr", ended=False, output=None), span(pid, "tr", "c1", parent="tr")])
        deadline = time.monotonic() + 60
        while True:  # the trace is pending once its rows are committed
            st = await status(ll, rid)
            if st["pending"] == 1 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # quiet for longer than idle_seconds, but the root has not ended
        st = await status(ll, rid)
        assert st["counters"]["scored"] == 0 and st["pending"] == 1, st
        assert not scorer_spans(await events(ll, pid))
        # the root ends with its output: scored once, on the root span
        await log(
            ll,
            [
                {
                    "id": "row-tr",
                    "_is_merge": True,
                    "project_id": pid,
                    "log_id": "g",
                    "output": "hello",
                    "metrics": {"end": time.time()},
                }
            ],
        )
        st = await until(ll, rid, 1)
        assert st["counters"]["scored"] == 1, st
        evs = await events(ll, pid)
        by_id = {e["id"]: e for e in evs}
        assert by_id["row-tr"]["scores"] == {"Levenshtein": 1.0}
        assert not by_id["row-c1"].get("scores")
        # a late span of the same trace never scores it again
        await log(ll, [span(pid, "tr", "c2", parent="tr")])
        await asyncio.sleep(2.5)
        st = await status(ll, rid)
        assert st["counters"]["scored"] == 1 and st["pending"] == 0
        assert len(scorer_spans(await events(ll, pid))) == 1


async def test_sampling_is_deterministic_on_the_trace(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=FAST) as ll:
        pid = await ll.make_project()
        rid = await add_rule(ll, pid, "tenth", sampling_rate=0.1)
        roots = [f"s-{uuid.uuid5(uuid.NAMESPACE_OID, str(i))}" for i in range(200)]
        want = {r for r in roots if sampled(r, 0.1)}
        assert 5 < len(want) < 40
        await log(ll, [span(pid, r, r) for r in roots])
        st = await until(ll, rid, len(want))
        assert st["counters"]["scored"] == len(want)
        assert st["counters"]["skipped_sampling"] == len(roots) - len(want)
        scored = {e["root_span_id"] for e in await events(ll, pid) if e.get("scores")}
        assert scored == want


async def test_restart_neither_loses_nor_rescores(chdb_dsn: str, tmp_path: Path) -> None:
    db = f"online_restart_{uuid.uuid4().hex[:8]}"
    key = f"sk-ll-{uuid.uuid4().hex}"
    async with in_process(
        chdb_dsn, tmp_path, SERVICES, database=db, bootstrap_api_key=key, online_scoring=FAST
    ) as ll:
        pid = await ll.make_project()
        rid = await add_rule(ll, pid, "trace", scope={"type": "trace", "idle_seconds": 30})
        await log(ll, [span(pid, "a", "a"), span(pid, "b", "b")])
        deadline = time.monotonic() + 30
        while True:
            if (await status(ll, rid))["pending"] >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert (await status(ll, rid))["pending"] == 2
    # a new process over the same store takes the pending traces; a rule change makes them due now
    async with in_process(
        chdb_dsn, tmp_path, SERVICES, database=db, bootstrap_api_key=key, online_scoring=FAST
    ) as ll:
        r = await ll.client.patch(
            f"/v1/project_score/{rid}",
            json={"config": {"online": {"scope": {"type": "trace", "idle_seconds": 0}}}},
            headers=ll.headers,
        )
        assert r.status_code == 200, r.text
        st = await until(ll, rid, 2)
        assert st["counters"]["scored"] == 2
    async with in_process(
        chdb_dsn, tmp_path, SERVICES, database=db, bootstrap_api_key=key, online_scoring=FAST
    ) as ll:
        # the whole topic again (a new consumer group position would replay it): no rescoring
        await log(ll, [span(pid, "a", "a", output="changed")])
        await asyncio.sleep(2.5)
        st = await status(ll, rid)
        assert st["counters"]["scored"] == 2 and st["pending"] == 0
        assert len(scorer_spans(await events(ll, pid))) == 2


async def test_rules_of_one_org_never_touch_another(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring=FAST) as ll:
        pid_a = await ll.make_project()
        org_b, key_b = await ll.new_org("org-b")
        hb = {"Authorization": f"Bearer {key_b}"}
        pid_b = await ll.make_project(org_b)
        rid = await add_rule(ll, pid_a, "a-rule")
        await log(ll, [span(pid_b, "b1", "b1")], hb)
        await log(ll, [span(pid_a, "a1", "a1")])
        st = await until(ll, rid, 1)
        assert st["counters"]["scored"] == 1
        assert not any(e.get("scores") for e in await events(ll, pid_b, hb))
        assert (await events(ll, pid_a))[0]["id"]
