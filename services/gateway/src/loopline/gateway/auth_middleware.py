"""Gateway authentication and authorization: every request → a Principal on request.state, then
its route's least role (`policy.POLICY`) checked against the principal's role.

A principal comes from, in order: a service of this process calling in-process; another service
(distributed mode, `HttpControlPlane`) sending the principal it acts for in the internal headers
with the internal token; an API key (`Authorization: Bearer`, `x-bt-api-key`, `x-api-key`); a
browser session cookie (`users.SESSION_COOKIE`). Cookie-authenticated requests with an unsafe
method must send the session's CSRF token in `x-csrf-token` and, when they send an `Origin`, come
from this host; requests with a key are exempt (a browser never adds a key by itself).
Refusals are JSON: 401 (who are you), 403 (not allowed, or CSRF)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request, Response
from loopline.common.auth import INTERNAL_TOKEN_HEADER, Principal, principal_from_internal_headers
from loopline.common.http import JSONResponse, error_body
from loopline.common.service_calls import SCOPE_PRINCIPAL
from loopline.gateway.policy import access_for, allows
from loopline.gateway.state import State
from loopline.gateway.users import SESSION_COOKIE, UserStore
from starlette.types import ASGIApp, Receive, Scope, Send

# the web app's files and the API's documentation (not API routes: no policy entry)
PUBLIC_PATHS = frozenset({"/", "/docs", "/openapi.json"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def extract_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    for h in ("x-bt-api-key", "x-api-key"):
        v = request.headers.get(h)
        if v:
            return v.strip()
    return None


def session_token(request: Request) -> str | None:
    raw = request.headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header: as if there were none
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def same_origin(request: Request) -> bool:
    """No `Origin` (not a cross-site browser request), or one naming this host."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def _refuse(status: int, message: str) -> Response:
    return JSONResponse(error_body(status, message), status_code=status)


class AuthMiddleware:
    """Principal → `request.state.principal` and the route's role check, or a 401/403 JSON error.
    Plain ASGI (no per-request task and stream as with Starlette's BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, state: Callable[[], State], internal_token: str = "") -> None:
        self.app = app
        self.state = state
        self.internal_token = internal_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        access = access_for(method, path)
        if path in PUBLIC_PATHS or method == "OPTIONS" or access == "public":
            await self.app(scope, receive, send)
            return
        principal = await self._principal(Request(scope))
        if isinstance(principal, Response):
            await principal(scope, receive, send)
            return
        if not allows(principal.role, access):
            refusal = _refuse(
                403, f"{method} {path} needs the {access} role; this caller is a {principal.role}"
            )
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})
        scope["state"]["principal"] = principal  # request.state.principal, seen by the routes
        await self.app(scope, receive, send)

    async def _principal(self, request: Request) -> Principal | Response:
        state = request.scope.get("state")
        if isinstance(state, dict) and isinstance(state.get(SCOPE_PRINCIPAL), Principal):
            # a service of this process calling in-process as a principal it resolved (ASGI
            # scope state cannot be set from outside the process: `common.service_calls`)
            p: Principal = state[SCOPE_PRINCIPAL]
            return p
        if INTERNAL_TOKEN_HEADER in request.headers:  # a service acting for a principal
            try:
                internal = principal_from_internal_headers(request, self.internal_token)
            except HTTPException as exc:
                return _refuse(401, str(exc.detail))
            if internal is not None:
                return internal
        key = extract_key(request)
        if key is not None:
            found = await self.state().keys.authenticate(key)
            return found if found is not None else _refuse(401, "invalid or revoked API key")
        token = session_token(request)
        if token is None:
            return _refuse(
                401, "missing API key: send 'Authorization: Bearer <key>' (or sign in: POST /api/login)"
            )
        return await self._session_principal(request, token, self.state().users)

    async def _session_principal(
        self, request: Request, token: str, users: UserStore
    ) -> Principal | Response:
        session = await users.session(token)
        user = await users.cached_user(session.org_id, session.user_id) if session is not None else None
        if session is None or user is None:
            return _refuse(401, "your session has expired or ended: sign in again (POST /api/login)")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not same_origin(request) or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                return _refuse(
                    403,
                    f"CSRF check failed: send the session's token (from /api/login or /api/me) in '{CSRF_HEADER}'",
                )
        return Principal(
            org_id=user.org_id,
            org_name=await self.state().keys.org_name(user.org_id) or "",
            user_id=user.id,
            role=user.role,
            session_id=session.id,
        )


def install_auth(app: FastAPI, state: Callable[[], State], internal_token: str = "") -> None:
    app.add_middleware(AuthMiddleware, state=state, internal_token=internal_token)
