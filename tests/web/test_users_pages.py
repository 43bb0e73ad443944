"""Users in the browser: the first-owner link, email + password sign-in with the session cookie,
sign-out, the members page (invite by link, change a role, remove) and a viewer who cannot edit."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import expect

from tests.web.conftest import Seeded, shot

PASSWORD = "correct horse battery"


def printed_first_owner_link(seeded: Seeded) -> str:
    assert seeded.server.log_path is not None
    m = re.search(r"first owner: (\S+)", seeded.server.log_path.read_text(errors="replace"))
    assert m, "loopline up printed no first-owner link"
    u = urlsplit(m.group(1))
    return f"{u.path}#{u.fragment}"


def accept(page: Any, link: str, email: str, name: str) -> None:
    page.goto(link)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


def password_sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/app/login")
    page.get_by_role("tab", name="Email").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def reload_until(page: Any, check: Any, tries: int = 8) -> None:
    """Reload until `check()` passes: the server caches users and sessions for a few seconds."""
    for i in range(tries):
        page.reload()
        try:
            check()
            return
        except AssertionError:
            if i == tries - 1:
                raise
            page.wait_for_timeout(1000)


def test_first_owner_link_then_password_sign_in_and_out(page: Any, seeded: Seeded) -> None:
    link = printed_first_owner_link(seeded)
    page.goto(link.split("#")[0])  # without its token the page says what is missing
    expect(page.get_by_role("alert")).to_contain_text("no invitation token")
    accept(page, link, "owner@example.com", "Olive Owner")
    signed_in = page.get_by_label("Signed in as")
    expect(signed_in).to_contain_text("owner@example.com")
    expect(signed_in).to_contain_text("owner")
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    shot(page, "20-first-owner-signed-in")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = next(c for c in cookies.values() if c["httpOnly"])
    assert session["sameSite"] == "Lax"
    assert page.evaluate("sessionStorage.length") == 0  # nothing of the session is readable by scripts
    # a reload keeps the session (the cookie), then sign out ends it on the server
    page.reload()
    expect(signed_in).to_contain_text("owner@example.com")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You signed out.")).to_be_visible()
    assert page.request.get("/api/me").status == 401
    # the link worked once
    accept(page, link, "someone@example.com", "Someone")
    expect(page.get_by_role("alert")).to_be_visible()
    # password sign-in: a wrong password is refused, the right one lands on a deep link
    password_sign_in(page, "owner@example.com", "not the password")
    expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
    shot(page, "21-sign-in-wrong-password")
    page.goto(seeded.project_path + "/logs")
    expect(page).to_have_url(re.compile(r"/app/login\?next="))
    page.get_by_role("tab", name="Email").click()
    page.get_by_label("Email").fill("OWNER@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(seeded.project_path + "/logs")))
    expect(page.get_by_role("table", name="Traces").get_by_role("row")).to_have_count(4)


def test_members_invite_change_role_remove_and_a_viewer_cannot_edit(
    page: Any, browser: Any, seeded: Seeded
) -> None:
    tag = uuid.uuid4().hex[:6]
    admin, viewer = f"admin-{tag}@example.com", f"viewer-{tag}@example.com"
    r = httpx.post(
        f"{seeded.server.url}/v1/user",
        json={"email": admin, "password": PASSWORD, "role": "admin", "name": "Ada Admin"},
        headers=seeded.server.headers,
    )
    assert r.status_code == 200, r.text
    password_sign_in(page, admin)
    expect(page.get_by_label("Signed in as")).to_contain_text(admin)
    page.get_by_role("link", name="Members").click()
    members = page.get_by_role("table", name="Members")
    expect(members).to_contain_text(admin)
    # an admin invites members and viewers, not admins or owners
    role = page.get_by_label("Role of the invitation")
    expect(role.locator("option")).to_have_text(["viewer", "member"])
    page.get_by_label("Email to invite").fill(viewer)
    role.select_option("viewer")
    page.get_by_role("button", name="Create invitation link").click()
    url = page.get_by_label("Invitation URL").input_value()
    assert "/app/invite#token=" in url
    expect(page.get_by_role("list", name="Pending invitations")).to_contain_text(viewer)
    shot(page, "22-members-invitation")

    other = browser.new_context(base_url=seeded.server.url, viewport={"width": 1440, "height": 900})
    try:
        vp = other.new_page()
        u = urlsplit(url)
        accept(vp, f"{u.path}#{u.fragment}", viewer, "Vic Viewer")
        expect(vp.get_by_label("Signed in as")).to_contain_text("viewer")
        # a viewer reads dashboards but cannot copy or edit them; the API refuses writes too
        vp.goto(seeded.project_path + "/dashboards/builtin%3Ablast-radius")
        expect(vp.get_by_role("heading", name="Blast radius", exact=True)).to_be_visible()
        expect(vp.get_by_role("button", name="Open as query").first).to_be_visible()
        expect(vp.get_by_role("button", name="Save a copy to edit")).to_have_count(0)
        expect(vp.get_by_role("button", name="Edit")).to_have_count(0)
        vp.goto(seeded.project_path + "/dashboards")
        expect(vp.get_by_role("table", name="Dashboards")).to_contain_text("Blast radius")
        expect(vp.get_by_role("button", name="New dashboard")).to_have_count(0)
        shot(vp, "23-viewer-dashboards")
        csrf = vp.evaluate("fetch('/api/me').then(r => r.json()).then(m => m.csrf_token)")
        refused = vp.request.post("/v1/project", data={"name": "nope"}, headers={"x-csrf-token": csrf})
        assert refused.status == 403 and "member" in refused.json()["error"]["message"]

        # the admin makes the viewer a member: the viewer's next page load shows it
        page.reload()
        page.get_by_label(f"Role of {viewer}").select_option("member")
        expect(page.get_by_label(f"Role of {viewer}")).to_have_value("member")
        reload_until(
            vp, lambda: expect(vp.get_by_label("Signed in as")).to_contain_text("member", timeout=2000)
        )
        expect(vp.get_by_role("button", name="New dashboard")).to_be_visible()

        # removing them ends their session
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name=f"Remove {viewer}").click()
        expect(members).not_to_contain_text(viewer)
        shot(page, "24-members-after-remove")
        reload_until(vp, lambda: expect(vp).to_have_url(re.compile(r"/app/login"), timeout=2000))
    finally:
        other.close()
