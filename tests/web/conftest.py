"""Browser tests of the web app: a built app (`./dev web`), a real `loopline up` seeded through
the braintrust SDK, and Debian's Chromium driven headless by Playwright.

What is missing is brought up here (Node packages and the build, Chromium via apt-get); when that
cannot be done the tests skip with the reason, except under `CI=true`, where they fail.
Screenshots of every page go to `.cache/web-artifacts/` (or `LOOPLINE_TEST_ARTIFACTS`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import BrowserUnavailable, ensure_chromium, launch_args
from tests.support.running import RunningLoopline, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("LOOPLINE_TEST_ARTIFACTS", ROOT / ".cache" / "web-artifacts"))


def unavailable(what: str, reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required in CI but unavailable: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The built app, (re)built by `./dev web` when its sources changed."""
    done = subprocess.run(
        [str(ROOT / "dev"), "web"], capture_output=True, text=True, timeout=900, check=False
    )
    output = (done.stderr + done.stdout).strip()
    if done.returncode != 0 and ("not installed" in output or "too old" in output):
        unavailable("Node.js 20.19+ and npm (to build the web app)", output[-1500:])
    if done.returncode != 0:  # Node is there and the app does not build: that is a failure
        pytest.fail(f"the web app does not build:\n{output[-4000:]}")
    return ROOT / "web" / "dist"


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        return ensure_chromium()
    except BrowserUnavailable as exc:
        unavailable("Chromium", str(exc))
        raise


@dataclass
class Seeded:
    server: RunningLoopline
    project: str
    project_id: str
    root_span_ids: list[str]

    @property
    def project_path(self) -> str:
        return f"/app/default/p/{self.project}"


def seed(server: RunningLoopline, project: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "BRAINTRUST_API_URL": server.url,
        "BRAINTRUST_APP_URL": server.url,
        "BRAINTRUST_API_KEY": server.api_key,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("BRAINTRUST_ORG_NAME", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.web.seed", project],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}\n{server.log_text()}"
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.fixture(scope="session")
def seeded(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    server = RunningLoopline(
        tmp_path_factory.mktemp("web") / "data", free_port(), extra_env={"LOOPLINE_WEB_DIR": str(web_dist)}
    ).start()
    try:
        project = f"web-{uuid.uuid4().hex[:6]}"
        out = seed(server, project)
        r = httpx.get(f"{server.url}/v1/project", params={"project_name": project}, headers=server.headers)
        yield Seeded(server, project, r.json()["objects"][0]["id"], out["root_span_ids"])
    finally:
        assert server.terminate() == 0, server.log_text()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """Per module: Playwright's sync API keeps an event loop running on this thread while it is
    open, and async tests of other modules (pytest-asyncio) cannot start their own beside it."""
    from playwright.sync_api import expect, sync_playwright

    # assertions wait as long as actions do: a shared 2-core machine can take seconds per request
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=launch_args())
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, seeded: Seeded, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no session) on the seeded server; a screenshot when a test fails."""
    context = browser.new_context(base_url=seeded.server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack}"))
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        shot(pg, f"FAILED-{request.node.name}")
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_in(page: Any, seeded: Seeded, path: str = "/") -> None:
    """Sign in with the server's API key from the sign-in page that `path` leads to."""
    sign_in_as(page, seeded.server.api_key, path)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


# the API as the server's owner key, keys of other roles, and signing in with one (several modules)


@pytest.fixture
def api(seeded: Seeded) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded.server.url, headers=seeded.server.headers, timeout=60) as c:
        yield c


def key_of_role(api: httpx.Client, role: str) -> str:
    r = api.post("/v1/api_key", json={"name": f"web-{role}-{uuid.uuid4().hex[:6]}", "role": role})
    assert r.status_code == 200, r.text
    key = str(r.json()["key"])
    me = httpx.get(f"{api.base_url}/api/me", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
    assert me["role"] == role, me
    return key


def sign_in_as(page: Any, key: str, path: str) -> None:
    """Sign in with `key` from the sign-in page that `path` leads to."""
    from playwright.sync_api import expect

    page.goto(path)
    expect(page).to_have_url(re.compile(r"/app/login"))
    page.get_by_role("tab", name="API key").click()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def new_project(api: httpx.Client, prefix: str) -> tuple[str, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    r = api.post("/v1/project", json={"name": name})
    assert r.status_code == 200, r.text
    return name, str(r.json()["id"])


def ai_secret(api: httpx.Client, name: str, kind: str, models: list[str]) -> str:
    """An org AI secret of type `kind` serving `models` at an address nothing listens on (never
    called); its id, for deleting it after."""
    r = api.post(
        "/v1/ai_secret",
        json={
            "name": name,
            "type": kind,
            "secret": f"sk-{kind}-" + "x" * 24,
            "metadata": {"api_base": "http://127.0.0.1:9/v1", "models": models},
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
