"""/dashboards over HTTP: built-in dashboards on seeded logs (their numbers), saved dashboards'
CRUD, the view applied to every chart, sandbox BTQL, clear 400s and tenant isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.query.dashboards.builtin import BUILTIN

from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


def _row(i: int, pid: str, **kw: Any) -> dict[str, Any]:
    t = NOW - timedelta(hours=i % 5)
    start = t.timestamp()
    return {
        "id": f"r{i:03d}",
        "project_id": pid,
        "log_id": "g",
        "created": t.isoformat().replace("+00:00", "Z"),
        "input": "q",
        "output": "a",
        "metrics": {"start": start, "end": start + 1 + i % 3},
        **kw,
    }


async def seed(ll: InProcess, name: str = "dash") -> str:
    pid = str((await ll.client.post("/v1/project", json={"name": name}, headers=ll.headers)).json()["id"])
    rows = []
    for i in range(12):  # tool calls: search fails 3 of 6, fetch fails 1 of 6
        tool = "search" if i % 2 else "fetch"
        failed = (tool == "search" and i % 4 == 1) or i == 0 or (tool == "search" and i == 11)
        rows.append(
            _row(
                i,
                pid,
                span_attributes={"name": tool, "type": "tool"},
                error="tool failed" if failed else None,
                classifications={
                    "Intent": [{"label": "workflows" if i < 8 else "adding-pages"}]
                },  # the classifier's shape
            )
        )
    errors = ["context length exceeded", "Rate limit reached", "quota exhausted", None, None, None]
    for j, err in enumerate(errors):
        rows.append(
            _row(
                100 + j,
                pid,
                span_attributes={"name": "chat", "type": "llm"},
                error=err,
                metadata={"model": "gpt-a" if j % 2 else "gpt-b"},
                metrics={"prompt_tokens": 10 * (j + 1), "completion_tokens": j, "estimated_cost": 0.5},
            )
        )
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": rows}), headers=ll.headers)
    assert r.status_code == 200, r.text
    return pid


async def data(ll: InProcess, did: str, pid: str, **kw: Any) -> dict[str, Any]:
    r = await ll.client.post(f"/dashboards/{did}/data", json={"project_id": pid, **kw}, headers=ll.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    for c in out["charts"]:
        assert "error" not in c, c
    return {c["id"]: c for c in out["charts"]}


async def test_builtin_dashboards_show_the_seeded_numbers(ll: InProcess) -> None:
    pid = await seed(ll)
    listed = (await ll.client.get(f"/dashboards?project_id={pid}", headers=ll.headers)).json()["objects"]
    assert [d["id"] for d in listed] == list(BUILTIN)
    for did in BUILTIN:  # no chart reads a path the binder warns about (an unknown key, ...)
        r = await ll.client.post(f"/dashboards/{did}/data", json={"project_id": pid}, headers=ll.headers)
        assert [c["warnings"] for c in r.json()["charts"] if "warnings" in c] == [], did
    blast = await data(ll, "builtin:blast-radius", pid)
    by_name = {r["name"]: r for r in blast["by-span-name"]["data"]}
    assert by_name["search"]["calls"] == 6 and by_name["search"]["errors"] == 4
    assert by_name["search"]["blast_radius"] == pytest.approx(4)
    assert by_name["fetch"]["errors"] == 1
    assert blast["by-span-name"]["data"][0]["name"] == "search"  # the biggest blast radius first
    by_intent = {r["name"]: r["calls"] for r in blast["by-intent"]["data"]}
    assert by_intent["workflows"] == 8 and by_intent["adding-pages"] == 4
    tools = await data(ll, "builtin:tool-calls", pid)
    wow = tools["wow-success"]["data"]
    assert sum(r["calls"] for r in wow) == 12 and sum(r["ok"] for r in wow) == 7
    errs = await data(ll, "builtin:errors", pid)
    assert sum(r["incidents"] for r in errs["context-overflow"]["data"]) == 1
    kinds = {r["kind"]: r["errors"] for r in errs["errors-by-model"]["data"]}
    assert kinds == {"context_window": 1, "rate_limit": 1, "quota": 1}
    perf = await data(ll, "builtin:performance", pid)
    assert {r["model"]: r["cost"] for r in perf["cost-by-model"]["data"]} == {"gpt-a": 1.5, "gpt-b": 1.5}
    assert sum(r["prompt_tokens"] for r in perf["tokens-by-model"]["data"]) == 210
    assert all(r["p50"] <= r["p95"] <= r["p99"] for r in perf["latency"]["data"])
    intents = await data(ll, "builtin:intents", pid)
    assert {r["intent"]: r["requests"] for r in intents["distribution"]["data"]} == {
        "workflows": 8,
        "adding-pages": 4,
    }


async def test_view_filters_and_granularity_apply_to_every_chart(ll: InProcess) -> None:
    pid = await seed(ll)
    view = {"range": "24h", "granularity": "day", "filters": ["span_attributes.name = 'search'"]}
    blast = await data(ll, "builtin:blast-radius", pid, view=view, charts=["by-span-name"])
    assert list(blast) == ["by-span-name"]
    assert [r["name"] for r in blast["by-span-name"]["data"]] == ["search"]
    errs = await data(ll, "builtin:errors", pid, view={"granularity": "day"})
    text = errs["context-overflow"]["btql"]
    assert "day(created) AS time" in text and "hour(" not in text
    # a time range that holds no data: empty charts
    old = {"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}
    blast = await data(ll, "builtin:blast-radius", pid, view=old)
    assert blast["by-span-name"]["data"] == []
    # the chart as a sandbox query runs as /btql and gives the chart's rows
    r = await ll.client.post(
        "/dashboards/builtin:blast-radius/charts/by-span-name/btql",
        json={"project_id": pid, "view": view},
        headers=ll.headers,
    )
    assert r.status_code == 200, r.text
    text = r.json()["query"]
    assert f"from: project_logs('{pid}')" in text
    ran = await ll.client.post("/btql", json={"query": text}, headers=ll.headers)
    assert [x["name"] for x in ran.json()["data"]] == ["search"]


CHART = {
    "id": "calls",
    "title": "Calls by tool",
    "query": "dimensions: hour(created) AS t, span_attributes.name AS tool | measures: count(1) AS n | sort: t, tool",
    "spec": {"type": "bar", "x": "t", "series": ["n"], "units": "count"},
}


async def test_saved_dashboard_crud(ll: InProcess) -> None:
    pid = await seed(ll)
    body = {
        "project_id": pid,
        "name": "Mine",
        "charts": [CHART],
        "view": {"range": "7d", "granularity": "hour"},
    }
    r = await ll.client.post("/dashboards", json=body, headers=ll.headers)
    assert r.status_code == 200, r.text
    did = r.json()["id"]
    got = (await ll.client.get(f"/dashboards/{did}", headers=ll.headers)).json()
    assert got["name"] == "Mine" and got["charts"][0]["query"] == CHART["query"] and got["builtin"] is False
    listed = (await ll.client.get(f"/dashboards?project_id={pid}", headers=ll.headers)).json()["objects"]
    assert did in [d["id"] for d in listed]
    out = await data(ll, did, pid, view={"granularity": "day"})
    assert sum(r["n"] for r in out["calls"]["data"]) == 18
    assert len({r["t"] for r in out["calls"]["data"]}) <= 2  # day buckets, not five hours
    # add, replace and delete a chart
    second = {**CHART, "id": "errors", "query": "measures: count(1) AS n | filter: error IS NOT NULL"}
    r = await ll.client.post(f"/dashboards/{did}/charts", json=second, headers=ll.headers)
    assert r.status_code == 200 and [c["id"] for c in r.json()["charts"]] == ["calls", "errors"]
    out = await data(ll, did, pid)
    assert out["errors"]["data"] == [{"n": 8}]
    # a query the binder warns about (a key that is no field: read as an extra top-level key):
    # the chart answers, with the binder's hint
    facet = {
        **CHART,
        "id": "intents",
        "query": "dimensions: customer_tier AS i | measures: count(1) AS n",
    }
    assert (
        await ll.client.post(f"/dashboards/{did}/charts", json=facet, headers=ll.headers)
    ).status_code == 200
    [hint] = (await data(ll, did, pid))["intents"]["warnings"]
    assert hint["code"] == "unknownField" and "'customer_tier' is not a known field" in hint["message"]
    assert (
        await ll.client.delete(f"/dashboards/{did}/charts/intents", headers=ll.headers)
    ).status_code == 200
    r = await ll.client.put(
        f"/dashboards/{did}/charts/errors", json={**second, "title": "Errors"}, headers=ll.headers
    )
    assert r.status_code == 200 and r.json()["charts"][1]["title"] == "Errors"
    r = await ll.client.delete(f"/dashboards/{did}/charts/calls", headers=ll.headers)
    assert [c["id"] for c in r.json()["charts"]] == ["errors"]
    r = await ll.client.put(f"/dashboards/{did}", json={**body, "name": "Renamed"}, headers=ll.headers)
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and len(r.json()["charts"]) == 1
    r = await ll.client.delete(f"/dashboards/{did}", headers=ll.headers)
    assert r.status_code == 200
    assert (await ll.client.get(f"/dashboards/{did}", headers=ll.headers)).status_code == 404
    assert did not in [
        d["id"]
        for d in (await ll.client.get(f"/dashboards?project_id={pid}", headers=ll.headers)).json()["objects"]
    ]


@pytest.mark.parametrize(
    ("change", "status", "needle", "where"),
    [
        (
            {"charts": [{**CHART, "query": "dimensions: foo(id) AS x"}]},
            400,
            "unknown function",
            {"line": 1, "column": 13},
        ),
        (
            {"charts": [{**CHART, "query": "measures: count(1) AS n | filtr: x"}]},
            400,
            "filtr",
            {"chart": "calls"},
        ),
        (
            {"charts": [{**CHART, "query": "measures: count(1) AS n | from: project_logs('x')"}]},
            400,
            "no 'from:'",
            {"field": "charts[0].query"},
        ),
        (
            {"charts": [{**CHART, "query": "measures: count(1) AS n | limit: 5 | cursor: 'x'"}]},
            400,
            "cursor",
            {},
        ),
        ({"charts": [CHART, CHART]}, 400, "unique", {}),
        ({"view": {"range": "7 days"}}, 400, "range", {"field": "view.range"}),
        (
            {"view": {"range": "7d", "filters": ["metadata.model = "]}},
            400,
            "filter 0",
            {"field": "view.filters[0]"},
        ),
        ({"view": {"range": "7d", "filters": ["a = 1 | limit: 3"]}}, 400, "one BTQL expression", {}),
        ({"view": {"start": "yesterday"}}, 400, "ISO 8601", {"field": "view.start"}),
        ({"name": ""}, 400, "name", {"field": "name"}),
        ({"extra": 1}, 400, "extra", {}),
        ({"project_id": "no-such-project"}, 404, "does not exist", {}),
    ],
)
async def test_bad_dashboards_are_clear_4xx(
    ll: InProcess, change: dict[str, Any], status: int, needle: str, where: dict[str, Any]
) -> None:
    pid = await seed(ll, "bad")
    body = {"project_id": pid, "name": "x", "charts": [CHART], **change}
    r = await ll.client.post("/dashboards", json=body, headers=ll.headers)
    assert r.status_code == status, r.text
    err = r.json()
    assert needle in r.text, err
    for k, v in where.items():
        assert err["error"][k] == v if "error" in err and k in err["error"] else err.get(k) == v, err


async def test_malformed_bodies_and_builtins_are_read_only(ll: InProcess) -> None:
    pid = await seed(ll, "ro")
    r = await ll.client.post("/dashboards", content=b"{nope", headers=ll.headers)
    assert r.status_code == 400 and "malformed JSON" in r.text
    r = await ll.client.put("/dashboards/builtin:blast-radius", json={}, headers=ll.headers)
    assert r.status_code == 400 and "read-only" in r.text
    r = await ll.client.delete("/dashboards/builtin:errors", headers=ll.headers)
    assert r.status_code == 400
    r = await ll.client.post("/dashboards/builtin:nope/data", json={"project_id": pid}, headers=ll.headers)
    assert r.status_code == 404
    r = await ll.client.post("/dashboards/builtin:errors/data", json={}, headers=ll.headers)
    assert r.status_code == 400 and "project_id" in r.text
    r = await ll.client.post(
        "/dashboards/builtin:errors/data", json={"project_id": pid, "charts": ["nope"]}, headers=ll.headers
    )
    assert r.status_code == 400 and "nope" in r.text


async def test_tenant_isolation(ll: InProcess) -> None:
    pid = await seed(ll, "iso")
    body = {"project_id": pid, "name": "Mine", "charts": [CHART]}
    did = (await ll.client.post("/dashboards", json=body, headers=ll.headers)).json()["id"]
    _, other_key = await ll.new_org("other-org")
    other = {"Authorization": f"Bearer {other_key}"}
    assert (await ll.client.get(f"/dashboards/{did}", headers=other)).status_code == 404
    assert (await ll.client.delete(f"/dashboards/{did}", headers=other)).status_code == 404
    assert (
        await ll.client.post(f"/dashboards/{did}/data", json={"project_id": pid}, headers=other)
    ).status_code == 404
    assert (await ll.client.get(f"/dashboards?project_id={pid}", headers=other)).status_code == 404
    r = await ll.client.post("/dashboards/builtin:errors/data", json={"project_id": pid}, headers=other)
    assert r.status_code == 404
    r = await ll.client.post("/dashboards", json=body, headers=other)
    assert r.status_code == 404
    # still there for its owner
    assert (await ll.client.get(f"/dashboards/{did}", headers=ll.headers)).status_code == 200
