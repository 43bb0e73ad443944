"""The gateway serves the built web app at `/`: index.html for the app's routes (no-cache),
hashed assets (immutable), 304s, a helpful page without a build; API routes are never shadowed,
embedded and distributed alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from loopline.gateway.web import ASSET_CACHE, INDEX_CACHE, find_web_dir, is_client_route

from tests.support.app import InProcess, in_process
from tests.test_route_table import served_paths

INDEX = '<!doctype html><html><body><div id="root"></div><script src="/assets/index-abc123.js"></script></body></html>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text(INDEX)
    (d / "assets" / "index-abc123.js").write_text("console.log('app')")
    (d / "favicon.svg").write_text("<svg/>")
    (d / ".loopline-build-stamp").write_text("")
    return d


@pytest.fixture(params=["embedded", "distributed"])
async def ll(
    request: pytest.FixtureRequest, chdb_dsn: str, tmp_path: Path, dist: Path
) -> AsyncIterator[InProcess]:
    if request.param == "embedded":
        async with in_process(chdb_dsn, tmp_path, web_dir=dist) as p:
            yield p
    else:  # the gateway alone, forwarding the other services' routes
        urls = {"ingest": "http://127.0.0.1:9", "query": "http://127.0.0.1:9"}
        async with in_process(
            chdb_dsn, tmp_path, services=("gateway",), web_dir=dist, service_urls=urls
        ) as p:
            yield p


async def test_app_routes_answer_index_html_without_a_key(ll: InProcess) -> None:
    for path in (
        "/",
        "/app",
        "/app/login",
        "/app/default/p/demo/logs",
        "/app/default/p/x/experiments/e%20f?r=1",
    ):
        r = await ll.client.get(path)
        assert r.status_code == 200, path
        assert r.text == INDEX
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == INDEX_CACHE
        assert r.headers["x-frame-options"] == "DENY"
    head = await ll.client.head("/app/default")
    assert head.status_code == 200 and head.content == b""


async def test_assets_are_immutable_and_revalidate(ll: InProcess) -> None:
    r = await ll.client.get("/assets/index-abc123.js")
    assert r.status_code == 200 and r.text == "console.log('app')"
    assert r.headers["cache-control"] == ASSET_CACHE
    again = await ll.client.get("/assets/index-abc123.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.headers["cache-control"] == ASSET_CACHE
    index = await ll.client.get("/")
    same = await ll.client.get("/app/x", headers={"if-none-match": index.headers["etag"]})
    assert same.status_code == 304 and same.headers["cache-control"] == INDEX_CACHE
    icon = await ll.client.get("/favicon.svg")
    assert icon.status_code == 200 and "max-age=3600" in icon.headers["cache-control"]


async def test_what_is_not_the_app_is_left_to_the_api(ll: InProcess) -> None:
    missing = await ll.client.get("/assets/nope.js")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Not Found"
    for path in (
        "/assets/../../etc/passwd",
        "/assets/%2e%2e/%2e%2e/etc/passwd",
        "/assets/..%2f..%2fpyproject.toml",
    ):
        r = await ll.client.get(path)
        assert r.status_code in (401, 404) and "root:" not in r.text and "[project]" not in r.text
    # dot files of the build are not published; unknown paths stay the API's (401 without a key)
    assert (await ll.client.get("/.loopline-build-stamp")).status_code == 401
    assert (await ll.client.get("/v1/project")).status_code == 401
    listed = await ll.client.get("/v1/project", headers=ll.headers)
    assert listed.status_code == 200 and "objects" in listed.json()
    assert (await ll.client.get("/healthz")).status_code == 200
    # other methods on app paths are not the app's
    assert (await ll.client.post("/app/login", json={})).status_code in (401, 404, 405)


async def test_without_a_build_the_page_says_how_to_build(chdb_dsn: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    async with in_process(chdb_dsn, tmp_path, web_dir=empty) as p:
        r = await p.client.get("/app/default")
        assert r.status_code == 503 and "npm ci" in r.text and "LOOPLINE_WEB_DIR" in r.text
        assert (await p.client.get("/v1/project", headers=p.headers)).status_code == 200


def test_no_api_route_is_under_the_app_paths(tmp_path: Path) -> None:
    clashes = [
        f"{svc}: {p}"
        for svc, paths in served_paths(tmp_path).items()
        for p in paths
        if is_client_route(p) or p.startswith("/assets/")
    ]
    assert not clashes


def test_find_web_dir(dist: Path, tmp_path: Path) -> None:
    assert find_web_dir(dist) == dist
    assert find_web_dir(tmp_path / "nowhere") is None
