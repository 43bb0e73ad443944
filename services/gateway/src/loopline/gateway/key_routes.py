"""API keys over REST, Braintrust-style, scoped to the caller's org.

`POST /v1/api_key` `{"name", "org_name"?}` → the key object plus `"key"` (shown once);
`GET /v1/api_key` → `{"objects": [...]}` (active keys, newest first; `limit`, `starting_after`,
`ending_before`, `ids`, `api_key_name`, `org_name`); `GET|DELETE /v1/api_key/{id}` → the key
object (DELETE revokes it at once in this process). Key objects never contain the secret or its hash.

A user's new key belongs to the user (it acts with the user's role); a service account's new key
is a service key with `"role"` (default: the caller's, never above it). Admins and owners see and
revoke every key of the org; others only their own.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from loopline.common.auth import Principal
from loopline.common.errors import NotFound, ServiceError
from loopline.common.http import JSONResponse
from loopline.gateway.catalog import ListParams
from loopline.gateway.deps import Caller, Keys
from loopline.gateway.edge import Paging, check_org, org_matches, read_body
from loopline.gateway.keys import ApiKeyInfo
from loopline.gateway.models import CreateApiKey


def key_out(k: ApiKeyInfo) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "preview_name": f"{k.prefix}…",
        "created": k.created.isoformat(),
        "org_id": k.org_id,
        "user_id": k.user_id or None,
        "expires_at": None,
        "role": None if k.user_id else k.role,
    }


def visible(p: Principal, k: ApiKeyInfo) -> bool:
    """Admins see the org's keys; others their own (a user's keys, or a service key itself)."""
    return p.can("admin") or k.id == p.api_key_id or bool(p.user_id and k.user_id == p.user_id)


def paginate(keys: list[ApiKeyInfo], page: ListParams) -> list[ApiKeyInfo]:
    ordered = sorted(keys, key=lambda k: (k.created, k.id), reverse=True)
    if page.ids:
        ordered = [k for k in ordered if k.id in page.ids]
    cursor = page.starting_after or page.ending_before
    if cursor:
        pos = next((i for i, k in enumerate(ordered) if k.id == cursor), None)
        if pos is None:
            field = "starting_after" if page.starting_after else "ending_before"
            raise ServiceError(400, f"{field}: API key {cursor!r} does not exist", field=field)
        if page.starting_after:
            return ordered[pos + 1 : pos + 1 + page.limit]
        return ordered[max(0, pos - page.limit) : pos]
    return ordered[: page.limit]


def build_key_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/api_key")
    async def create_api_key(request: Request, keys: Keys, p: Caller) -> Response:
        body = await read_body(request, CreateApiKey)
        check_org(p, body.org_name)
        role = body.role or p.role
        if not p.can(role):
            raise ServiceError(403, f"a {p.role} cannot create a key with the {role} role", field="role")
        key, info = await keys.create_key(p.org_id, body.name, p.user_id, role)
        return JSONResponse({**key_out(info), "key": key})

    @router.get("/v1/api_key")
    async def list_api_keys(
        keys: Keys,
        page: Paging,
        p: Caller,
        api_key_name: str | None = None,
        org_name: str | None = None,
    ) -> Response:
        if not org_matches(p, org_name):
            return JSONResponse({"objects": []})
        active = [
            k
            for k in await keys.list_keys(p.org_id)
            if k.revoked is None and visible(p, k) and (not api_key_name or k.name == api_key_name)
        ]
        return JSONResponse({"objects": [key_out(k) for k in paginate(active, page)]})

    @router.get("/v1/api_key/{key_id}")
    async def get_api_key(key_id: str, keys: Keys, p: Caller) -> Response:
        k = await keys.get_key(p.org_id, key_id)
        if k is None or not visible(p, k):
            raise NotFound(f"API key {key_id!r} does not exist")
        return JSONResponse(key_out(k))

    @router.delete("/v1/api_key/{key_id}")
    async def delete_api_key(key_id: str, keys: Keys, p: Caller) -> Response:
        k = await keys.get_key(p.org_id, key_id)
        revoked = await keys.revoke_key(p.org_id, key_id) if k is not None and visible(p, k) else None
        if revoked is None:
            raise NotFound(f"API key {key_id!r} does not exist")
        return JSONResponse(key_out(revoked))

    return router
