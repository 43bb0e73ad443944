"""Gateway routes: discovery, API-key login, sign-in and members, API keys, and the control plane.

`POST /api/apikey/login` answers `{"org_info": [{"id", "name", "api_url", "proxy_url",
"git_metadata": null}]}` (both SDK generations read it; `git_metadata: null` means the SDK
collects no git information). `GET /version` is public; the SDK only reads
`logs3_payload_max_bytes` from it (its presence turns on the `/logs3` overflow path).
`GET /ping` returns who the key is (the SDK's `user_info()`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from loopline.common.service import ServiceContext
from loopline.gateway.deps import Caller
from loopline.gateway.key_routes import build_key_router
from loopline.gateway.login_limits import LoginLimiter
from loopline.gateway.object_routes import build_object_router
from loopline.gateway.settings import GatewaySettings
from loopline.gateway.user_routes import build_user_router

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
    async def login(request: Request, principal: Caller) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "org_info": [
                {
                    "id": principal.org_id,
                    "name": principal.org_name or principal.org_id,
                    "api_url": base,
                    "proxy_url": base,
                    "git_metadata": None,
                }
            ]
        }

    @router.get("/ping")
    async def ping(principal: Caller) -> dict[str, Any]:
        return {
            "id": principal.user_id or principal.api_key_id,
            "org_id": principal.org_id,
            "org_name": principal.org_name,
            "api_key_id": principal.api_key_id,
            "role": principal.role,
        }

    gs = ctx.settings.section(GatewaySettings)
    router.include_router(build_user_router(LoginLimiter(gs.login_max_failures, gs.login_window_s)))
    router.include_router(build_key_router())
    router.include_router(build_object_router())
    return router
