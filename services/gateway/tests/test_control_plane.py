"""Projects, experiments, datasets through both SDK generations' endpoints, scoped by org."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=("gateway",)) as p:
        yield p


async def test_project_create_or_get_and_crud(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    a = await c.post("/v1/project", json={"name": "demo"}, headers=h)
    b = await c.post("/v1/project", json={"name": "demo"}, headers=h)
    assert a.status_code == b.status_code == 200 and a.json()["id"] == b.json()["id"]
    assert a.headers["x-bt-found-existing"] == "false" and b.headers["x-bt-found-existing"] == "true"
    pid = a.json()["id"]
    assert (await c.get(f"/v1/project/{pid}", headers=h)).json()["name"] == "demo"
    assert [
        p["id"]
        for p in (await c.get("/v1/project", params={"project_name": "demo"}, headers=h)).json()["objects"]
    ] == [pid]
    r = await c.patch(f"/v1/project/{pid}", json={"description": "d"}, headers=h)
    assert r.json()["description"] == "d"
    legacy = await c.post(
        "/api/project/register", json={"project_name": "demo", "org_id": "ignored"}, headers=h
    )
    assert legacy.json()["project"]["id"] == pid
    assert (await c.get("/api/project", params={"id": pid}, headers=h)).json()["name"] == "demo"
    assert (await c.delete(f"/v1/project/{pid}", headers=h)).status_code == 200
    assert (await c.get(f"/v1/project/{pid}", headers=h)).status_code == 404
    bad = await c.post("/v1/project", json={"name": ""}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "name"
    assert (await c.post("/v1/project", content=b"{nope", headers=h)).status_code == 400


async def test_experiments_ensure_new_base_and_legacy(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "exps"}, headers=h)).json()["id"]
    e1 = (await c.post("/v1/experiment", json={"project_id": pid, "name": "run"}, headers=h)).json()
    e2 = (
        await c.post("/v1/experiment", json={"project_id": pid, "name": "run", "ensure_new": True}, headers=h)
    ).json()
    e3 = (
        await c.post(
            "/v1/experiment", json={"project_id": pid, "name": "run", "ensure_new": False}, headers=h
        )
    ).json()
    assert e1["name"] == "run" and e2["name"] == "run-1" and e3["id"] == e1["id"]
    e4 = (
        await c.post(
            "/v1/experiment", json={"project_id": pid, "name": "run", "base_exp_id": e1["id"]}, headers=h
        )
    ).json()
    assert e4["name"] == "run-2" and e4["base_exp_id"] == e1["id"]
    missing = await c.post("/v1/experiment", json={"project_id": pid, "base_exp_id": "nope"}, headers=h)
    assert missing.status_code == 400
    found = (
        await c.get("/v1/experiment", params={"project_id": pid, "experiment_name": "run-1"}, headers=h)
    ).json()
    assert [x["id"] for x in found["objects"]] == [e2["id"]]
    # legacy register / get / base experiment
    reg = (
        await c.post(
            "/api/experiment/register",
            json={"project_name": "exps", "experiment_name": "run", "update": False},
            headers=h,
        )
    ).json()
    assert reg["project"]["id"] == pid and reg["experiment"]["name"] == "run-3"
    got = (
        await c.post(
            "/api/experiment/get", json={"project_name": "exps", "experiment_name": "run"}, headers=h
        )
    ).json()
    assert [x["id"] for x in got] == [e1["id"]]
    assert (
        await c.post("/api/experiment/get", json={"project_name": "nope", "experiment_name": "x"}, headers=h)
    ).json() == []
    base = await c.post("/api/base_experiment/get_id", json={"id": e4["id"]}, headers=h)
    assert base.json() == {"base_exp_id": e1["id"], "base_exp_name": "run"}
    other_pid = (await c.post("/v1/project", json={"name": "lonely"}, headers=h)).json()["id"]
    only = (await c.post("/v1/experiment", json={"project_id": other_pid, "name": "first"}, headers=h)).json()
    none = await c.post("/api/base_experiment/get_id", json={"id": only["id"]}, headers=h)
    assert none.status_code == 400  # the SDK reads 400 as "no base experiment"


async def test_datasets_create_or_get_and_legacy(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "dsets"}, headers=h)).json()["id"]
    d1 = (await c.post("/v1/dataset", json={"project_id": pid, "name": "ds"}, headers=h)).json()
    d2 = (await c.post("/v1/dataset", json={"project_id": pid, "name": "ds"}, headers=h)).json()
    assert d1["id"] == d2["id"] and d1["project_id"] == pid
    default = (await c.post("/v1/dataset", json={"project_id": pid}, headers=h)).json()
    assert default["name"] == "logs"
    reg = (
        await c.post("/api/dataset/register", json={"project_name": "dsets", "dataset_name": "ds"}, headers=h)
    ).json()
    assert reg["dataset"]["id"] == d1["id"]
    assert (await c.patch(f"/v1/dataset/{d1['id']}", json={"description": "x"}, headers=h)).json()[
        "description"
    ] == "x"
    assert (await c.delete(f"/v1/dataset/{d1['id']}", headers=h)).status_code == 200
    assert (await c.get(f"/v1/dataset/{d1['id']}", headers=h)).status_code == 404


async def test_other_org_sees_nothing(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "private"}, headers=h)).json()["id"]
    eid = (await c.post("/v1/experiment", json={"project_id": pid, "name": "e"}, headers=h)).json()["id"]
    did = (await c.post("/v1/dataset", json={"project_id": pid, "name": "d"}, headers=h)).json()["id"]
    _, key = await ll.new_org("intruders")
    o = {"Authorization": f"Bearer {key}"}
    for path in (f"/v1/project/{pid}", f"/v1/experiment/{eid}", f"/v1/dataset/{did}"):
        assert (await c.get(path, headers=o)).status_code == 404
        assert (await c.patch(path, json={"name": "x"}, headers=o)).status_code == 404
        assert (await c.delete(path, headers=o)).status_code == 404
    assert (await c.get("/v1/project", headers=o)).json()["objects"] == []
    assert (await c.get("/v1/experiment", params={"project_id": pid}, headers=o)).json()["objects"] == []
    r = await c.post("/v1/experiment", json={"project_id": pid, "name": "sneaky"}, headers=o)
    assert r.status_code == 404
    assert (await c.get("/v1/dataset", params={"project_id": pid}, headers=o)).json()["objects"] == []
    assert (await c.get("/v1/experiment", headers=o)).json()["objects"] == []
    assert (await c.get("/v1/dataset", headers=o)).json()["objects"] == []
    assert (await c.get("/v1/experiment", params={"ids": eid}, headers=o)).json()["objects"] == []
    assert (await c.get("/v1/project", params={"project_name": "private"}, headers=o)).json()["objects"] == []
    assert (await c.get("/v1/experiment", params={"starting_after": eid}, headers=o)).status_code == 400
    # legacy endpoints
    assert (await c.get("/api/project", params={"id": pid}, headers=o)).status_code == 404
    assert (await c.post("/api/base_experiment/get_id", json={"id": eid}, headers=o)).status_code == 404
    assert (
        await c.post("/api/experiment/get", json={"project_id": pid, "experiment_name": "e"}, headers=o)
    ).json() == []
    r = await c.post("/api/experiment/register", json={"project_id": pid, "experiment_name": "x"}, headers=o)
    assert r.status_code == 404
    r = await c.post("/api/dataset/register", json={"project_id": pid, "dataset_name": "x"}, headers=o)
    assert r.status_code == 404
    # references to another org's objects in a body are refused too
    mine = (await c.post("/v1/project", json={"name": "mine"}, headers=o)).json()["id"]
    for ref in ({"base_exp_id": eid}, {"dataset_id": did}):
        r = await c.post("/v1/experiment", json={"project_id": mine, **ref}, headers=o)
        assert r.status_code == 400, r.text
    same_name = (await c.post("/v1/project", json={"name": "private"}, headers=o)).json()
    assert same_name["id"] != pid  # names are per org
    assert (await c.get(f"/v1/project/{pid}", headers=h)).json()["name"] == "private"
    assert (await c.get("/v1/project", headers={})).status_code == 401


async def test_login_and_version(ll: InProcess) -> None:
    r = await ll.client.post("/api/apikey/login", headers=ll.headers)
    info = r.json()["org_info"][0]
    assert info["id"] == ll.org_id and isinstance(info["name"], str) and info["api_url"].startswith("http")
    v = (await ll.client.get("/version")).json()
    assert isinstance(v["logs3_payload_max_bytes"], int)


# -- both SDK generations' call sequences (spec §3), replayed --------------------------------------


async def test_modern_sdk_sequences(ll: InProcess) -> None:
    """SDK 0.47: logger, Eval twice (base experiment), dataset, summarize/open, dataset by id."""
    c, h = ll.client, ll.headers
    login = (await c.post("/api/apikey/login", headers=h)).json()["org_info"][0]
    org_name = login["name"]
    # (a) logger
    proj = (await c.post("/v1/project", json={"name": "demo-proj", "org_name": org_name}, headers=h)).json()
    assert isinstance(proj["id"], str) and proj["name"] == "demo-proj"
    assert "logs3_payload_max_bytes" in (await c.get("/version")).json()
    # (b) Eval twice: the second is renamed and compares against the first
    body = {"project_id": proj["id"], "ensure_new": True, "name": "lev-eval", "public": False, "metadata": {}}
    e1 = (await c.post("/v1/experiment", json=body, headers=h)).json()
    assert e1["name"] == "lev-eval" and e1["base_exp_id"] is None and e1["project_id"] == proj["id"]
    e2 = (await c.post("/v1/experiment", json=body, headers=h)).json()
    assert e2["name"] == "lev-eval-1" and e2["base_exp_id"] == e1["id"] and e2["id"] != e1["id"]
    # (c) dataset create-or-get, re-opened
    ds_body = {"project_id": proj["id"], "name": "ds1", "description": "demo dataset", "metadata": {"k": "v"}}
    d1 = await c.post("/v1/dataset", json=ds_body, headers=h)
    assert d1.status_code == 200 and d1.headers["x-bt-found-existing"] == "false"
    d = d1.json()
    assert (d["name"], d["description"], d["metadata"], d["project_id"]) == (
        "ds1",
        "demo dataset",
        {"k": "v"},
        proj["id"],
    )
    again = await c.post("/v1/dataset", json={"project_id": proj["id"], "name": "ds1"}, headers=h)
    assert again.json()["id"] == d["id"] and again.headers["x-bt-found-existing"] == "true"
    # (d) init(experiment=..., metadata, tags), then init(open=True) looks it up by name
    m = (
        await c.post(
            "/v1/experiment",
            json={
                "project_id": proj["id"],
                "ensure_new": True,
                "name": "manual-exp",
                "public": False,
                "metadata": {"m": 1},
                "tags": ["nightly"],
            },
            headers=h,
        )
    ).json()
    assert m["metadata"] == {"m": 1} and m["tags"] == ["nightly"]
    found = (
        await c.get(
            "/v1/experiment",
            params={"experiment_name": "manual-exp", "project_name": "demo-proj", "org_name": org_name},
            headers=h,
        )
    ).json()["objects"]
    assert [(x["id"], x["name"], x["project_id"]) for x in found] == [(m["id"], "manual-exp", proj["id"])]
    # Eval(data=init_dataset(...)): dataset_id and dataset_version are stored
    ev = (
        await c.post(
            "/v1/experiment",
            json={
                "project_id": proj["id"],
                "name": "on-ds",
                "dataset_id": d["id"],
                "dataset_version": "1000",
            },
            headers=h,
        )
    ).json()
    assert ev["dataset_id"] == d["id"] and ev["dataset_version"] == "1000"
    # init_dataset(dataset_id=) → GET /v1/dataset/{id}, then GET /v1/project/{project_id}
    got = (await c.get(f"/v1/dataset/{d['id']}", headers=h)).json()
    assert (got["id"], got["name"], got["project_id"]) == (d["id"], "ds1", proj["id"])
    assert (await c.get(f"/v1/project/{got['project_id']}", headers=h)).json()["name"] == "demo-proj"
    # base_experiment="name": the SDK looks it up by name in the project, then passes base_exp_id
    named = (
        await c.get(
            "/v1/experiment",
            params={"experiment_name": "lev-eval", "project_id": proj["id"], "org_name": org_name},
            headers=h,
        )
    ).json()["objects"]
    assert [x["id"] for x in named] == [e1["id"]]
    e3 = (
        await c.post(
            "/v1/experiment", json={"project_id": proj["id"], "name": "x", "base_exp_id": e1["id"]}, headers=h
        )
    ).json()
    assert e3["base_exp_id"] == e1["id"]
    # 0.47 Experiment.fetch_base_experiment uses the legacy endpoint too
    base = await c.post("/api/base_experiment/get_id", json={"id": e2["id"]}, headers=h)
    assert base.json() == {"base_exp_id": e1["id"], "base_exp_name": "lev-eval"}
    assert (await c.post("/api/base_experiment/get_id", json={"id": e1["id"]}, headers=h)).status_code == 400
    # update=True (ensure_new false) reopens the existing experiment
    same = (
        await c.post(
            "/v1/experiment",
            json={"project_id": proj["id"], "name": "lev-eval", "ensure_new": False},
            headers=h,
        )
    ).json()
    assert same["id"] == e1["id"]
    # no name: the server generates one
    anon = (await c.post("/v1/experiment", json={"project_id": proj["id"]}, headers=h)).json()
    assert anon["name"].startswith("experiment-")


async def test_legacy_sdk_sequences(ll: InProcess) -> None:
    """SDK 0.34: register endpoints on the app URL (bodies as captured)."""
    c, h = ll.client, ll.headers
    org_id = (await c.post("/api/apikey/login", headers=h)).json()["org_info"][0]["id"]
    p = (
        await c.post(
            "/api/project/register", json={"project_name": "legacy-proj", "org_id": org_id}, headers=h
        )
    ).json()["project"]
    assert set(p) >= {"id", "name"} and p["name"] == "legacy-proj"
    reg = {
        "project_name": "legacy-proj",
        "project_id": None,
        "org_id": org_id,
        "update": None,
        "experiment_name": "lev-eval",
        "public": False,
        "metadata": {"a": 1},
    }
    r1 = (await c.post("/api/experiment/register", json=reg, headers=h)).json()
    assert r1["project"]["id"] == p["id"] and r1["experiment"]["name"] == "lev-eval"
    # first run: no base experiment → HTTP 400
    none = await c.post("/api/base_experiment/get_id", json={"id": r1["experiment"]["id"]}, headers=h)
    assert none.status_code == 400 and none.json()["error"]["status"] == 400
    r2 = (await c.post("/api/experiment/register", json=reg, headers=h)).json()["experiment"]
    assert r2["name"] == "lev-eval-1" and r2["base_exp_id"] == r1["experiment"]["id"]
    # summarize of the second run reads the base experiment's name by id
    assert (await c.get(f"/v1/experiment/{r2['base_exp_id']}", headers=h)).json()["name"] == "lev-eval"
    b = (await c.post("/api/base_experiment/get_id", json={"id": r2["id"]}, headers=h)).json()
    assert b == {"base_exp_id": r1["experiment"]["id"], "base_exp_name": "lev-eval"}
    # update=True reopens
    upd = (await c.post("/api/experiment/register", json={**reg, "update": True}, headers=h)).json()
    assert upd["experiment"]["id"] == r1["experiment"]["id"]
    # base_experiment by name: found → used; missing → an error naming "base experiment" (SDK retries)
    named = (
        await c.post(
            "/api/experiment/register",
            json={**reg, "experiment_name": "vs-first", "base_experiment": "lev-eval"},
            headers=h,
        )
    ).json()["experiment"]
    assert named["base_exp_id"] == r1["experiment"]["id"]
    missing = await c.post(
        "/api/experiment/register", json={**reg, "base_experiment": "no-such-exp"}, headers=h
    )
    assert missing.status_code == 400 and "base experiment" in missing.json()["error"]["message"]
    # init(open=True): /api/experiment/get returns a JSON array
    got = (
        await c.post(
            "/api/experiment/get",
            json={
                "experiment_name": "lev-eval",
                "project_name": "legacy-proj",
                "project_id": None,
                "org_name": "whatever",
            },
            headers=h,
        )
    ).json()
    assert isinstance(got, list)
    got = (
        await c.post(
            "/api/experiment/get",
            json={"experiment_name": "lev-eval", "project_name": "legacy-proj", "project_id": None},
            headers=h,
        )
    ).json()
    assert [x["id"] for x in got] == [r1["experiment"]["id"]]
    # datasets: register is create-or-get, default name "logs"
    dreg = {"project_name": "legacy-proj", "project_id": None, "org_id": org_id, "dataset_name": "ds1"}
    d1 = (await c.post("/api/dataset/register", json=dreg, headers=h)).json()
    d2 = (await c.post("/api/dataset/register", json=dreg, headers=h)).json()
    assert d1["dataset"]["id"] == d2["dataset"]["id"] and d1["project"]["id"] == p["id"]
    assert d1["dataset"]["name"] == "ds1"
    default = (
        await c.post(
            "/api/dataset/register", json={"project_name": "legacy-proj", "org_id": org_id}, headers=h
        )
    ).json()
    assert default["dataset"]["name"] == "logs"
    assert (await c.get("/api/project", params={"id": p["id"]}, headers=h)).json()["id"] == p["id"]


# -- REST API behaviour ------------------------------------------------------------------------------


async def test_list_pagination_and_filters(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "paged"}, headers=h)).json()["id"]
    made = [
        (await c.post("/v1/experiment", json={"project_id": pid, "name": f"e{i}"}, headers=h)).json()["id"]
        for i in range(5)
    ]
    newest_first = list(reversed(made))

    async def ids(**params: Any) -> list[str]:
        r = await c.get("/v1/experiment", params={"project_id": pid, **params}, headers=h)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["objects"]]

    assert await ids() == newest_first
    assert await ids(limit=2) == newest_first[:2]
    assert await ids(limit=2, starting_after=newest_first[1]) == newest_first[2:4]
    assert await ids(limit=2, starting_after=newest_first[3]) == newest_first[4:]
    assert await ids(limit=2, ending_before=newest_first[4]) == newest_first[2:4]
    assert await ids(ids=[made[0], made[2]]) == [made[2], made[0]]
    assert await ids(ids=f"{made[0]},{made[1]}") == [made[1], made[0]]
    assert await ids(experiment_name="e3") == [made[3]]
    assert (await c.get("/v1/experiment", params={"project_name": "paged"}, headers=h)).json()["objects"]
    assert (await c.get("/v1/experiment", params={"project_name": "nope"}, headers=h)).json() == {
        "objects": []
    }
    for bad in ({"limit": "x"}, {"limit": 0}, {"limit": 5000}, {"starting_after": "nope"}):
        r = await c.get("/v1/experiment", params={"project_id": pid, **bad}, headers=h)
        assert r.status_code == 400 and r.json()["error"]["field"] in ("limit", "starting_after"), r.text
    both = await c.get(
        "/v1/experiment", params={"starting_after": made[0], "ending_before": made[1]}, headers=h
    )
    assert both.status_code == 400
    # projects and datasets paginate the same way
    assert len((await c.get("/v1/project", params={"limit": 1}, headers=h)).json()["objects"]) == 1
    for n in ("a", "b", "c"):
        await c.post("/v1/dataset", json={"project_id": pid, "name": n}, headers=h)
    dsets = (await c.get("/v1/dataset", params={"project_id": pid, "limit": 2}, headers=h)).json()["objects"]
    assert [x["name"] for x in dsets] == ["c", "b"]
    nxt = (
        await c.get(
            "/v1/dataset",
            params={"project_id": pid, "limit": 2, "starting_after": dsets[-1]["id"]},
            headers=h,
        )
    ).json()["objects"]
    assert [x["name"] for x in nxt] == ["a"]
    assert [
        x["name"]
        for x in (
            await c.get("/v1/dataset", params={"dataset_name": "b", "project_name": "paged"}, headers=h)
        ).json()["objects"]
    ] == ["b"]


async def test_bad_input_is_a_clear_4xx(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "strict"}, headers=h)).json()["id"]
    cases = [
        ("/v1/project", {}, "name"),
        ("/v1/project", {"name": 5}, "name"),
        ("/v1/project", {"name": "   "}, "name"),
        ("/v1/project", {"name": "x" * 2000}, "name"),
        ("/v1/experiment", {"project_id": pid, "metadata": "not an object"}, "metadata"),
        ("/v1/experiment", {"project_id": pid, "tags": "t"}, "tags"),
        ("/v1/experiment", {"project_id": pid, "ensure_new": "maybe"}, "ensure_new"),
        ("/v1/experiment", {}, "project_id"),
        ("/v1/experiment", {"project_id": pid, "dataset_id": "nope"}, "dataset_id"),
        ("/v1/dataset", {"project_id": pid, "metadata": [1]}, "metadata"),
        ("/api/experiment/register", {"project_name": "strict", "experiment_name": ""}, "experiment_name"),
        ("/api/base_experiment/get_id", {}, "id"),
    ]
    for path, body, field in cases:
        r = await c.post(path, json=body, headers=h)
        assert r.status_code == 400, (path, body, r.text)
        err = r.json()["error"]
        assert err["status"] == 400 and err["field"] == field and err["message"], (path, body, err)
    for raw in (b"{nope", b"[1, 2]", b'"s"'):
        r = await c.post("/v1/project", content=raw, headers=h)
        assert r.status_code == 400 and r.json()["error"]["message"], r.text
    big = await c.post("/v1/project", content=b" " * (2 * 1024 * 1024), headers=h)
    assert big.status_code == 413
    # a body without Content-Type still parses (the SDK's requests calls may omit it)
    r = await c.post("/v1/project", content=b'{"name": "no-ctype"}', headers=h)
    assert r.status_code == 200 and r.json()["name"] == "no-ctype"
    # unknown ids → 404 with the error shape
    for path in ("/v1/project/nope", "/v1/experiment/nope", "/v1/dataset/nope"):
        for method in ("GET", "DELETE"):
            r = await c.request(method, path, headers=h)
            assert r.status_code == 404 and r.json()["error"]["status"] == 404
        r = await c.patch(path, json={}, headers=h)
        assert r.status_code == 404
    assert (await c.post("/api/base_experiment/get_id", json={"id": "nope"}, headers=h)).status_code == 404
    assert (await c.get("/api/project", params={"id": "nope"}, headers=h)).status_code == 404
    assert (await c.get("/api/project", headers=h)).status_code == 400
    # another org's name in org_name is refused; lists filtered by it are empty
    r = await c.post("/v1/project", json={"name": "x", "org_name": "someone-else"}, headers=h)
    assert r.status_code == 403 and r.json()["error"]["field"] == "org_name"
    assert (await c.get("/v1/project", params={"org_name": "someone-else"}, headers=h)).json() == {
        "objects": []
    }


async def test_patch_and_conflicts(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "patchy"}, headers=h)).json()["id"]
    await c.post("/v1/project", json={"name": "patchy-2"}, headers=h)
    r = await c.patch(f"/v1/project/{pid}", json={"name": "patchy-2"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["field"] == "name"
    r = await c.patch(f"/v1/project/{pid}", json={"name": "patchy-renamed", "settings": {"k": 1}}, headers=h)
    assert r.json()["name"] == "patchy-renamed" and r.json()["settings"] == {"k": 1}
    # the old name is free again (create-or-get makes a new project), the new one finds this one
    assert (await c.post("/v1/project", json={"name": "patchy-renamed"}, headers=h)).json()["id"] == pid
    assert (await c.post("/v1/project", json={"name": "patchy"}, headers=h)).json()["id"] != pid
    a = (await c.post("/v1/experiment", json={"project_id": pid, "name": "a"}, headers=h)).json()
    b = (await c.post("/v1/experiment", json={"project_id": pid, "name": "b"}, headers=h)).json()
    assert (await c.patch(f"/v1/experiment/{b['id']}", json={"name": "a"}, headers=h)).status_code == 409
    r = await c.patch(
        f"/v1/experiment/{b['id']}",
        json={"description": "d", "tags": ["x", "y"], "metadata": {"m": 2}, "public": True},
        headers=h,
    )
    out = r.json()
    assert (out["description"], out["tags"], out["metadata"], out["public"]) == (
        "d",
        ["x", "y"],
        {"m": 2},
        True,
    )
    assert (await c.get(f"/v1/experiment/{b['id']}", headers=h)).json()["tags"] == ["x", "y"]
    assert (
        await c.patch(f"/v1/experiment/{b['id']}", json={"base_exp_id": b["id"]}, headers=h)
    ).status_code == 400
    assert (
        await c.patch(f"/v1/experiment/{b['id']}", json={"base_exp_id": "nope"}, headers=h)
    ).status_code == 400
    assert (await c.patch(f"/v1/experiment/{a['id']}", json={"base_exp_id": b["id"]}, headers=h)).json()[
        "base_exp_id"
    ] == b["id"]
    d1 = (await c.post("/v1/dataset", json={"project_id": pid, "name": "d1"}, headers=h)).json()
    await c.post("/v1/dataset", json={"project_id": pid, "name": "d2"}, headers=h)
    assert (await c.patch(f"/v1/dataset/{d1['id']}", json={"name": "d2"}, headers=h)).status_code == 409
    r = await c.patch(f"/v1/dataset/{d1['id']}", json={"name": "d3", "tags": ["t"]}, headers=h)
    assert r.json()["name"] == "d3" and r.json()["tags"] == ["t"]


async def test_delete_cascades_and_ids_are_never_reused(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "doomed"}, headers=h)).json()["id"]
    eid = (await c.post("/v1/experiment", json={"project_id": pid, "name": "e"}, headers=h)).json()["id"]
    did = (await c.post("/v1/dataset", json={"project_id": pid, "name": "d"}, headers=h)).json()["id"]
    gone = (await c.delete(f"/v1/project/{pid}", headers=h)).json()
    assert gone["id"] == pid and gone["deleted_at"]
    assert (await c.get(f"/v1/experiment/{eid}", headers=h)).status_code == 404
    assert (await c.get(f"/v1/dataset/{did}", headers=h)).status_code == 404
    assert (await c.delete(f"/v1/project/{pid}", headers=h)).status_code == 404
    again = (await c.post("/v1/project", json={"name": "doomed"}, headers=h)).json()
    assert again["id"] != pid  # the old project's logs must not reappear under the new one
    d2 = (await c.post("/v1/dataset", json={"project_id": again["id"], "name": "d"}, headers=h)).json()
    await c.delete(f"/v1/dataset/{d2['id']}", headers=h)
    d3 = (await c.post("/v1/dataset", json={"project_id": again["id"], "name": "d"}, headers=h)).json()
    assert d3["id"] != d2["id"]


async def test_ancestor_commits_pick_the_base(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "git"}, headers=h)).json()["id"]
    old = (
        await c.post(
            "/v1/experiment",
            json={"project_id": pid, "name": "on-c1", "repo_info": {"commit": "c1"}},
            headers=h,
        )
    ).json()
    await c.post(
        "/v1/experiment", json={"project_id": pid, "name": "on-zz", "repo_info": {"commit": "zz"}}, headers=h
    )
    new = (
        await c.post(
            "/v1/experiment",
            json={"project_id": pid, "name": "head", "ancestor_commits": ["c3", "c2", "c1"]},
            headers=h,
        )
    ).json()
    assert new["base_exp_id"] == old["id"]  # the nearest ancestor's experiment, not the newest
    assert old["commit"] == "c1" and old["repo_info"] == {"commit": "c1"}


async def test_lookups_are_cached_and_invalidated_across_instances(ll: InProcess) -> None:
    from loopline.gateway.catalog import Catalog

    c, h = ll.client, ll.headers
    other = Catalog(ll.ctx.require_store())  # e.g. the query service's instance in the same process
    pid = (await c.post("/v1/project", json={"name": "cached"}, headers=h)).json()["id"]
    eid = (await c.post("/v1/experiment", json={"project_id": pid, "name": "e"}, headers=h)).json()["id"]
    exp = await other.get_experiment(ll.org_id, eid)
    assert exp is not None and exp["name"] == "e"
    assert await other.get_experiment("another-org", eid) is None
    await c.patch(f"/v1/experiment/{eid}", json={"name": "e2"}, headers=h)
    renamed = await other.get_experiment(ll.org_id, eid)
    assert renamed is not None and renamed["name"] == "e2"
    renamed["name"] = "mutated"  # callers get copies
    assert (await other.get_experiment(ll.org_id, eid) or {})["name"] == "e2"
    await c.delete(f"/v1/experiment/{eid}", headers=h)
    assert await other.get_experiment(ll.org_id, eid) is None
    assert await other.get_project(ll.org_id, pid) is not None
