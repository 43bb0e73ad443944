"""Both implementations of `loopline.common.control_plane.ControlPlane` answer alike: the
in-process one (`LocalControlPlane`, over the catalog) and the HTTP one (`HttpControlPlane`,
through the gateway's own API with the internal token), here against the same gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from loopline.common.auth import Principal
from loopline.common.control_plane import (
    BaseExperiment,
    ControlPlane,
    ControlPlaneRefused,
    HttpControlPlane,
    ObjectInfo,
)
from loopline.gateway.control_plane import LocalControlPlane

from tests.support.app import InProcess, in_process

TOKEN = "internal-test-token"


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, internal_token=TOKEN) as p:
        yield p


async def both(ll: InProcess) -> AsyncIterator[tuple[str, ControlPlane]]:
    http = HttpControlPlane("http://loopline.test", TOKEN, transport=httpx.ASGITransport(ll.app))
    try:
        yield "local", LocalControlPlane(ll.ctx.require_store())
        yield "http", http
    finally:
        await http.close()


async def test_both_implementations_answer_alike(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = (await c.post("/v1/project", json={"name": "cp"}, headers=h)).json()["id"]
    first = (await c.post("/v1/experiment", json={"project_id": pid, "name": "one"}, headers=h)).json()
    second = (await c.post("/v1/experiment", json={"project_id": pid, "name": "two"}, headers=h)).json()
    did = (await c.post("/v1/dataset", json={"project_id": pid, "name": "ds"}, headers=h)).json()["id"]
    other_org, _ = await ll.new_org("cp-other")
    async for name, cp in both(ll):
        org = ll.org_id
        assert await cp.object_info(org, "project", pid) == ObjectInfo(pid, "cp", pid), name
        assert await cp.object_info(org, "experiment", first["id"]) == ObjectInfo(first["id"], "one", pid)
        assert await cp.object_info(org, "dataset", did) == ObjectInfo(did, "ds", pid), name
        assert await cp.object_info(other_org, "experiment", first["id"]) is None, name
        assert await cp.object_info(org, "dataset", "no-such-dataset") is None, name
        assert await cp.project_by_name(org, "cp") == ObjectInfo(pid, "cp", pid), name
        assert await cp.project_by_name(org, "no-such-project") is None, name
        assert await cp.project_by_name(other_org, "cp") is None, name
        assert await cp.base_experiment(org, second["id"]) == BaseExperiment(first["id"], "one"), name
        assert await cp.base_experiment(org, first["id"]) is None, name
        assert await cp.base_experiment(other_org, second["id"]) is None, name
        assert await cp.project_of(org, "experiment", second["id"]) == pid, name
        assert await cp.project_of(other_org, "experiment", second["id"]) is None, name
        principal = Principal(org_id=org)
        assert await cp.project_id_by_name(principal, "cp") == pid, name
        with pytest.raises(ControlPlaneRefused) as refused:
            await cp.project_id_by_name(principal, " ")
        assert refused.value.status == 400 and "'name'" in refused.value.message, name
