"""`/v1/ai_secret`: org AI provider secrets, as Braintrust's API and SDK (`ai_secrets.*`) use it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from loopline.common.auth import Principal
from loopline.common.errors import ServiceError
from loopline.evaluator.deps import Caller, Secrets
from pydantic import BaseModel, ConfigDict


class CreateAISecret(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    type: str | None = None
    metadata: dict[str, Any] | None = None
    secret: str | None = None
    org_name: str | None = None


class PatchAISecret(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    type: str | None = None
    metadata: dict[str, Any] | None = None
    secret: str | None = None


class DeleteAISecret(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    org_name: str | None = None


def _check_org(caller: Principal, org_name: str | None) -> None:
    if org_name and caller.org_name and org_name != caller.org_name:
        raise ServiceError(
            403,
            f"this API key belongs to organization {caller.org_name!r}, not {org_name!r}",
            field="org_name",
        )


def build_secret_router() -> APIRouter:
    r = APIRouter(tags=["ai_secret"])

    @r.post("/v1/ai_secret")
    async def create(body: CreateAISecret, caller: Caller, secrets: Secrets) -> dict[str, Any]:
        """Create a secret; an existing secret of that name is returned unmodified."""
        _check_org(caller, body.org_name)
        s = await secrets.create(caller.org_id, body.model_dump(exclude={"org_name"}), caller.user_id)
        return s.public()

    @r.put("/v1/ai_secret")
    async def replace(body: CreateAISecret, caller: Caller, secrets: Secrets) -> dict[str, Any]:
        """Create or replace; a PUT without `secret` keeps the stored value."""
        _check_org(caller, body.org_name)
        fields = body.model_dump(exclude={"org_name"}, exclude_unset=True)
        s = await secrets.create(caller.org_id, fields, caller.user_id, replace=True)
        return s.public()

    @r.get("/v1/ai_secret")
    async def list_secrets(
        caller: Caller,
        secrets: Secrets,
        limit: int | None = Query(default=None, ge=0, le=1000),
        starting_after: str | None = None,
        ending_before: str | None = None,
        ids: list[str] = Query(default=[]),
        ai_secret_name: str | None = None,
        org_name: str | None = None,
        ai_secret_type: list[str] = Query(default=[]),
    ) -> dict[str, Any]:
        _check_org(caller, org_name)
        if starting_after and ending_before:
            raise ServiceError(400, "give starting_after or ending_before, not both", field="starting_after")
        found = await secrets.find(
            caller.org_id,
            name=ai_secret_name,
            types=ai_secret_type,
            ids=ids,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
        )
        return {"objects": [s.public() for s in found]}

    @r.delete("/v1/ai_secret")
    async def delete_by_name(body: DeleteAISecret, caller: Caller, secrets: Secrets) -> dict[str, Any]:
        _check_org(caller, body.org_name)
        return (await secrets.delete_by_name(caller.org_id, body.name)).public()

    @r.get("/v1/ai_secret/{ai_secret_id}")
    async def get(ai_secret_id: str, caller: Caller, secrets: Secrets) -> dict[str, Any]:
        return (await secrets.get(caller.org_id, ai_secret_id)).public()

    @r.patch("/v1/ai_secret/{ai_secret_id}")
    async def patch(
        ai_secret_id: str, body: PatchAISecret, caller: Caller, secrets: Secrets
    ) -> dict[str, Any]:
        fields = body.model_dump(exclude_unset=True)
        return (await secrets.patch(caller.org_id, ai_secret_id, fields, caller.user_id)).public()

    @r.delete("/v1/ai_secret/{ai_secret_id}")
    async def delete(ai_secret_id: str, caller: Caller, secrets: Secrets) -> dict[str, Any]:
        return (await secrets.delete(caller.org_id, ai_secret_id)).public()

    return r
