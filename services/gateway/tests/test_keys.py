"""API keys: 401s, REST `/v1/api_key` (shown once, listable, revocable), org scoping, and the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from loopline.cli.main import app as cli_app
from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=("gateway",)) as p:
        yield p


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_missing_or_bad_key_is_401_with_a_clear_message(ll: InProcess) -> None:
    c = ll.client
    for path, method in (("/api/apikey/login", "POST"), ("/v1/project", "GET"), ("/v1/api_key", "GET")):
        r = await c.request(method, path)
        assert r.status_code == 401 and "Authorization: Bearer" in r.json()["error"]["message"]
        r = await c.request(method, path, headers=bearer("sk-ll-not-a-real-key"))
        assert r.status_code == 401 and r.json()["error"]["message"] == "invalid or revoked API key"
    assert (await c.get("/v1/project", headers={"Authorization": "Basic abc"})).status_code == 401
    # the SDK strips a trailing newline; other clients send x-bt-api-key
    assert (await c.get("/v1/project", headers=bearer(ll.api_key + "\n"))).status_code == 200
    assert (await c.get("/v1/project", headers={"x-bt-api-key": ll.api_key})).status_code == 200
    # discovery stays public
    assert (await c.get("/version")).status_code == 200


async def test_login_shape(ll: InProcess) -> None:
    r = await ll.client.post("/api/apikey/login", headers=ll.headers)
    assert r.status_code == 200
    (org,) = r.json()["org_info"]
    assert org["id"] == ll.org_id and isinstance(org["name"], str) and org["name"]
    assert org["api_url"] == "http://loopline.test" and org["proxy_url"] == org["api_url"]
    assert org["git_metadata"] is None
    ping = (await ll.client.get("/ping", headers=ll.headers)).json()
    assert ping["org_id"] == ll.org_id and ping["api_key_id"]


async def test_rest_api_keys_lifecycle(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    made = await c.post("/v1/api_key", json={"name": "ci"}, headers=h)
    assert made.status_code == 200, made.text
    k = made.json()
    secret = k["key"]
    assert secret.startswith("sk-ll-") and k["name"] == "ci" and k["org_id"] == ll.org_id
    assert k["preview_name"].startswith(secret[:8]) and secret not in k["preview_name"]
    # the new key works at once, for the same org
    login = (await c.post("/api/apikey/login", headers=bearer(secret))).json()
    assert login["org_info"][0]["id"] == ll.org_id
    listed = (await c.get("/v1/api_key", headers=h)).json()["objects"]
    assert k["id"] in [x["id"] for x in listed]
    assert all("key" not in x and "key_hash" not in x for x in listed)
    assert secret not in (await c.get("/v1/api_key", headers=h)).text  # shown once only
    got = (await c.get(f"/v1/api_key/{k['id']}", headers=h)).json()
    assert got["id"] == k["id"] and "key" not in got
    by_name = (await c.get("/v1/api_key", params={"api_key_name": "ci"}, headers=h)).json()["objects"]
    assert [x["id"] for x in by_name] == [k["id"]]
    # pagination, newest first
    k2 = (await c.post("/v1/api_key", json={"name": "ci-2"}, headers=h)).json()
    page = (await c.get("/v1/api_key", params={"limit": 1}, headers=h)).json()["objects"]
    assert [x["id"] for x in page] == [k2["id"]]
    nxt = (await c.get("/v1/api_key", params={"limit": 1, "starting_after": k2["id"]}, headers=h)).json()
    assert [x["id"] for x in nxt["objects"]] == [k["id"]]
    # revocation takes effect immediately, even for a key the gateway has cached
    deleted = await c.delete(f"/v1/api_key/{k['id']}", headers=h)
    assert deleted.status_code == 200 and deleted.json()["id"] == k["id"]
    r = await c.get("/v1/project", headers=bearer(secret))
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert (await c.get(f"/v1/api_key/{k['id']}", headers=h)).status_code == 404
    assert (await c.delete(f"/v1/api_key/{k['id']}", headers=h)).status_code == 404
    assert k["id"] not in [x["id"] for x in (await c.get("/v1/api_key", headers=h)).json()["objects"]]
    # bad input
    assert (await c.post("/v1/api_key", json={}, headers=h)).json()["error"]["field"] == "name"
    r = await c.post("/v1/api_key", json={"name": "x", "org_name": "not-mine"}, headers=h)
    assert r.status_code == 403


async def test_keys_are_scoped_to_their_org(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    mine = (await c.post("/v1/api_key", json={"name": "mine"}, headers=h)).json()
    other_org, other_key = await ll.new_org(f"other-{mine['id'][:8]}")
    o = bearer(other_key)
    theirs = (await c.get("/v1/api_key", headers=o)).json()["objects"]
    assert theirs and all(x["org_id"] == other_org for x in theirs)
    assert mine["id"] not in [x["id"] for x in theirs]
    assert (await c.get(f"/v1/api_key/{mine['id']}", headers=o)).status_code == 404
    assert (await c.delete(f"/v1/api_key/{mine['id']}", headers=o)).status_code == 404
    assert (await c.get("/v1/project", headers=bearer(mine["key"]))).status_code == 200  # still active
    made = (await c.post("/v1/api_key", json={"name": "theirs"}, headers=o)).json()
    assert made["org_id"] == other_org
    login = (await c.post("/api/apikey/login", headers=bearer(made["key"]))).json()
    assert login["org_info"][0]["id"] == other_org


# -- the `loopline keys` CLI -----------------------------------------------------------------------


async def run_cli(ll: InProcess, *args: str) -> Result:
    """Run `loopline keys ...` against the in-process app's store (same chdb dir, same database)."""
    env = {
        "LOOPLINE_STORE_DSN": ll.ctx.require_store().dsn,
        "LOOPLINE_DATABASE": ll.ctx.settings.database,
        "LOOPLINE_LOG_LEVEL": "WARNING",
    }
    return await asyncio.to_thread(CliRunner().invoke, cli_app, ["keys", *args], env=env)


async def test_cli_create_list_revoke(ll: InProcess) -> None:
    c = ll.client
    org = f"cli-org-{ll.org_id[:8]}"
    made = await run_cli(ll, "create", "--name", "from-cli", "--org", org)
    assert made.exit_code == 0, made.output
    key = made.output.split()[0]
    assert key.startswith("sk-ll-") and "shown once" in made.output
    second = (await run_cli(ll, "create", "--name", "second", "--org", org)).output.split()[0]
    # a key made offline works against the running gateway, in its own org
    login = await c.post("/api/apikey/login", headers=bearer(second))
    assert login.status_code == 200 and login.json()["org_info"][0]["name"] == org
    listed = await run_cli(ll, "list", "--org", org)
    assert listed.exit_code == 0
    assert key[:12] in listed.output and key not in listed.output and "from-cli" in listed.output
    assert "second" in listed.output and ll.api_key[:12] not in listed.output  # only that org
    assert (await run_cli(ll, "list", "--org", "no-such-org")).exit_code == 1
    # an ambiguous prefix revokes nothing unless --all
    ambiguous = await run_cli(ll, "revoke", "sk-ll-", "--org", org)
    assert ambiguous.exit_code == 1 and "matches 2 active keys" in ambiguous.output
    assert (await c.get("/v1/project", headers=bearer(second))).status_code == 200
    # revoke one by prefix: the gateway refuses it (this key was never cached by the gateway)
    revoked = await run_cli(ll, "revoke", key[:12], "--org", org)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    r = await c.get("/v1/project", headers=bearer(key))
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert "revoked" in (await run_cli(ll, "list", "--org", org)).output
    assert (await run_cli(ll, "revoke", key[:12], "--org", org)).exit_code == 1  # already revoked
    assert (await run_cli(ll, "revoke", "sk-ll-", "--org", org, "--all")).exit_code == 0
    ks = ll.keys
    ks._cache.clear()  # cross-process revocation applies within the auth cache TTL
    assert (await c.get("/v1/project", headers=bearer(second))).status_code == 401
