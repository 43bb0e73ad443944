"""Builds the ASGI app for a set of services, with their context, states and lifecycle (the
composition root: it chooses each cross-service protocol's implementation, e.g. the control plane).

`loopline up` builds it with every service (embedded: in-process bus, chdb store);
`loopline serve a,b` with a subset (distributed). The gateway authenticates; in distributed mode
it forwards other services' routes to their configured URLs with the resolved principal.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from loopline.common.auth import principal_from_internal_headers
from loopline.common.bus import Bus
from loopline.common.bus.factory import bus_from_url
from loopline.common.bus.prefixed import PrefixedBus
from loopline.common.control_plane import ControlPlane, HttpControlPlane
from loopline.common.http import (
    ErrorTable,
    JSONResponse,
    error_body,
    health_router,
    install_http_basics,
    metrics_router,
)
from loopline.common.logging import get_logger
from loopline.common.service import ServiceContext, ServiceDef, ServiceStates, Worker
from loopline.common.service_calls import HttpServiceCalls, InProcessServiceCalls, ServiceCalls
from loopline.common.settings import Settings
from loopline.common.store import Store, apply_migrations
from loopline.common.topics import all_topics
from loopline.common.xact import XactIdGenerator
from loopline.gateway.auth_middleware import install_auth
from loopline.gateway.control_plane import LocalControlPlane
from loopline.gateway.settings import GatewaySettings
from loopline.gateway.state import State as GatewayState
from loopline.gateway.web import install_web

from loopline.runtime.memory import configure_malloc, periodic_trim
from loopline.runtime.proxy import install_proxy
from loopline.runtime.registry import all_migrations, service_def

log = get_logger("loopline.runtime")

#: called once every service started, with their states (e.g. to register the first API key)
OnReady = Callable[[ServiceContext, ServiceStates], Awaitable[None]]


def build_context(settings: Settings, services: tuple[str, ...], *, bus: Bus | None = None) -> ServiceContext:
    defs = [service_def(s) for s in services]
    for d in defs:  # a bad value in a section stops here, before anything starts (SettingsError)
        for section in d.sections:
            settings.section(section)
    needs_store = any(d.needs_store for d in defs)
    configure_malloc(
        mmap_threshold_bytes=settings.malloc_mmap_threshold_bytes, arena_max=settings.malloc_arena_max
    )
    store = (
        Store(
            settings.effective_store_dsn,
            settings.database,
            chdb_options=settings.chdb_engine_options,
            cluster=settings.clickhouse_cluster,
        )
        if needs_store
        else None
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if bus is None:
        url = settings.bus_url
        if settings.inproc_bus_fsync and url.startswith("memory://"):
            url += ("&" if "?" in url else "?") + "fsync=1"
        bus = bus_from_url(
            url,
            default_partitions=settings.topic_partitions,
            inproc_capacity=settings.inproc_bus_capacity,
            journal_dir=Path(settings.data_dir) / "bus" if settings.inproc_bus_journal else None,
            inproc_retain_bytes=settings.inproc_bus_retain_bytes,
            inproc_capacity_bytes=settings.inproc_bus_capacity_bytes,
        )
        if settings.topic_prefix:
            bus = PrefixedBus(bus, settings.topic_prefix)
    return ServiceContext(
        settings=settings,
        bus=bus,
        store=store,
        xact=XactIdGenerator(Path(settings.data_dir) / "xact.lease"),
        services=services,
        embedded=set(services) >= {"gateway", "ingest", "writer", "query"},
        control_plane=choose_control_plane(settings, services, store),
    )


def choose_control_plane(
    settings: Settings, services: tuple[str, ...], store: Store | None
) -> ControlPlane | None:
    """In-process when the gateway runs here; through the gateway's HTTP API when its URL is
    configured; else in-process over this process's store (every process shares one ClickHouse,
    as the deployments without a gateway URL for the services do); else none."""
    gateway_url = settings.service_urls.get("gateway")
    if store is not None and ("gateway" in services or not gateway_url):
        return LocalControlPlane(store)
    if gateway_url:
        return HttpControlPlane(gateway_url, settings.internal_token)
    return None


def tune_gc() -> None:
    """Fewer, cheaper garbage collections on the ingest path.

    Everything alive after start-up (modules, app, services) is moved out of the collector's
    view (`gc.freeze`), and young collections run every 50,000 allocations instead of 700: a
    `/logs3` batch allocates hundreds of thousands of short-lived dicts and strings (freed by
    reference counting), and each collection would walk them. Measured once by hand: decoding
    20,000 envelopes took 28 µs each with the default collector, 17 µs with it out of the way.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _service_calls(ctx: ServiceContext, app: FastAPI) -> ServiceCalls | None:
    """The other services as a principal: this app when it runs the gateway, else the gateway's URL."""
    if "gateway" in ctx.services:
        return InProcessServiceCalls(app)
    url = ctx.settings.service_urls.get("gateway")
    return HttpServiceCalls(url, ctx.settings.internal_token) if url else None


def build_app(ctx: ServiceContext, on_ready: OnReady | None = None) -> FastAPI:
    defs: list[ServiceDef] = [service_def(s) for s in ctx.services]
    workers: list[Worker] = []
    states = ServiceStates()  # each service's typed state, read by its routes' dependencies

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if ctx.store is not None:
            await ctx.store.open()
            await apply_migrations(ctx.store, all_migrations())
        await ctx.bus.start()
        await ctx.bus.ensure_topics(all_topics(ctx.settings.topic_partitions))
        try:
            for d in defs:
                if d.start is not None:
                    started = await d.start(ctx)
                    if started.state is not None:
                        states.add(started.state)
                    workers.extend(started.workers)
            if on_ready is not None:
                await on_ready(ctx, states)
            tune_gc()
            log.info("loopline ready", services=list(ctx.services), bus=ctx.settings.bus_url)
            async with periodic_trim(ctx.settings.malloc_trim_interval_s):
                yield
        finally:
            log.info("loopline stopping: draining workers")
            for w in reversed(workers):
                try:
                    await w.stop()
                except Exception:
                    log.exception("worker failed to stop cleanly")
            await ctx.bus.stop()
            if isinstance(ctx.service_calls, InProcessServiceCalls | HttpServiceCalls):
                await ctx.service_calls.close()
            if isinstance(ctx.control_plane, HttpControlPlane):
                await ctx.control_plane.close()
            if ctx.store is not None:
                await ctx.store.close()
            log.info("loopline stopped")

    app = FastAPI(title="Loopline", lifespan=lifespan, default_response_class=JSONResponse)
    app.state.ctx = ctx
    if ctx.service_calls is None:
        ctx.service_calls = _service_calls(ctx, app)
    app.state.services = states

    async def ready() -> dict[str, bool]:
        checks = {"bus": await ctx.bus.healthy()}
        if ctx.store is not None:
            checks["store"] = await ctx.store.ping()
        return checks

    if "gateway" in ctx.services:

        def gateway_state() -> GatewayState:
            return states.get(GatewayState)

        # Starlette runs the middleware added last first: access log → web app → auth → proxy → routes.
        if not ctx.embedded:
            install_proxy(app, ctx, [service_def(s) for s in _remote_services(ctx)])
        install_auth(app, gateway_state, ctx.settings.internal_token)
        # runs before auth: loading the app needs no key
        install_web(app, ctx.settings.section(GatewaySettings).web_dir)
    else:
        _install_internal_principal(app, ctx)
    errors = ErrorTable()
    for d in defs:
        errors = errors.merged(d.errors)
    install_http_basics(app, errors)
    app.include_router(health_router(ready))
    app.include_router(metrics_router())
    for d in defs:
        if d.router is not None:
            app.include_router(d.router(ctx))
    return app


def _remote_services(ctx: ServiceContext) -> list[str]:
    return [s for s in ctx.settings.service_urls if s not in ctx.services]


def _install_internal_principal(app: FastAPI, ctx: ServiceContext) -> None:
    @app.middleware("http")
    async def _principal(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        try:
            p = principal_from_internal_headers(request, ctx.settings.internal_token)
        except Exception as exc:
            return JSONResponse(error_body(401, str(getattr(exc, "detail", exc))), status_code=401)
        if p is not None:
            request.state.principal = p
        return await call_next(request)
