"""Distributed mode: the gateway forwards service routes to their URLs with the principal."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from loopline.common.auth import INTERNAL_TOKEN_HEADER, PRINCIPAL_HEADER, Principal
from loopline.common.http import JSONResponse, error_body
from loopline.common.service import ServiceContext, ServiceDef
from starlette.background import BackgroundTask

_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


def install_proxy(
    app: FastAPI, ctx: ServiceContext, remote: list[ServiceDef], *, read_timeout_s: float = 300.0
) -> None:
    table: list[tuple[re.Pattern[str], str]] = []
    slow: list[re.Pattern[str]] = []
    for d in remote:
        url = ctx.settings.service_urls[d.name].rstrip("/")
        table.extend((re.compile(pattern), url) for pattern in d.routes)
        slow.extend(re.compile(pattern) for pattern in d.slow_routes)
    # reads may pause long: a model call behind the evaluator's gateway waits for its provider
    # (timeouts and retries included) before the first byte
    client = httpx.AsyncClient(timeout=httpx.Timeout(read_timeout_s, connect=5.0))
    # a slow route's answer waits for its work (an eval run to its end): no read timeout; the
    # work's own limits and the client's end it
    unbounded = httpx.Timeout(None, connect=5.0)

    @app.middleware("http")
    async def _proxy(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        target = next((url for pat, url in table if pat.match(path)), None)
        principal = getattr(request.state, "principal", None)
        if target is None:
            return await call_next(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        # the URL the client reached, for links a service hands back (signed upload URLs)
        headers["x-forwarded-host"] = request.headers.get("host", request.url.netloc)
        headers["x-forwarded-proto"] = request.url.scheme
        if isinstance(principal, Principal):
            headers[PRINCIPAL_HEADER] = principal.model_dump_json()
            headers[INTERNAL_TOKEN_HEADER] = ctx.settings.internal_token
        else:  # a public route (auth ran first and let only those through): no principal
            headers.pop(PRINCIPAL_HEADER, None)
            headers.pop(INTERNAL_TOKEN_HEADER, None)
        try:
            upstream = await client.send(
                client.build_request(
                    request.method,
                    target + path,
                    params=list(request.query_params.multi_items()),
                    content=await request.body(),
                    headers=headers,
                    timeout=unbounded if any(p.match(path) for p in slow) else httpx.USE_CLIENT_DEFAULT,
                ),
                stream=True,
            )
        except httpx.HTTPError as exc:
            return JSONResponse(
                error_body(503, f"upstream service unavailable: {exc}"),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        out_headers = {
            k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS | {"content-encoding"}
        }
        if upstream.headers.get("content-type", "").startswith("text/event-stream"):
            # server-sent events (model gateway streams, invoke streams) pass through as they come
            return StreamingResponse(
                upstream.aiter_raw(),
                status_code=upstream.status_code,
                headers=out_headers,
                background=BackgroundTask(upstream.aclose),
            )
        try:
            content = await upstream.aread()
        except httpx.HTTPError as exc:
            return JSONResponse(
                error_body(503, f"upstream service failed mid-answer: {exc}"),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        finally:
            await upstream.aclose()
        return Response(content, status_code=upstream.status_code, headers=out_headers)
