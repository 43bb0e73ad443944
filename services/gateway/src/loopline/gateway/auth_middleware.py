"""Gateway authentication: API key → Principal on request.state (401 with a clear message).

Other services calling the gateway's API (distributed mode, `HttpControlPlane`) send the
principal they act for in the internal headers with the internal token instead of a key."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, HTTPException, Request, Response
from loopline.common.auth import INTERNAL_TOKEN_HEADER, Principal, principal_from_internal_headers
from loopline.common.http import JSONResponse, error_body
from loopline.common.service_calls import SCOPE_PRINCIPAL
from loopline.gateway.keys import KeyStore
from starlette.types import ASGIApp, Receive, Scope, Send

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/version", "/", "/docs", "/openapi.json"})
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


class AuthMiddleware:
    """API key → `request.state.principal`, or a 401 JSON error. Plain ASGI (no per-request task
    and stream as with Starlette's BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, keys: Callable[[], KeyStore], internal_token: str = "") -> None:
        self.app = app
        self.keys = keys
        self.internal_token = internal_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        state = scope.get("state")
        if isinstance(state, dict) and isinstance(state.get(SCOPE_PRINCIPAL), Principal):
            # a service of this process calling in-process as a principal it resolved (ASGI
            # scope state cannot be set from outside the process: `common.service_calls`)
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if INTERNAL_TOKEN_HEADER in request.headers:  # a service acting for a principal
            try:
                internal = principal_from_internal_headers(request, self.internal_token)
            except HTTPException as exc:
                response: Response = JSONResponse(error_body(401, str(exc.detail)), status_code=401)
                await response(scope, receive, send)
                return
            if internal is not None:
                request.state.principal = internal
                await self.app(scope, receive, send)
                return
        key = extract_key(request)
        if key is None:
            response = JSONResponse(
                error_body(401, "missing API key: send 'Authorization: Bearer <key>'"), status_code=401
            )
            await response(scope, receive, send)
            return
        principal = await self.keys().authenticate(key)
        if principal is None:
            response = JSONResponse(error_body(401, "invalid or revoked API key"), status_code=401)
            await response(scope, receive, send)
            return
        request.state.principal = principal  # lives in scope["state"], seen by the routes
        await self.app(scope, receive, send)


def install_auth(app: FastAPI, keys: Callable[[], KeyStore], internal_token: str = "") -> None:
    app.add_middleware(AuthMiddleware, keys=keys, internal_token=internal_token)
