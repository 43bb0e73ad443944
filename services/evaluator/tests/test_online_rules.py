"""`/v1/project_score`: Braintrust's shape, validation at save (a bad BTQL filter is a 400 with its
position), create/get/list/patch/put/delete, roles and tenant isolation (in-process app)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import ALL, InProcess, in_process

SERVICES = (*ALL, "evaluator")


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, SERVICES, online_scoring={"enabled": False}) as p:
        yield p


def rule(pid: str, name: str = "lev", **online: Any) -> dict[str, Any]:
    return {
        "project_id": pid,
        "name": name,
        "score_type": "online",
        "config": {
            "online": {
                "sampling_rate": 0.5,
                "scorers": [{"type": "global", "name": "Levenshtein"}],
                **online,
            }
        },
    }


async def test_crud_in_braintrusts_shape(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    body = rule(
        pid,
        btql_filter="metadata.env = 'prod'",
        apply_to_root_span=True,
        scope={"type": "trace", "idle_seconds": 5},
        daily_spend_cap_usd=2.5,
    )
    r = await c.post("/v1/project_score", json=body, headers=h)
    assert r.status_code == 200, r.text
    created = r.json()
    sid = created["id"]
    online = created["config"]["online"]
    assert created["project_id"] == pid and created["score_type"] == "online" and created["name"] == "lev"
    assert online["sampling_rate"] == 0.5 and online["scope"] == {"type": "trace", "idle_seconds": 5.0}
    assert online["btql_filter"] == "metadata.env = 'prod'" and online["status"] == "active"
    assert online["daily_spend_cap_usd"] == 2.5 and online["apply_to_root_span"] is True
    # POST with an existing name returns the existing score unmodified
    again = await c.post("/v1/project_score", json=rule(pid, sampling_rate=1.0), headers=h)
    assert again.json()["id"] == sid and again.json()["config"]["online"]["sampling_rate"] == 0.5
    # PUT replaces it (same id)
    put = await c.put("/v1/project_score", json=rule(pid, sampling_rate=1.0), headers=h)
    assert put.json()["id"] == sid and put.json()["config"]["online"]["sampling_rate"] == 1.0
    assert put.json()["config"]["online"]["scope"] == {"type": "span"}
    # PATCH merges config.online fields over the current ones
    p = await c.patch(
        f"/v1/project_score/{sid}", json={"config": {"online": {"status": "paused"}}}, headers=h
    )
    assert p.status_code == 200, p.text
    assert p.json()["config"]["online"]["status"] == "paused"
    assert p.json()["config"]["online"]["sampling_rate"] == 1.0
    # a plain project score is stored as well
    cat = {
        "project_id": pid,
        "name": "quality",
        "score_type": "categorical",
        "categories": [{"name": "good", "value": 1}],
    }
    assert (await c.post("/v1/project_score", json=cat, headers=h)).status_code == 200
    listed = await c.get("/v1/project_score", params={"project_id": pid}, headers=h)
    assert [o["name"] for o in listed.json()["objects"]] == ["lev", "quality"]
    only = await c.get("/v1/project_score", params={"project_id": pid, "score_type": "online"}, headers=h)
    assert [o["id"] for o in only.json()["objects"]] == [sid]
    got = await c.get(f"/v1/project_score/{sid}", headers=h)
    assert got.json() == p.json()
    status = await c.get(f"/v1/project_score/{sid}/status", headers=h)
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "paused" and status.json()["pending"] == 0
    d = await c.delete(f"/v1/project_score/{sid}", headers=h)
    assert d.status_code == 200 and d.json()["id"] == sid
    assert (await c.get(f"/v1/project_score/{sid}", headers=h)).status_code == 404


@pytest.mark.parametrize(
    ("online", "field", "where"),
    [
        ({"btql_filter": "metadata.x = = 2"}, "config.online.btql_filter", {"line": 1, "column": 14}),
        ({"btql_filter": "nosuch(input)"}, "config.online.btql_filter", {"line": 1, "column": 1}),
        ({"sampling_rate": 1.5}, "config.online.sampling_rate", {}),
        ({"scorers": []}, "config.online.scorers", {}),
        ({"scorers": [{"type": "function"}]}, "config.online.scorers[0].id", {}),
        ({"scorers": [{"type": "nope"}]}, "config.online.scorers[0].type", {}),
        ({"scorers": [{"type": "global", "name": "NoSuchScorer"}]}, "config.online.scorers[0].name", {}),
        ({"scope": {"type": "group"}}, "config.online.scope.group_by", {}),
        (
            {"scope": {"type": "group", "group_by": "metadata.session_id", "interval_seconds": 60}},
            "config.online.scope.interval_seconds",
            {},
        ),
        (
            {"scope": {"type": "group", "group_by": "metadata.s", "max_traces": 65}},
            "config.online.scope.max_traces",
            {},
        ),
        (
            {"scope": {"type": "group", "group_by": "metadata.s", "placement": "x"}},
            "config.online.scope.placement",
            {},
        ),
        ({"scope": {"type": "nope"}}, "config.online.scope.type", {}),
        ({"scope": {"type": "trace", "idle_seconds": -1}}, "config.online.scope.idle_seconds", {}),
        ({"status": "sleeping"}, "config.online.status", {}),
        ({"daily_spend_cap_usd": "lots"}, "config.online.daily_spend_cap_usd", {}),
        ({"apply_to_span_names": "llm"}, "config.online.apply_to_span_names", {}),
    ],
)
async def test_bad_rules_are_400_naming_the_field(
    ll: InProcess, online: dict[str, Any], field: str, where: dict[str, int]
) -> None:
    pid = await ll.make_project()
    r = await ll.client.post("/v1/project_score", json=rule(pid, **online), headers=ll.headers)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["field"] == field, err
    for k, v in where.items():
        assert err[k] == v, err


async def test_bad_bodies(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    r = await c.post(
        "/v1/project_score", json={"project_id": pid, "name": "x", "score_type": "weird"}, headers=h
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "score_type"
    r = await c.post(
        "/v1/project_score", json={"project_id": pid, "name": "x", "score_type": "online"}, headers=h
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "config.online"
    r = await c.post("/v1/project_score", json={"name": "x", "score_type": "slider"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"] == "project_id"
    r = await c.post("/v1/project_score", json=rule("no-such-project"), headers=h)
    assert r.status_code == 404


async def test_tenant_isolation_and_roles(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    sid = (await c.post("/v1/project_score", json=rule(pid), headers=h)).json()["id"]
    _, key_b = await ll.new_org("other-org")
    b = {"Authorization": f"Bearer {key_b}"}
    assert (await c.get("/v1/project_score", headers=b)).json() == {"objects": []}
    assert (await c.get("/v1/project_score", params={"project_id": pid}, headers=b)).json() == {"objects": []}
    for method, path, body in (
        ("GET", f"/v1/project_score/{sid}", None),
        ("GET", f"/v1/project_score/{sid}/status", None),
        ("PATCH", f"/v1/project_score/{sid}", {"name": "stolen"}),
        ("DELETE", f"/v1/project_score/{sid}", None),
    ):
        resp = await c.request(method, path, json=body, headers=b)
        assert resp.status_code == 404, (method, path, resp.text)
    # org b cannot put a rule on org a's project
    assert (await c.post("/v1/project_score", json=rule(pid, "b"), headers=b)).status_code == 404
    assert (await c.get(f"/v1/project_score/{sid}", headers=h)).json()["name"] == "lev"
    # a member may read rules but not create them (rules spend model money: admin's)
    member, _ = await ll.keys.create_key(ll.org_id, "member", role="member")
    m = {"Authorization": f"Bearer {member}"}
    assert (await c.get(f"/v1/project_score/{sid}", headers=m)).status_code == 200
    assert (await c.post("/v1/project_score", json=rule(pid, "m"), headers=m)).status_code == 403


async def scorer_function(ll: InProcess, pid: str, headers: dict[str, str] | None = None) -> str:
    body = {
        "project_id": pid,
        "name": "Exact",
        "slug": f"exact-{pid[:8]}",
        "function_type": "scorer",
        "function_data": {"type": "global", "name": "ExactMatch"},
    }
    r = await ll.client.post("/v1/function", json=body, headers=headers or ll.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_function_scorers_are_checked_when_the_rule_is_saved(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    fid = await scorer_function(ll, pid)
    lev = {"type": "global", "name": "Levenshtein"}
    missing = {"type": "function", "id": "no-such-function"}
    r = await c.post("/v1/project_score", json=rule(pid, scorers=[lev, missing]), headers=h)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["field"] == "config.online.scorers[1]" and "no-such-function" in err["message"], err
    r = await c.post(
        "/v1/project_score",
        json=rule(pid, scorers=[{"type": "function", "id": fid, "version": "x!"}]),
        headers=h,
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "config.online.scorers[0]", r.text
    # another org's function is not there for this org's rule
    org_b, key_b = await ll.new_org("scorer-org-b")
    hb = {"Authorization": f"Bearer {key_b}"}
    fid_b = await scorer_function(ll, await ll.make_project(org_b), hb)
    r = await c.post(
        "/v1/project_score", json=rule(pid, scorers=[{"type": "function", "id": fid_b}]), headers=h
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "config.online.scorers[0]", r.text
    # the org's own function is accepted; PATCH and PUT check what they add
    r = await c.post(
        "/v1/project_score", json=rule(pid, scorers=[{"type": "function", "id": fid}]), headers=h
    )
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    r = await c.patch(
        f"/v1/project_score/{sid}", json={"config": {"online": {"scorers": [lev, missing]}}}, headers=h
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "config.online.scorers[1]", r.text
    r = await c.put("/v1/project_score", json=rule(pid, scorers=[missing]), headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"] == "config.online.scorers[0]", r.text
    # the function is deleted later: the rule can still be paused (its scorers did not change)
    assert (await c.delete(f"/v1/function/{fid}", headers=h)).status_code == 200
    r = await c.patch(
        f"/v1/project_score/{sid}", json={"config": {"online": {"status": "paused"}}}, headers=h
    )
    assert r.status_code == 200, r.text
