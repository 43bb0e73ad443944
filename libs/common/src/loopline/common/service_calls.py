"""Calling another service's HTTP API as a principal, in-process or over HTTP.

A service that acts for its caller on other services (the loop agent runs BTQL on the query
service, creates datasets on the gateway, inserts rows through ingest) does it through the other
service's public API, as that caller and never with more rights. `ServiceCalls` is that one
question; the runtime's choice decides how it travels:

- `InProcessServiceCalls(app)`: the app of this process, through ASGI (no socket). The principal
  is handed over in the ASGI scope's state, which only in-process callers can set; the gateway's
  authentication accepts it as already resolved.
- `HttpServiceCalls(url, internal_token)`: the gateway's URL (distributed mode), with the
  principal and the internal token in the internal headers, as `HttpControlPlane` does.

Both answer every status as a `ServiceAnswer`; only "could not reach it" raises
(`ServiceUnreachable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson
from loopline.common.auth import INTERNAL_TOKEN_HEADER, PRINCIPAL_HEADER, Principal
from loopline.common.store import StoreError
from starlette.types import ASGIApp, Receive, Scope, Send

#: the key of the ASGI scope state holding a principal resolved in-process (see `AuthMiddleware`)
SCOPE_PRINCIPAL = "principal"


@dataclass(frozen=True)
class ServiceAnswer:
    status: int
    body: Any  # the decoded JSON body (None when empty or not JSON)
    text: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_message(self) -> str:
        """The message of an error body (`{"error": {"message"}}`, `{"Message"}`), else the text."""
        b = self.body
        if isinstance(b, dict):
            err = b.get("error")
            if isinstance(err, dict) and err.get("message"):
                return str(err["message"])
            if isinstance(err, str):
                return err
            if b.get("Message"):
                return str(b["Message"])
        return self.text[:500]


class ServiceUnreachable(StoreError):
    """The service could not be reached or did not answer in time (HTTP 503 for our caller)."""


class ServiceCalls(Protocol):
    async def call(
        self,
        principal: Principal,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout_s: float | None = None,
    ) -> ServiceAnswer:
        """`method path` with a JSON `body`, as `principal`. Raises only `ServiceUnreachable`."""
        ...


def _answer(r: httpx.Response) -> ServiceAnswer:
    try:
        body = orjson.loads(r.content) if r.content else None
    except orjson.JSONDecodeError:
        body = None
    return ServiceAnswer(r.status_code, body, r.text if body is None else "")


class _Calls:
    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None, timeout_s: float) -> None:
        self.base = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base, transport=transport, timeout=httpx.Timeout(timeout_s, connect=5.0)
        )

    def _headers(self, principal: Principal) -> dict[str, str]:
        return {}

    def principal_headers(self, principal: Principal) -> dict[str, str]:
        """The headers that carry `principal` on this way of calling (for clients of other kinds
        sent the same way, e.g. a model SDK pointed at the gateway's `/v1/proxy`)."""
        return self._headers(principal)

    async def call(
        self,
        principal: Principal,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout_s: float | None = None,
    ) -> ServiceAnswer:
        headers = {"content-type": "application/json", **self._headers(principal)}
        extensions = {"timeout": httpx.Timeout(timeout_s).as_dict()} if timeout_s else None
        try:
            r = await self._client.request(
                method,
                path,
                headers=headers,
                content=None if body is None else orjson.dumps(body),
                extensions=extensions,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"{method} {path} at {self.base} failed: {exc}") from exc
        return _answer(r)

    async def close(self) -> None:
        await self._client.aclose()


class HttpServiceCalls(_Calls):
    """`ServiceCalls` through the gateway's URL, with the internal headers."""

    def __init__(
        self,
        gateway_url: str,
        internal_token: str,
        *,
        timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(gateway_url, transport, timeout_s)
        self.internal_token = internal_token

    def _headers(self, principal: Principal) -> dict[str, str]:
        return {PRINCIPAL_HEADER: principal.model_dump_json(), INTERNAL_TOKEN_HEADER: self.internal_token}


class _WithPrincipal:
    """An ASGI app seen with the principal of the current call in its scope state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = dict(scope.get("headers") or [])
        principal = Principal.model_validate_json(raw[b"x-loopline-inprocess-principal"])
        scope = {
            **scope,
            "headers": [(k, v) for k, v in scope["headers"] if k != b"x-loopline-inprocess-principal"],
            "state": {**(scope.get("state") or {}), SCOPE_PRINCIPAL: principal},
        }
        await self.app(scope, receive, send)


class InProcessServiceCalls(_Calls):
    """`ServiceCalls` into this process's own app (every route of the process's services)."""

    def __init__(self, app: ASGIApp, *, timeout_s: float = 60.0) -> None:
        #: the app as these calls see it (the principal of `principal_headers` put in its scope)
        self.asgi: ASGIApp = _WithPrincipal(app)
        super().__init__("http://in-process", httpx.ASGITransport(self.asgi), timeout_s)

    def _headers(self, principal: Principal) -> dict[str, str]:
        # carried to `_WithPrincipal` (and removed there) inside this process only
        return {"x-loopline-inprocess-principal": principal.model_dump_json()}
