"""Gateway routes: discovery and API-key login (control-plane routes live beside this)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from loopline.common.auth import Principal, current_principal
from loopline.common.service import ServiceContext

VERSION = "0.1.0"


def build_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()

    @router.get("/version")
    async def version() -> dict[str, Any]:
        return {"version": VERSION, "name": "loopline"}

    @router.post("/api/apikey/login")
    async def login(principal: Principal = Depends(current_principal)) -> dict[str, Any]:
        return {
            "org_info": [
                {
                    "id": principal.org_id,
                    "name": principal.org_name,
                    "api_url": None,
                    "proxy_url": None,
                    "git_metadata": None,
                }
            ]
        }

    return router
