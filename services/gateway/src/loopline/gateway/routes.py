"""Gateway routes: discovery, API-key login, and the control plane (object_routes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from loopline.common.auth import Principal, current_principal
from loopline.common.service import ServiceContext
from loopline.gateway.object_routes import build_object_router

VERSION = "0.1.0"


def build_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()

    @router.get("/version")
    async def version() -> dict[str, Any]:
        # logs3_payload_max_bytes: the SDK batches up to it and uploads bigger batches (overflow)
        return {
            "version": VERSION,
            "name": "loopline",
            "logs3_payload_max_bytes": ctx.settings.logs3_payload_max_bytes,
        }

    @router.post("/api/apikey/login")
    async def login(request: Request, principal: Principal = Depends(current_principal)) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "org_info": [
                {
                    "id": principal.org_id,
                    "name": principal.org_name,
                    "api_url": base,
                    "proxy_url": base,
                    "git_metadata": None,
                }
            ]
        }

    router.include_router(build_object_router(ctx))
    return router
