""" "Test rule": a rule (unsaved body or saved) run over the newest matching spans, with each
span's scores or errors and the filter and sampling outcome; nothing is written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from loopline.evaluator.online.sampling import sampled

from tests.support.app import InProcess, in_process

from .test_online_engine import SERVICES, events, log, scorer_spans, span


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring={"enabled": False}) as p:
        yield p


def _at(i: int) -> str:
    return datetime.fromtimestamp(time.time() - 600 + i, UTC).isoformat().replace("+00:00", "Z")


async def logged(ll: InProcess, pid: str) -> None:
    """8 traces (root + llm span), oldest first: env prod for the even ones; t7's llm span has
    not ended."""
    rows = []
    for i in range(8):
        root, env = f"t{i}", "prod" if i % 2 == 0 else "dev"
        rows.append(span(pid, root, root, name="root", metadata={"env": env}, created=_at(2 * i)))
        rows.append(
            span(
                pid,
                root,
                f"{root}-llm",
                parent=root,
                name="llm",
                output="hallo",
                ended=i != 6,
                metadata={"env": env},
                created=_at(2 * i + 1),
            )
        )
    await log(ll, rows)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the writer has stored them
        if len(await events(ll, pid)) >= len(rows):
            break
        await asyncio.sleep(0.1)


def body(pid: str, **online: Any) -> dict[str, Any]:
    return {
        "project_id": pid,
        "config": {
            "online": {"sampling_rate": 0.5, "scorers": [{"type": "global", "name": "Levenshtein"}], **online}
        },
    }


async def test_an_unsaved_rule_runs_over_the_newest_matching_spans_and_writes_nothing(ll: InProcess) -> None:
    pid = await ll.make_project()
    await logged(ll, pid)
    rule = body(pid, apply_to_span_names=["llm"], btql_filter="metadata.env = 'prod'")
    r = await ll.client.post("/v1/project_score/test", json={**rule, "limit": 3}, headers=ll.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    spans = out["spans"]
    # the 3 newest llm spans of env prod, newest first
    assert [s["id"] for s in spans] == ["row-t6-llm", "row-t4-llm", "row-t2-llm"], spans
    assert all(s["scores"] == {"Levenshtein": 0.8} and not s["errors"] for s in spans)
    assert [s["sampled"] for s in spans] == [sampled(s["root_span_id"], 0.5) for s in spans]
    assert [s["ended"] for s in spans] == [False, True, True]  # t6's llm span is still open
    assert [s["would_score"] for s in spans] == [s["sampled"] and s["ended"] for s in spans]
    summary = out["summary"]
    # of the 3 newest llm spans (t7, t6, t5), the filter lets t6 through
    assert summary["filter"] == {"btql_filter": "metadata.env = 'prod'", "recent_candidates": 3, "passed": 1}
    assert summary["spans"] == 3 and summary["scored"] == 3 and summary["errors"] == 0
    # nothing written: no scores on the spans, no scorer spans, no rule
    await asyncio.sleep(0.5)
    evs = await events(ll, pid)
    assert not any(e.get("scores") for e in evs) and not scorer_spans(evs)
    listed = await ll.client.get("/v1/project_score", params={"project_id": pid}, headers=ll.headers)
    assert listed.json()["objects"] == []


async def test_a_saved_rule_in_trace_scope_and_bad_requests(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    await logged(ll, pid)
    saved = {
        **body(pid, sampling_rate=1.0, scope={"type": "trace", "idle_seconds": 5}, status="paused"),
        "name": "traces",
        "score_type": "online",
    }
    r = await c.post("/v1/project_score", json=saved, headers=h)
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    r = await c.post(f"/v1/project_score/{sid}/test", json={"limit": 2}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["project_score_id"] == sid
    assert [s["id"] for s in out["spans"]] == ["row-t7", "row-t6"]  # root spans only
    assert all(s["is_root"] and s["sampled"] and s["would_score"] for s in out["spans"])
    assert all(s["scores"] == {"Levenshtein": 1.0} for s in out["spans"])
    r = await c.post("/v1/project_score/test", json={"project_score_id": sid}, headers=h)
    assert r.status_code == 200 and len(r.json()["spans"]) == 8, r.text
    # bad requests are 400s naming the field, as a save would
    for bad, field in (
        ({**body(pid), "limit": 0}, "limit"),
        (body(pid, btql_filter="metadata.x = = 1"), "config.online.btql_filter"),
        (body(pid, scorers=[{"type": "function", "id": "nope"}]), "config.online.scorers[0]"),
        ({"config": {"online": {}}}, "project_id"),
    ):
        r = await c.post("/v1/project_score/test", json=bad, headers=h)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == field, r.json()
    assert (await c.post("/v1/project_score/nope/test", json={}, headers=h)).status_code == 404
