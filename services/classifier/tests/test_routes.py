"""`/v1/project/{id}/classifier` through the in-process app: CRUD, versions, 400s naming the
field, tenant isolation, and the classify preview on the real local model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process

BODY: dict[str, Any] = {
    "labels": [
        {
            "name": "refund",
            "description": "wants money back",
            "examples": ["I want a refund", "money back please"],
        },
        {"name": "card_lost", "description": "lost or stolen card", "examples": ["I lost my card"]},
        {"name": "weather", "description": "weather forecast questions"},
    ],
    "threshold": 0.1,
}


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=("gateway", "classifier")) as p:
        yield p


async def test_crud_versions_and_preview(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    base = f"/v1/project/{pid}/classifier"
    created = await c.post(base, json=BODY, headers=h)
    assert created.status_code == 200, created.text
    cid = created.json()["id"]
    assert (created.json()["version"], created.json()["facet"]) == (1, "Intent")
    patched = await c.patch(f"{base}/{cid}", json={"threshold": 0.2}, headers=h)
    assert patched.json()["version"] == 2
    assert (await c.get(f"{base}/{cid}", headers=h)).json()["threshold"] == 0.2
    assert (await c.get(f"{base}/{cid}?version=1", headers=h)).json()["threshold"] == 0.1
    assert [o["id"] for o in (await c.get(base, headers=h)).json()["objects"]] == [cid]

    preview = await c.post(
        f"{base}/{cid}/classify",
        json={"spans": [{"input": [{"role": "user", "content": "somebody stole my card"}]}, {"input": ""}]},
        headers=h,
    )
    assert preview.status_code == 200, preview.text
    results = preview.json()["results"]
    assert results[0]["label"] == "card_lost"
    assert results[1] == {"text": None, "label": None, "confidence": None}
    texts = await c.post(f"{base}/{cid}/classify", json={"texts": ["will it rain tomorrow?"]}, headers=h)
    assert texts.json()["results"][0]["label"] == "weather"

    assert (await c.delete(f"{base}/{cid}", headers=h)).status_code == 200
    assert (await c.get(f"{base}/{cid}", headers=h)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"labels": [{"name": "a"}, {"name": "a"}]}, "labels[1].name"),
        ({"labels": [{"name": ""}]}, "labels[0].name"),
        ({"labels": [{"name": f"l{i}"} for i in range(501)]}, "labels"),
        ({"labels": [{"name": "a", "examples": ["x" * 2001]}]}, "labels[0].examples[0]"),
        ({"facet": "has space"}, "facet"),
        ({"threshold": "high"}, "threshold"),
    ],
)
async def test_bad_taxonomies_are_400_with_the_field(ll: InProcess, body: dict[str, Any], field: str) -> None:
    pid = await ll.make_project()
    r = await ll.client.post(f"/v1/project/{pid}/classifier", json=body, headers=ll.headers)
    assert r.status_code == 400, r.text
    assert field in r.text


async def test_other_tenants_and_projects_see_nothing(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    cid = (await c.post(f"/v1/project/{pid}/classifier", json=BODY, headers=h)).json()["id"]
    other_org, other_key = await ll.new_org("clf-other")
    oh = {"Authorization": f"Bearer {other_key}"}
    base = f"/v1/project/{pid}/classifier"
    assert (await c.get(base, headers=oh)).status_code == 404  # not their project
    assert (await c.get(f"{base}/{cid}", headers=oh)).status_code == 404
    assert (await c.patch(f"{base}/{cid}", json={"threshold": 0.9}, headers=oh)).status_code == 404
    assert (await c.delete(f"{base}/{cid}", headers=oh)).status_code == 404
    their_pid = await ll.make_project(org_id=other_org)
    assert (await c.get(f"/v1/project/{their_pid}/classifier/{cid}", headers=oh)).status_code == 404
    assert (await c.get(f"/v1/project/{pid}/classifier/{cid}", headers=h)).status_code == 200
    assert (await c.post(base, json=BODY, headers=h)).status_code == 409  # the facet is taken
    assert (await c.post(f"{base}/{cid}/classify", json={"texts": []}, headers=h)).status_code == 400
    assert (await c.post(base, json=[1, 2], headers=h)).status_code in (400, 422)
