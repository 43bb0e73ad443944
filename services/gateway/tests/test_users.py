"""Users and sessions: sign-in, logout, CSRF, expiry, rotation, rate limit, the first owner,
members and their roles, user keys, isolation between orgs, and no password in any log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from loopline.common.service import ServiceStates
from loopline.gateway.passwords import hash_password_sync, verify_password_sync
from loopline.gateway.state import State as GatewayState
from loopline.gateway.users import SESSION_COOKIE, UserStore

from loopline.runtime.bootstrap import first_owner_link
from tests.support.app import InProcess, in_process

PASSWORD = "correct horse battery staple"

# one app for the module (starting one is most of the time): each test uses its own emails
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ll(chdb_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    tmp_path = tmp_path_factory.mktemp("users")
    async with in_process(chdb_dsn, tmp_path, services=("gateway",), gateway={"login_max_failures": 3}) as p:
        yield p


def users_of(ll: InProcess) -> UserStore:
    states: ServiceStates = ll.app.state.services
    return states.get(GatewayState).users


def browser(ll: InProcess) -> httpx.AsyncClient:
    """A second client on the same app with its own cookie jar (a browser)."""
    return httpx.AsyncClient(transport=ll.client._transport, base_url="http://loopline.test")


async def add_user(ll: InProcess, email: str, role: str, key: str | None = None) -> dict[str, object]:
    r = await ll.client.post(
        "/v1/user",
        json={"email": email, "role": role, "password": PASSWORD},
        headers={"Authorization": f"Bearer {key or ll.api_key}"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def sign_in(c: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, object]:
    r = await c.post("/api/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def test_passwords_hash_with_a_salt_and_verify() -> None:
    a, b = hash_password_sync("pw-12345678"), hash_password_sync("pw-12345678")
    assert a != b and a.startswith("scrypt$") and "pw-12345678" not in a
    assert verify_password_sync("pw-12345678", a) and not verify_password_sync("pw-12345679", a)
    assert not verify_password_sync("pw-12345678", "not a hash")


async def test_login_me_logout(ll: InProcess) -> None:
    await add_user(ll, "Ada@Example.com", "member")
    async with browser(ll) as c:
        me = await sign_in(c, "ada@example.com")
        assert me["role"] == "member" and me["org"]["id"] == ll.org_id  # type: ignore[index]
        assert me["user"]["email"] == "ada@example.com"  # type: ignore[index]
        csrf = me["csrf_token"]
        assert isinstance(csrf, str) and csrf
        r = await c.get("/api/me")
        assert r.status_code == 200 and r.json()["csrf_token"] == csrf
        assert (await c.get("/v1/project")).status_code == 200
        # logout needs the CSRF token like every unsafe cookie request
        assert (await c.post("/api/logout")).status_code == 403
        r = await c.post("/api/logout", headers={"x-csrf-token": csrf})
        assert r.status_code == 200 and r.json() == {"signed_out": True}
        assert (await c.get("/api/me")).status_code == 401
    async with browser(ll) as c:
        r = await c.post("/api/login", json={"email": "ada@example.com", "password": "wrong password"})
        assert r.status_code == 401 and r.json()["error"]["message"] == "wrong email or password"
        r = await c.post("/api/login", json={"email": "nobody@example.com", "password": PASSWORD})
        assert r.status_code == 401 and r.json()["error"]["message"] == "wrong email or password"
        r = await c.post("/api/login", json={"email": "ada@example.com"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "password"


async def test_session_cookie_attributes(ll: InProcess) -> None:
    await add_user(ll, "c@example.com", "viewer")
    async with browser(ll) as c:
        r = await c.post("/api/login", json={"email": "c@example.com", "password": PASSWORD})
        cookie = r.headers["set-cookie"].lower()
        assert f"{SESSION_COOKIE}=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie  # plain http here
        # a viewer's session reads, and may not write even with its CSRF token
        csrf = r.json()["csrf_token"]
        assert (await c.get("/v1/project")).status_code == 200
        w = await c.post("/v1/project", json={"name": "viewer-write"}, headers={"x-csrf-token": csrf})
        assert w.status_code == 403 and "needs the member role" in w.json()["error"]["message"]
        r = await c.post(
            "/api/login",
            json={"email": "c@example.com", "password": PASSWORD},
            headers={"x-forwarded-proto": "https"},
        )
        assert "secure" in r.headers["set-cookie"].lower()


async def test_csrf_on_unsafe_cookie_requests_and_keys_are_exempt(ll: InProcess) -> None:
    await add_user(ll, "m@example.com", "member")
    async with browser(ll) as c:
        csrf = str((await sign_in(c, "m@example.com"))["csrf_token"])
        r = await c.post("/v1/project", json={"name": "no-token"})
        assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
        r = await c.post("/v1/project", json={"name": "bad-token"}, headers={"x-csrf-token": "x" + csrf})
        assert r.status_code == 403
        r = await c.post(
            "/v1/project",
            json={"name": "cross-site"},
            headers={"x-csrf-token": csrf, "origin": "https://evil.example"},
        )
        assert r.status_code == 403
        r = await c.post(
            "/v1/project",
            json={"name": "ok"},
            headers={"x-csrf-token": csrf, "origin": "http://loopline.test"},
        )
        assert r.status_code == 200, r.text
    # an API key needs no CSRF token
    assert (
        await ll.client.post("/v1/project", json={"name": "by-key"}, headers=ll.headers)
    ).status_code == 200


async def test_expired_session_is_refused(ll: InProcess) -> None:
    await add_user(ll, "e@example.com", "viewer")
    users = users_of(ll)
    async with browser(ll) as c:
        await sign_in(c, "e@example.com")
        assert (await c.get("/api/me")).status_code == 200
        users.clock = lambda: datetime.now(UTC) + users.session_ttl + timedelta(seconds=1)
        try:
            r = await c.get("/api/me")
            assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
        finally:
            users.clock = lambda: datetime.now(UTC)


async def test_login_rotates_the_session(ll: InProcess) -> None:
    await add_user(ll, "r@example.com", "viewer")
    async with browser(ll) as c:
        await sign_in(c, "r@example.com")
        first = c.cookies[SESSION_COOKIE]
        await sign_in(c, "r@example.com")
        second = c.cookies[SESSION_COOKIE]
        assert first != second
        assert (await c.get("/api/me")).status_code == 200
    async with browser(ll) as old:
        old.cookies.set(SESSION_COOKIE, first)
        assert (await old.get("/api/me")).status_code == 401  # the old one ended with the new login


async def test_failed_logins_are_rate_limited_per_email_and_address(ll: InProcess) -> None:
    await add_user(ll, "l@example.com", "viewer")
    async with browser(ll) as c:
        for _ in range(3):
            r = await c.post("/api/login", json={"email": "l@example.com", "password": "wrong one"})
            assert r.status_code == 401
        r = await c.post("/api/login", json={"email": "l@example.com", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # another email from the same address is not affected
        await add_user(ll, "l2@example.com", "viewer")
        await sign_in(c, "l2@example.com")


async def test_first_owner_from_the_printed_link(ll: InProcess) -> None:
    states: ServiceStates = ll.app.state.services
    fresh_org, _ = await ll.new_org("fresh-org")
    link = await first_owner_link(ll.ctx, states, fresh_org, "http://localhost:8000")
    assert link is not None and link.startswith("http://localhost:8000/app/invite#token=")
    token = link.split("#token=", 1)[1]
    async with browser(ll) as c:
        r = await c.post(
            "/api/invitation/accept",
            json={"token": token, "email": "owner@example.com", "password": PASSWORD},
        )
        assert r.status_code == 200, r.text
        assert r.json()["role"] == "owner" and r.json()["csrf_token"] and r.json()["org"]["id"] == fresh_org
        assert (await c.get("/api/me")).json()["user"]["email"] == "owner@example.com"
        r = await c.post(
            "/api/invitation/accept",
            json={"token": token, "email": "again@example.com", "password": PASSWORD},
        )
        assert r.status_code == 404  # one time only
    # the org has a user now: no more links
    assert await first_owner_link(ll.ctx, states, fresh_org, "http://localhost:8000") is None


async def test_invitations_for_an_email_and_who_may_invite_whom(ll: InProcess) -> None:
    await add_user(ll, "admin@example.com", "admin")
    async with browser(ll) as c:
        csrf = str((await sign_in(c, "admin@example.com"))["csrf_token"])
        h = {"x-csrf-token": csrf}
        r = await c.post("/v1/invitation", json={"role": "owner"}, headers=h)
        assert r.status_code == 403 and r.json()["error"]["field"] == "role"
        r = await c.post("/v1/invitation", json={"role": "member", "email": "new@example.com"}, headers=h)
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        assert [i["email"] for i in (await c.get("/v1/invitation")).json()["objects"]] == ["new@example.com"]
    async with browser(ll) as c:
        bad = {"token": token, "email": "other@example.com", "password": PASSWORD}
        assert (await c.post("/api/invitation/accept", json=bad)).status_code == 409
        good = {"token": token, "email": "new@example.com", "password": PASSWORD, "name": "New"}
        r = await c.post("/api/invitation/accept", json=good)
        assert r.status_code == 200 and r.json()["role"] == "member"


async def test_member_management_rules(ll: InProcess) -> None:
    owner = await add_user(ll, "o@example.com", "owner")
    admin = await add_user(ll, "a@example.com", "admin")
    member = await add_user(ll, "mm@example.com", "member")
    dup = await ll.client.post(
        "/v1/user",
        json={"email": "O@example.com", "role": "viewer", "password": PASSWORD},
        headers=ll.headers,
    )
    assert dup.status_code == 409
    async with browser(ll) as c:
        h = {"x-csrf-token": str((await sign_in(c, "a@example.com"))["csrf_token"])}
        # an admin manages members and viewers, not admins or owners
        r = await c.patch(f"/v1/user/{member['id']}", json={"role": "viewer"}, headers=h)
        assert r.status_code == 200 and r.json()["role"] == "viewer"
        assert (
            await c.patch(f"/v1/user/{member['id']}", json={"role": "admin"}, headers=h)
        ).status_code == 403
        assert (await c.delete(f"/v1/user/{owner['id']}", headers=h)).status_code == 403
        r = await c.post(
            "/v1/user", json={"email": "x@example.com", "role": "admin", "password": PASSWORD}, headers=h
        )
        assert r.status_code == 403
        # without a password: an invitation for that email
        r = await c.post("/v1/user", json={"email": "inv@example.com", "role": "viewer"}, headers=h)
        assert r.status_code == 200 and r.json()["invitation"]["email"] == "inv@example.com"
    async with browser(ll) as c:
        h = {"x-csrf-token": str((await sign_in(c, "o@example.com"))["csrf_token"])}
        # the last owner stays
        r = await c.patch(f"/v1/user/{owner['id']}", json={"role": "admin"}, headers=h)
        assert r.status_code == 409
        assert (
            await c.patch(f"/v1/user/{admin['id']}", json={"role": "owner"}, headers=h)
        ).status_code == 200
        assert (await c.delete(f"/v1/user/{member['id']}", headers=h)).status_code == 200
        assert (await c.get(f"/v1/user/{member['id']}")).status_code == 404
    async with browser(ll) as c:
        r = await c.post("/api/login", json={"email": "mm@example.com", "password": PASSWORD})
        assert r.status_code == 401  # removed


async def test_a_users_key_acts_with_the_users_current_role(ll: InProcess) -> None:
    user = await add_user(ll, "k@example.com", "member")
    async with browser(ll) as c:
        h = {"x-csrf-token": str((await sign_in(c, "k@example.com"))["csrf_token"])}
        r = await c.post("/v1/api_key", json={"name": "mine"}, headers=h)
        assert r.status_code == 200 and r.json()["user_id"] == user["id"]
        key = r.json()["key"]
        assert (
            await c.post("/v1/api_key", json={"name": "up", "role": "admin"}, headers=h)
        ).status_code == 403
        # a member sees its own keys only
        listed = (await c.get("/v1/api_key")).json()["objects"]
        assert [k["name"] for k in listed] == ["mine"]
    kh = {"Authorization": f"Bearer {key}"}
    assert (await ll.client.post("/v1/project", json={"name": "by-user-key"}, headers=kh)).status_code == 200
    assert (await ll.client.get("/ping", headers=kh)).json()["role"] == "member"
    r = await ll.client.patch(f"/v1/user/{user['id']}", json={"role": "viewer"}, headers=ll.headers)
    assert r.status_code == 200
    r = await ll.client.post("/v1/project", json={"name": "now-viewer"}, headers=kh)
    assert r.status_code == 403 and "needs the member role" in r.json()["error"]["message"]
    await ll.client.delete(f"/v1/user/{user['id']}", headers=ll.headers)
    assert (await ll.client.get("/v1/project", headers=kh)).status_code == 401  # revoked with its user
    # the org's existing (bootstrap) key is an owner-level service key
    me = (await ll.client.get("/api/me", headers=ll.headers)).json()
    assert me["role"] == "owner" and me["user"] is None and me["csrf_token"] is None


async def test_orgs_are_isolated(ll: InProcess) -> None:
    other_org, other_key = await ll.new_org("other-org")
    a = await add_user(ll, "in-a@example.com", "viewer")
    b = await add_user(ll, "in-b@example.com", "admin", key=other_key)
    ob = {"Authorization": f"Bearer {other_key}"}
    assert [u["email"] for u in (await ll.client.get("/v1/user", headers=ob)).json()["objects"]] == [
        "in-b@example.com"
    ]
    assert (await ll.client.get(f"/v1/user/{a['id']}", headers=ob)).status_code == 404
    assert (
        await ll.client.patch(f"/v1/user/{a['id']}", json={"role": "viewer"}, headers=ob)
    ).status_code == 404
    assert (await ll.client.delete(f"/v1/user/{a['id']}", headers=ob)).status_code == 404
    await ll.client.post("/v1/project", json={"name": "secret-a"}, headers=ll.headers)
    async with browser(ll) as c:
        me = await sign_in(c, "in-b@example.com")
        assert me["org"]["id"] == other_org and me["user"]["id"] == b["id"]  # type: ignore[index]
        names = [p["name"] for p in (await c.get("/v1/project")).json()["objects"]]
        assert "secret-a" not in names


async def test_no_password_in_logs(
    ll: InProcess, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-never-logged-" + "x" * 8
    r = await ll.client.post(
        "/v1/user", json={"email": "p@example.com", "role": "member", "password": secret}, headers=ll.headers
    )
    assert r.status_code == 200 and secret not in r.text
    async with browser(ll) as c:
        await sign_in(c, "p@example.com", secret)
        await c.post("/api/login", json={"email": "p@example.com", "password": secret + "-wrong"})
        await c.post("/api/login", json={"email": "p@example.com", "password": "short"})
    users = await users_of(ll).list_users(ll.org_id)
    assert all(secret not in u.password_hash for u in users)
    out, err = capfd.readouterr()
    assert (
        any("signed in" in m.getMessage() or "signed in" in str(m.msg) for m in caplog.records)
        or "signed in" in out + err
    )
    assert secret not in caplog.text and secret not in out + err
