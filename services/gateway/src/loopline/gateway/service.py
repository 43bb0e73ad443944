"""The gateway service definition."""

from __future__ import annotations

from fastapi import APIRouter
from loopline.common.service import ServiceContext, ServiceDef, Worker
from loopline.gateway.keys import KeyStore


def _router(ctx: ServiceContext) -> APIRouter:
    from loopline.gateway.routes import build_router

    return build_router(ctx)


async def _start(ctx: ServiceContext) -> list[Worker]:
    ctx.shared["keys"] = KeyStore(ctx.require_store())
    return []


SERVICE = ServiceDef(name="gateway", router=_router, start=_start, needs_store=True)
