"""HTTP plumbing shared by services: request ids, access logs, the error table, health routes."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from loopline.common.errors import (
    Busy,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Problem,
    ServiceError,
    TooLarge,
    Unavailable,
)
from loopline.common.logging import get_logger
from loopline.common.metrics import CONTENT_TYPE, UNMATCHED_ROUTE, exposition, observe_http
from loopline.common.metrics import PATH as METRICS_PATH
from loopline.common.rows import RowValidationError
from loopline.common.store import StoreError, StoreQueryError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = get_logger("loopline.access")


class JSONResponse(Response):
    """JSON response rendered with orjson (the hot-path serializer)."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


log = get_logger(__name__)


def error_body(status: int, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"status": status, "message": message, **extra}}


_INTERNAL_ERROR: Final = orjson.dumps(error_body(500, "internal error; see the server log"))


class AccessLogMiddleware:
    """Request id (`x-request-id`, echoed), trace id from `traceparent`, one access-log line per
    request, and the error boundary of the app. Plain ASGI: Starlette's BaseHTTPMiddleware costs a
    task and a stream per request.

    The boundary: an exception that no handler turned into a response ends here as a JSON 500
    (or, if the response had already started, as a logged error) and is never re-raised.
    Starlette's own last-resort handler re-raises after answering, and uvicorn then closes the
    keep-alive connection, failing the requests pipelined behind it. A client that went away
    mid-request (`ClientDisconnect`) is logged, not answered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        traceparent = headers.get("traceparent", "")
        trace_id = traceparent.split("-")[1] if traceparent.count("-") >= 3 else None
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if trace_id:
            structlog.contextvars.bind_contextvars(trace_id=trace_id)
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            status = 499
            log.info("client disconnected before the request was read", path=scope["path"])
        except Exception:
            log.exception("unhandled error", path=scope["path"])
            if not started:
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
        finally:
            path = scope["path"]
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE  # a template
            observe_http(scope["method"], route, status, time.perf_counter() - start)
            if path not in ("/healthz", "/readyz", METRICS_PATH):
                client = scope.get("client")
                access_log.info(
                    "request",
                    method=scope["method"],
                    path=path,
                    status=status,
                    duration_ms=round((time.perf_counter() - start) * 1000, 2),
                    client=client[0] if client else None,
                )


def _message_body(exc: Any, status: int) -> object:
    return error_body(status, getattr(exc, "message", None) or str(exc), **getattr(exc, "where", {}))


def _retry_after_header(exc: Any) -> dict[str, str] | None:
    retry_after = getattr(exc, "retry_after", None)
    return None if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}


@dataclass(frozen=True)
class ErrorRule:
    """How one exception type is answered: its status (fixed, or read from the error), its body
    (default: `error_body(status, exc.message, **exc.where)`), its headers (default: Retry-After
    when the error has a `retry_after`), and an optional log line."""

    status: int | Callable[[Any], int]
    body: Callable[[Any, int], object] = _message_body
    headers: Callable[[Any], dict[str, str] | None] = _retry_after_header
    log: Callable[[Request, Any], None] | None = None

    def status_of(self, exc: Exception) -> int:
        return self.status if isinstance(self.status, int) else self.status(exc)


class ErrorTable:
    """Exception type → `ErrorRule`: how every error that reaches the HTTP edge is answered.

    An error is answered by the rule of the nearest class in its MRO, so a subclass inherits its
    base's answer unless it has a row of its own. `install_http_basics` registers one handler for
    every type in the app's table (the common rows below plus each service's `ServiceDef.errors`).
    """

    def __init__(self, rules: Mapping[type[Exception], ErrorRule] | None = None) -> None:
        self._rules: dict[type[Exception], ErrorRule] = dict(rules or {})

    @property
    def types(self) -> tuple[type[Exception], ...]:
        return tuple(self._rules)

    def merged(self, other: ErrorTable) -> ErrorTable:
        """Both tables' rows; a type both answer differently is a programming error."""
        for t, r in other._rules.items():
            if t in self._rules and self._rules[t] is not r:
                raise ValueError(f"two error rules for {t.__qualname__}")
        return ErrorTable({**self._rules, **other._rules})

    def rule(self, exc: Exception) -> ErrorRule | None:
        for cls in type(exc).__mro__:
            found = self._rules.get(cls)
            if found is not None:
                return found
        return None

    def status_of(self, exc: Exception) -> int:
        """The HTTP status `exc` is answered with (500 if no row covers it)."""
        r = self.rule(exc)
        return 500 if r is None else r.status_of(exc)

    def response(self, request: Request, exc: Exception) -> Response:
        r = self.rule(exc)
        if r is None:  # registered handlers only see covered types; be safe anyway
            log.error("no error rule", path=request.url.path, error=type(exc).__qualname__)
            return JSONResponse(error_body(500, "internal error; see the server log"), status_code=500)
        if r.log is not None:
            r.log(request, exc)
        status = r.status_of(exc)
        return JSONResponse(r.body(exc, status), status_code=status, headers=r.headers(exc))


def _log_store_refused(request: Request, exc: Any) -> None:
    log.warning("store refused a statement", path=request.url.path, error=str(exc)[:500])


def _log_store_down(request: Request, exc: Any) -> None:
    log.warning("store error", path=request.url.path, error=str(exc)[:300])


def _store_refused_body(exc: Any, status: int) -> object:
    # the store is up and refused this statement for what it holds or was given: retrying
    # cannot help, and "unavailable" would be a lie (issue 10, defect 5)
    return error_body(status, f"the store could not answer this request: {store_reason(exc)}", code=exc.code)


def _store_down_body(exc: Any, status: int) -> object:
    return error_body(status, "the store is unavailable; nothing was lost — retry shortly")


def _row_refused_body(exc: Any, status: int) -> object:
    return error_body(status, str(exc), row_index=exc.index, field=exc.path)


#: The rows every app has: `ServiceError` (the status it names), the domain problem kinds of
#: `loopline.common.errors`, the row contract's refusal, and the store's errors.
COMMON_ERRORS: Final = ErrorTable(
    {
        ServiceError: ErrorRule(status=lambda e: e.status),
        Problem: ErrorRule(400),
        Invalid: ErrorRule(400),
        Forbidden: ErrorRule(403),
        NotFound: ErrorRule(404),
        Conflict: ErrorRule(409),
        TooLarge: ErrorRule(413),
        Busy: ErrorRule(429),
        Unavailable: ErrorRule(503),
        RowValidationError: ErrorRule(400, body=_row_refused_body),
        StoreQueryError: ErrorRule(422, body=_store_refused_body, log=_log_store_refused),
        StoreError: ErrorRule(
            503, body=_store_down_body, headers=lambda e: {"Retry-After": "1"}, log=_log_store_down
        ),
    }
)


def install_http_basics(app: FastAPI, errors: ErrorTable | None = None) -> None:
    """Request-id/access-log middleware and uniform JSON errors (never an HTML 500): framework
    errors, then every type of `COMMON_ERRORS` + `errors`, answered by one handler."""

    app.add_middleware(AccessLogMiddleware)
    table = COMMON_ERRORS if errors is None else COMMON_ERRORS.merged(errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_exc(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.detail, dict):
            body: dict[str, object] = {"error": {"status": exc.status_code, **exc.detail}}
        else:
            body = error_body(exc.status_code, str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"location": "", "message": "invalid request"}
        msg = f"{first['location']}: {first['message']}"
        return JSONResponse(error_body(400, msg, details=errors), status_code=400)

    async def _from_table(request: Request, exc: Exception) -> Response:
        return table.response(request, exc)

    for exc_type in table.types:
        app.add_exception_handler(exc_type, _from_table)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(error_body(500, "internal error; see the server log"), status_code=500)


def store_reason(exc: StoreError, limit: int = 300) -> str:
    """The store's own reason, without the statement it quotes (`In scope SELECT ...`) and the
    driver's wrapping, cut to `limit` characters."""
    text = str(exc)
    start = text.find("DB::Exception: ")
    if start >= 0:
        text = text[start + len("DB::Exception: ") :]
    for marker in (" In scope ", ". Stack trace", " (version "):
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut]
    return text.strip()[:limit]


def health_router(ready: Callable[[], Awaitable[dict[str, bool]]]) -> APIRouter:
    """`/healthz` answers while the process lives; `/readyz` checks the bus and store."""
    router = APIRouter()

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
        )

    return router


def metrics_router() -> APIRouter:
    """`/metrics`: this process's Loopline metrics in the Prometheus text format (metrics.py)."""
    router = APIRouter()

    @router.get(METRICS_PATH, include_in_schema=False)
    async def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE)

    return router
