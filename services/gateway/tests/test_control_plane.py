"""Projects, experiments, datasets through both SDK generations' endpoints, scoped by org."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

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
