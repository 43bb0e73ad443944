"""Gateway authentication: API key → Principal on request.state (401 with a clear message)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from loopline.common.http import JSONResponse, error_body
from loopline.gateway.keys import KeyStore

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/version", "/", "/docs", "/openapi.json"})
# signed blob URLs authorise themselves (the SDK calls them without its API key)
PUBLIC_PREFIXES = ("/blob/",)


def extract_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    for h in ("x-bt-api-key", "x-api-key"):
        v = request.headers.get(h)
        if v:
            return v.strip()
    return None


def install_auth(app: FastAPI, keys: Callable[[], KeyStore]) -> None:
    @app.middleware("http")
    async def _auth(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or request.method == "OPTIONS":
            return await call_next(request)
        key = extract_key(request)
        if key is None:
            return JSONResponse(
                error_body(401, "missing API key: send 'Authorization: Bearer <key>'"), status_code=401
            )
        principal = await keys().authenticate(key)
        if principal is None:
            return JSONResponse(error_body(401, "invalid or revoked API key"), status_code=401)
        request.state.principal = principal
        return await call_next(request)
