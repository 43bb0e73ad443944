"""Label reads end to end, through the in-process app: traces of this week and the week before,
some failing in a child span, labelled by a backfill → the classifier's stats (distribution, week-over-week change,
error rate and blast radius per label), the same numbers from the BTQL it documents, and the
built-in dashboards' intent charts over the same labels. Tenants see none of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process
from tests.support.classifier_logs import log_rows, root_span

SERVICES = ("gateway", "ingest", "writer", "query", "classifier")
TAXONOMY: dict[str, Any] = {
    "labels": [
        {"name": "refund", "description": "wants money back", "examples": ["I want a refund", "refund me"]},
        {"name": "weather", "description": "weather forecast", "examples": ["will it rain", "is it sunny"]},
    ],
    "threshold": 0.0,
}


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=SERVICES) as p:
        yield p


def trace(row_id: str, pid: str, text: str, age_days: float, error: bool = False) -> list[dict[str, Any]]:
    created = (datetime.now(UTC) - timedelta(days=age_days)).isoformat()
    root = root_span(row_id, pid, [{"role": "user", "content": text}], created=created)
    child = {
        "id": f"{row_id}-tool",
        "span_id": f"{row_id}-tool",
        "root_span_id": row_id,
        "span_parents": [row_id],
        "project_id": pid,
        "log_id": "g",
        "created": created,
        "span_attributes": {"name": "lookup", "type": "tool"},
        **({"error": "the tool failed"} if error else {}),
    }
    return [root, child]


async def test_distribution_change_error_rate_and_blast_radius(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    base = f"/v1/project/{pid}/classifier"
    cid = (await c.post(base, json=TAXONOMY, headers=h)).json()["id"]
    rows: list[dict[str, Any]] = []
    for i in range(4):  # this week: 4 refunds (2 fail), 2 weather
        rows += trace(f"rn{i}", pid, "please refund my order", 1, error=i < 2)
    for i in range(2):
        rows += trace(f"wn{i}", pid, "will it rain tomorrow", 2)
    rows += trace("ro0", pid, "I want my money back", 10)  # the week before: 1 refund, 3 weather
    for i in range(3):
        rows += trace(f"wo{i}", pid, "is it sunny today", 9, error=i == 0)
    await log_rows(ll, rows)
    # the traces are older than the classifier: a backfill labels them (the consumer leaves them),
    # once the writer has stored them all
    count = f"measures: count(1) AS n | from: project_logs('{pid}') | filter: is_root"
    deadline = asyncio.get_running_loop().time() + 90
    while (await c.post("/btql", json={"query": count}, headers=h)).json()["data"] != [{"n": 10}]:
        assert asyncio.get_running_loop().time() < deadline, "the traces were never stored"
        await asyncio.sleep(0.3)
    job = await c.post(f"{base}/{cid}/backfill", json={}, headers=h)
    assert job.status_code == 200, job.text

    async def stats() -> dict[str, Any]:
        r = await c.get(f"{base}/{cid}/stats", params={"days": 7}, headers=h)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    deadline = asyncio.get_running_loop().time() + 90
    while (s := await stats())["classified_traces"] != {"current": 6, "previous": 4}:
        assert asyncio.get_running_loop().time() < deadline, s
        await asyncio.sleep(0.3)
    assert s["facet"] == "Intent" and s["unclassified_traces"] == {"current": 0, "previous": 0}
    refund, weather = s["labels"]
    assert refund["label"] == "refund" and (refund["current"], refund["previous"]) == (4, 1)
    assert refund["current_share"] == pytest.approx(4 / 6) and refund["previous_share"] == pytest.approx(
        1 / 4
    )
    assert refund["share_change"] == pytest.approx(4 / 6 - 1 / 4)
    assert refund["failed"] == 2 and refund["error_rate"] == pytest.approx(0.5)
    assert refund["blast_radius"] == pytest.approx(0.5 * 4 / 6)
    assert (weather["current"], weather["previous"], weather["failed"]) == (2, 3, 0)
    assert weather["error_rate"] == 0 and weather["blast_radius"] == 0
    assert s["by_blast_radius"] == ["refund"]

    # the documented BTQL answers the same
    r = await c.post("/btql", json={"query": s["queries"]["failed"]}, headers=h)
    assert {row["intent"]: row["failed"] for row in r.json()["data"] if row["intent"]} == {"refund": 2}

    # the built-in dashboards chart the same labels
    r = await c.post("/dashboards/builtin:intents/data", json={"project_id": pid}, headers=h)
    assert r.status_code == 200, r.text
    text = r.text
    assert "refund" in text and "weather" in text, text[:2000]
    # the "Blast radius" dashboard is the span unit (common/analyses/blast_radius.py): by intent
    # it counts the labelled root spans' own errors, and these traces failed in a child span
    r = await c.post(
        "/dashboards/builtin:blast-radius/data",
        json={"project_id": pid, "charts": ["by-intent"], "view": {"range": "7d"}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    [chart] = r.json()["charts"]
    by_intent = {row["name"]: row for row in chart["data"]}
    assert (by_intent["refund"]["calls"], by_intent["refund"]["errors"]) == (4, 0), chart

    # another org, and bad parameters
    _, other_key = await ll.new_org("clf-stats-other")
    oh = {"Authorization": f"Bearer {other_key}"}
    assert (await c.get(f"{base}/{cid}/stats", headers=oh)).status_code == 404
    assert (await c.get(f"{base}/{cid}/stats", params={"days": 0}, headers=h)).status_code in (400, 422)
