"""Every route of the app has an entry in the gateway's role policy (`gateway/policy.py`), and the
running app (every service, in-process) answers each route and role as the table says: a role
below the route's least role gets the gateway's 403, the least role itself gets past it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from loopline.common.auth import ROLES, Role, role_rank
from loopline.common.settings import load_settings
from loopline.gateway.policy import POLICY, access_for

from loopline.runtime.app import build_app, build_context
from loopline.runtime.registry import ALL_SERVICES
from tests.support.app import InProcess, in_process
from tests.test_route_table import api_routes, concrete_paths


def app_routes(tmp_path: Path) -> set[str]:
    s = load_settings(data_dir=tmp_path, store_dsn=f"chdb://{tmp_path / 'ch'}")
    app = build_app(build_context(s, ALL_SERVICES))
    return {f"{m} {r.path}" for r in api_routes(app.routes) for m in r.methods or () if m != "HEAD"}


def test_every_route_has_a_policy_entry_and_every_entry_a_route(tmp_path: Path) -> None:
    served = app_routes(tmp_path)
    assert len(served) > 50 and "GET /api/me" in served
    missing = sorted(served - POLICY.keys())
    assert not missing, "routes without an entry in gateway/policy.py POLICY:\n" + "\n".join(missing)
    stale = sorted(POLICY.keys() - served)
    assert not stale, "POLICY entries for routes nobody serves:\n" + "\n".join(stale)


def test_each_route_resolves_to_its_own_entry() -> None:
    """The middleware finds a route's own entry from a concrete request path (no other, wider
    entry shadows it), and a path no route serves needs an owner."""
    for key, access in POLICY.items():
        method, template = key.split(" ", 1)
        path = concrete_paths(template)[0]
        assert access_for(method, path) == access, key
    assert access_for("GET", "/no/such/route") == "owner"
    assert access_for("HEAD", "/v1/project") == "viewer"


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=ALL_SERVICES) as p:
        yield p


def denied_by_role(status: int, body: bytes) -> bool:
    return status == 403 and b"role; this caller is a" in body


async def test_route_by_role_table(ll: InProcess) -> None:
    """For every route: each role below its least role is refused by the gateway with 403; the
    least role is not (the route itself then answers: 2xx, 4xx for the empty request, ...)."""
    keys: dict[Role, str] = {}
    for role in ROLES:
        keys[role], _ = await ll.keys.create_key(ll.org_id, f"{role} service", role=role)
    problems = []
    checked = 0
    for key, access in sorted(POLICY.items()):
        method, template = key.split(" ", 1)
        path = concrete_paths(template)[0]
        for role in ROLES:
            if access == "public":
                expect_denied = False
            elif role_rank(role) > role_rank(access):
                continue  # above the least role: the same answer as the least role's
            else:
                expect_denied = role_rank(role) < role_rank(access)
            r = await ll.client.request(
                method, path, headers={"Authorization": f"Bearer {keys[role]}"}, content=b"{}"
            )
            checked += 1
            if denied_by_role(r.status_code, r.content) != expect_denied or r.status_code == 401:
                problems.append(f"{key} as {role}: {r.status_code} {r.text[:200]}")
    assert checked > len(POLICY)
    assert not problems, "\n".join(problems)
