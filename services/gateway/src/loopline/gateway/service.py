"""The gateway service definition.

After start, `ctx.shared` holds `keys` (KeyStore: orgs and API keys), `control_plane`
(Catalog, alias ControlPlane: projects, experiments, datasets with cached lookups by id) and
`projects_by_name` (create-or-get a project id by name, for OTLP `x-bt-parent: project_name:`).
"""

from __future__ import annotations

from fastapi import APIRouter
from loopline.common.service import ServiceContext, ServiceDef, Worker
from loopline.gateway.catalog import Catalog
from loopline.gateway.keys import KeyStore


def _router(ctx: ServiceContext) -> APIRouter:
    from loopline.gateway.routes import build_router

    return build_router(ctx)


async def _start(ctx: ServiceContext) -> list[Worker]:
    ctx.shared["keys"] = KeyStore(ctx.require_store())
    catalog = Catalog(ctx.require_store())
    ctx.shared["control_plane"] = catalog

    async def project_by_name(org_id: str, name: str) -> str:
        return str((await catalog.create_project(org_id, name))[0]["id"])

    ctx.shared["projects_by_name"] = project_by_name  # OTLP `x-bt-parent: project_name:...`
    return []


SERVICE = ServiceDef(name="gateway", router=_router, start=_start, needs_store=True)
