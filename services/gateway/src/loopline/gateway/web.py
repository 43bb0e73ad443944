"""The web app (`web/`, built by Vite into index.html + hashed `assets/`) served by the gateway.

`GET /` and every client route under `/app/` answer `index.html` (`Cache-Control: no-cache`, so a
new build is seen on the next load; its ETag makes that a 304 when unchanged); `/assets/*` are
content-hashed file names, cached for a year as immutable; the few other files at the top of the
build (favicon, ...) are cached briefly. Nothing else is touched: API routes never live under
these paths (tests/test_route_table.py checks), and no API key is needed to load the app itself —
the app then calls the API with the user's credentials.

The middleware runs before authentication. Where the build is: `LOOPLINE_WEB_DIR`, else `web/dist`
of the source checkout (development, `./dev up` builds it), else `<prefix>/share/loopline/web`
(the Docker image copies it there). Without a build, `/` and `/app/*` answer a page that says how
to build it; the API works either way.
"""

from __future__ import annotations

import html
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from loopline.common.http import JSONResponse, error_body
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

APP_PREFIX = "/app"
ASSETS_PREFIX = "/assets/"
INDEX_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"
OTHER_CACHE = "public, max-age=3600"


def is_client_route(path: str) -> bool:
    """Paths the web app's router owns: `/` and everything under `/app`."""
    return path == "/" or path == APP_PREFIX or path.startswith(APP_PREFIX + "/")


def find_web_dir(configured: Path | None = None) -> Path | None:
    """The directory holding the built app (its index.html), or None when there is no build."""
    if configured is not None:
        return configured if (configured / "index.html").is_file() else None
    candidates = [parent / "web" / "dist" for parent in Path(__file__).resolve().parents]
    candidates.append(Path(sys.prefix) / "share" / "loopline" / "web")
    return next((c for c in candidates if (c / "index.html").is_file()), None)


NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>Loopline</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;color:#1f2937}}
code{{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}}</style></head><body>
<h1>Loopline is running; its web app is not built</h1>
<p>{reason}</p>
<p>Build it with Node.js 20.19+ and npm: <code>./dev up</code> builds it when its sources change,
or run <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code> and restart. A build elsewhere
can be named with <code>LOOPLINE_WEB_DIR</code>.</p>
<p>The API is available meanwhile: point the Braintrust SDK here with
<code>BRAINTRUST_API_URL</code> and your API key.</p></body></html>"""


class WebAppMiddleware:
    """Serves the built app for GET/HEAD of its paths; passes every other request through."""

    def __init__(self, app: ASGIApp, root: Path | None, configured: Path | None = None) -> None:
        self.app = app
        self.root = root
        self.configured = configured
        self.files = StaticFiles(directory=root) if root is not None else None
        self.top_files = (
            frozenset(
                "/" + p.name
                for p in root.iterdir()
                if p.is_file() and p.name != "index.html" and not p.name.startswith(".")
            )
            if root is not None
            else frozenset()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if is_client_route(path):
            await self._serve("/index.html", INDEX_CACHE, scope, receive, send)
        elif path.startswith(ASSETS_PREFIX):
            await self._serve(path, ASSET_CACHE, scope, receive, send)
        elif path in self.top_files:
            await self._serve(path, OTHER_CACHE, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve(self, path: str, cache: str, scope: Scope, receive: Receive, send: Send) -> None:
        if self.files is None:
            if path == "/index.html":
                reason = (
                    f"LOOPLINE_WEB_DIR={self.configured} holds no index.html."
                    if self.configured is not None
                    else "No build of web/ was found."
                )
                page = NOT_BUILT.format(reason=html.escape(reason))
                await HTMLResponse(page, status_code=503, headers={"Cache-Control": "no-store"})(
                    scope, receive, send
                )
            else:
                await _not_found(scope, receive, send)
            return

        async def with_cache(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers.append((b"cache-control", cache.encode()))
                if path == "/index.html":
                    # the app may not be framed by other sites (clickjacking)
                    headers.append((b"x-frame-options", b"DENY"))
                message["headers"] = headers
            await send(message)

        sub: MutableMapping[str, Any] = dict(scope)
        sub["path"] = path
        sub["root_path"] = ""
        try:
            await self.files(sub, receive, with_cache)
        except HTTPException as exc:  # outside FastAPI's handlers: render it the API's way
            await JSONResponse(error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code)(
                scope, receive, send
            )


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse(error_body(404, "Not Found"), status_code=404)(scope, receive, send)


def install_web(app: Any, configured: Path | None) -> Path | None:
    """Serve the web app in front of `app`'s other middleware; returns the build directory used."""
    root = find_web_dir(configured)
    app.add_middleware(WebAppMiddleware, root=root, configured=configured)
    return root
