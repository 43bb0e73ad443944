"""The query service definition: fetch, summaries, comparisons, BTQL."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from loopline.common.objects import ObjectResolver
from loopline.common.service import ServiceContext, ServiceDef, Worker
from loopline.gateway.catalog import Catalog
from loopline.query import tables
from loopline.query.async_btql import AsyncQueries
from loopline.query.reads import ObjectReader
from loopline.query.routes import build_btql_router, build_router

from loopline import btql


def _router(ctx: ServiceContext) -> APIRouter:
    router = build_router(ctx)
    router.include_router(build_btql_router(ctx))
    return router


async def _start(ctx: ServiceContext) -> list[Worker]:
    store = ctx.require_store()
    objects = ObjectResolver(store)
    ctx.shared["objects"] = objects
    ctx.shared["object_reader"] = ObjectReader(store, objects)
    ctx.shared["query_catalog"] = Catalog(store)
    # The BTQL parser's grammar analysis takes 1 to 2 s: pay it at start-up, not on the first query.
    await asyncio.to_thread(btql.warm_up)
    jobs = ctx.shared.get("async_queries")
    return [jobs] if isinstance(jobs, AsyncQueries) else []


SERVICE = ServiceDef(
    name="query",
    migrations=tables.MIGRATIONS,
    router=_router,
    start=_start,
    needs_store=True,
    routes=(
        r"^/v1/(experiment|dataset|project_logs)/[^/]+/(fetch|summarize)$",
        r"^/experiment-comparison2$",
        r"^/dataset-summary$",
        r"^/btql(/schema|/async(/[^/]+(/result)?)?)?$",
    ),
)
