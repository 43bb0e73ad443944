"""The query service keeps pre-aggregated hours and answers BTQL and dashboards from them: the
same numbers as before the hours were rolled up, and again after rows of a rolled-up hour change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.query.dashboards.builtin import BUILTIN
from loopline.query.rollups import clean_hours, refresh_round

from tests.support.app import InProcess, in_process

from .test_dashboards import NOW, data, seed


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    # the refresher is driven by the test (margin 0), not by the service's own loop
    async with in_process(chdb_dsn, tmp_path, query={"rollup_interval_s": 3600, "rollup_quiet_s": 0}) as p:
        yield p


async def every_chart(ll: InProcess, pid: str) -> dict[str, Any]:
    out = {}
    for did in BUILTIN:
        for cid, chart in (await data(ll, did, pid)).items():
            out[f"{did}/{cid}"] = chart["data"]
    return out


async def explain(ll: InProcess, query: str) -> str:
    r = await ll.client.post("/btql", json={"query": query, "explain": True}, headers=ll.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["sql"])


async def test_dashboards_read_the_rolled_up_hours_and_show_the_same_numbers(ll: InProcess) -> None:
    pid = await seed(ll)
    store = ll.ctx.require_store()
    query = (
        f"from: project_logs('{pid}') | dimensions: span_attributes.name AS name | measures: count(1) AS n "
        f"| filter: created >= '{(NOW.replace(hour=0)).isoformat()}'"
    )
    raw = await every_chart(ll, pid)  # (this waits for the writer: every row is stored)
    assert "rollup_hourly" not in await explain(ll, query)
    assert await refresh_round(store, 100, margin_s=0) >= 5
    assert len(await clean_hours(store, ll.org_id, pid, 0)) >= 5
    assert "rollup_hourly" in await explain(ll, query)
    assert await every_chart(ll, pid) == raw

    # a later write into a rolled-up hour: that hour reads raw rows until it is recomputed
    row = {
        "id": "late",
        "project_id": pid,
        "log_id": "g",
        "created": NOW.isoformat().replace("+00:00", "Z"),
        "span_attributes": {"name": "search", "type": "tool"},
        "error": "tool failed",
    }
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": [row]}), headers=ll.headers)
    assert r.status_code == 200, r.text
    blast = await data(ll, "builtin:blast-radius", pid)
    by_name = {r["name"]: r for r in blast["by-span-name"]["data"]}
    assert by_name["search"]["calls"] == 7 and by_name["search"]["errors"] == 5
    assert await refresh_round(store, 100, margin_s=0) == 1
    assert await data(ll, "builtin:blast-radius", pid) == blast


async def test_rollups_can_be_turned_off(chdb_dsn: str, tmp_path: Path) -> None:
    async with in_process(chdb_dsn, tmp_path, query={"rollups": False}) as ll:
        pid = await seed(ll)
        await every_chart(ll, pid)
        await refresh_round(ll.ctx.require_store(), 100, margin_s=0)
        q = f"from: project_logs('{pid}') | dimensions: span_attributes.name AS name | measures: count(1) AS n"
        assert "rollup_hourly" not in await explain(ll, q)
