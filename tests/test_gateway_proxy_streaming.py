"""Distributed mode: the gateway's forwarding (runtime/proxy.py) passes server-sent events
through as they come (model gateway and invoke streams), and other answers whole."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from loopline.common.auth import INTERNAL_TOKEN_HEADER, PRINCIPAL_HEADER, Principal
from loopline.common.service import ServiceDef
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from loopline.runtime.proxy import install_proxy
from tests.support.threaded_server import ThreadedServer


def upstream_app(release: threading.Event, seen: dict[str, Any]) -> Starlette:
    async def stream(request: Request) -> StreamingResponse:
        seen["principal"] = request.headers.get(PRINCIPAL_HEADER)

        async def events() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            # the second event is sent only once the client has read the first through the gateway
            seen["released"] = await _wait(release)
            yield b"data: second\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def plain(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "q": request.query_params.get("q")}, status_code=201)

    async def public(request: Request) -> JSONResponse:
        return JSONResponse(
            {k: request.headers.get(k) for k in (PRINCIPAL_HEADER, INTERNAL_TOKEN_HEADER, "x-forwarded-host")}
        )

    async def late(request: Request) -> JSONResponse:
        import asyncio

        await asyncio.sleep(1.5)  # silent for longer than the gateway's read timeout of the test
        return JSONResponse({"late": request.url.path})

    return Starlette(
        routes=[
            Route("/svc/stream", stream, methods=["POST"]),
            Route("/svc/plain", plain),
            Route("/svc/public", public, methods=["PUT"]),
            Route("/svc/slow", late, methods=["POST"]),
            Route("/svc/late", late, methods=["POST"]),
        ]
    )


async def _wait(event: threading.Event) -> bool:
    import asyncio

    return await asyncio.to_thread(event.wait, 20)


def gateway_app(upstream_url: str, read_timeout_s: float = 300.0) -> FastAPI:
    app = FastAPI()
    settings = SimpleNamespace(service_urls={"svc": upstream_url}, internal_token="t")
    svc = ServiceDef(name="svc", routes=(r"^/svc/",), slow_routes=(r"^/svc/slow$",))
    install_proxy(app, SimpleNamespace(settings=settings), [svc], read_timeout_s=read_timeout_s)  # type: ignore[arg-type]

    @app.middleware("http")
    async def principal(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path != "/svc/public":  # the auth middleware lets public routes through bare
            request.state.principal = Principal(org_id="org-1")
        return await call_next(request)

    return app


def test_server_sent_events_pass_through_as_they_come() -> None:
    release = threading.Event()
    seen: dict[str, Any] = {}
    with (
        ThreadedServer(upstream_app(release, seen), name="upstream") as up,
        ThreadedServer(gateway_app(up.url), name="gw") as gw,
    ):
        with httpx.stream("POST", f"{gw.url}/svc/stream", content=b"{}", timeout=30) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            assert next(lines) == "data: first"
            release.set()
            rest = [line for line in lines if line]
        assert rest == ["data: second"]
        assert seen["released"] is True  # the first event reached us before the upstream finished
        assert '"org_id":"org-1"' in seen["principal"]
        plain = httpx.get(f"{gw.url}/svc/plain", params={"q": "x"}, timeout=30)
        assert plain.status_code == 201 and plain.json() == {"ok": True, "q": "x"}


def test_public_routes_are_forwarded_without_a_principal_and_with_the_clients_host() -> None:
    with (
        ThreadedServer(upstream_app(threading.Event(), {}), name="upstream") as up,
        ThreadedServer(gateway_app(up.url), name="gw") as gw,
    ):
        # a client's own principal / token headers never pass for the gateway's
        sent = {PRINCIPAL_HEADER: '{"org_id": "forged"}', INTERNAL_TOKEN_HEADER: "guess"}
        r = httpx.put(f"{gw.url}/svc/public", content=b"zip", headers=sent, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == {
            PRINCIPAL_HEADER: None,
            INTERNAL_TOKEN_HEADER: None,
            "x-forwarded-host": gw.url.split("://", 1)[1],
        }


def test_slow_routes_are_forwarded_without_a_read_timeout() -> None:
    """A non-stream `/v1/eval` answers when the eval is done: the gateway waits for it however
    long that takes (here past a 0.5 s read timeout), while other routes keep the timeout."""
    with (
        ThreadedServer(upstream_app(threading.Event(), {}), name="upstream") as up,
        ThreadedServer(gateway_app(up.url, read_timeout_s=0.5), name="gw") as gw,
    ):
        r = httpx.post(f"{gw.url}/svc/slow", content=b"{}", timeout=30)
        assert r.status_code == 200 and r.json() == {"late": "/svc/slow"}, r.text
        r = httpx.post(f"{gw.url}/svc/late", content=b"{}", timeout=30)
        assert r.status_code == 503 and "upstream" in r.text, r.text
