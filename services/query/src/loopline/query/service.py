"""The query service definition: fetch, summaries, comparisons, BTQL.

`start` builds the `State` (state.py) the routes read through `deps`, including the async BTQL
job runner, which it also returns as a worker (stopping it cancels the jobs running here). What
query needs of the control plane (objects' projects, names, base experiments) is
`ctx.control_plane`: in-process or the gateway's HTTP API, as the runtime chose."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from loopline.common.service import ServiceContext, ServiceDef, Started, Worker
from loopline.query import tables
from loopline.query.async_btql import AsyncQueries
from loopline.query.btql_validate import build_validate_router
from loopline.query.dashboards.routes import build_dashboards_router
from loopline.query.errors import ERRORS
from loopline.query.reads import ObjectReader
from loopline.query.rollups import RollupRefresher
from loopline.query.routes import build_btql_router, build_router
from loopline.query.settings import QuerySettings
from loopline.query.state import State

from loopline import btql


def _router(ctx: ServiceContext) -> APIRouter:
    router = build_router()
    router.include_router(build_btql_router())
    router.include_router(build_validate_router())
    router.include_router(build_dashboards_router())
    return router


async def _start(ctx: ServiceContext) -> Started:
    store = ctx.require_store()
    control_plane = ctx.require_control_plane()
    jobs = AsyncQueries(store)
    cfg = ctx.settings.section(QuerySettings)
    reader = ObjectReader(store, control_plane)
    if not cfg.newest_first:
        reader.newest_windows = ()
    state = State(
        store=store,
        bus=ctx.bus,
        control_plane=control_plane,
        reader=reader,
        jobs=jobs,
        read_your_writes_timeout_s=cfg.read_your_writes_timeout_s,
        rollups=cfg.rollups,
        rollup_quiet_s=cfg.rollup_quiet_s,
        newest_first=cfg.newest_first,
    )
    # The BTQL parser's grammar analysis takes 1 to 2 s: pay it at start-up, not on the first query.
    await asyncio.to_thread(btql.warm_up)
    workers: list[Worker] = [jobs]
    if cfg.rollups:
        workers.append(
            RollupRefresher(
                store, interval_s=cfg.rollup_interval_s, batch=cfg.rollup_batch, quiet_s=cfg.rollup_quiet_s
            )
        )
    return Started(state, workers=workers)


SERVICE = ServiceDef(
    name="query",
    migrations=tables.MIGRATIONS,
    router=_router,
    start=_start,
    needs_store=True,
    routes=(
        r"^/v1/(experiment|dataset|project_logs)/[^/]+/(fetch|summarize)$",
        r"^/v1/dataset/[^/]+/versions$",
        r"^/experiment-comparison2$",
        r"^/dataset-summary$",
        r"^/btql(/schema|/validate|/async(/[^/]+(/result)?)?)?$",
        r"^/dashboards(/[^/]+(/data|/charts(/[^/]+(/btql)?)?)?)?$",
    ),
    errors=ERRORS,
    settings=QuerySettings,
)
