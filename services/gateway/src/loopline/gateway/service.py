"""The gateway service definition.

After start, `ctx.shared` holds `keys` (KeyStore: orgs and API keys) and `control_plane`
(Catalog, alias ControlPlane: projects, experiments, datasets with cached lookups by id). What
other services need of these is `ctx.control_plane` (`loopline.common.control_plane`).
"""

from __future__ import annotations

from fastapi import APIRouter
from loopline.common.service import ServiceContext, ServiceDef, Worker
from loopline.gateway import tables
from loopline.gateway.catalog import Catalog
from loopline.gateway.keys import KeyStore
from loopline.gateway.routes import build_router


def _router(ctx: ServiceContext) -> APIRouter:
    return build_router(ctx)


async def _start(ctx: ServiceContext) -> list[Worker]:
    ctx.shared["keys"] = KeyStore(ctx.require_store())
    catalog = Catalog(ctx.require_store())
    ctx.shared["control_plane"] = catalog
    return []


SERVICE = ServiceDef(
    name="gateway", router=_router, start=_start, needs_store=True, migrations=tables.MIGRATIONS
)
