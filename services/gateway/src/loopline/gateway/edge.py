"""Shared plumbing of the gateway's control-plane routers: bodies, pagination, org checks.

Refusals here are `ServiceError`s (this is the HTTP edge); the app's error table answers them and
the Catalog's domain errors alike."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from loopline.common.auth import Principal
from loopline.common.errors import ServiceError
from loopline.common.json_body import parse_body
from loopline.gateway.catalog import MAX_LIMIT, ListParams
from pydantic import BaseModel

MAX_BODY = 1024 * 1024
M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, model: type[M]) -> M:
    """Parse the body as JSON whatever its Content-Type, then validate it (clear 400s)."""
    return parse_body(await request.body(), model, max_bytes=MAX_BODY)


async def page_params(
    limit: str | None = None,
    starting_after: str | None = None,
    ending_before: str | None = None,
    ids: Annotated[list[str] | None, Query()] = None,
) -> ListParams:
    """FastAPI dependency: Braintrust's list parameters (`ids` may repeat or be comma-separated)."""
    n = 100
    if limit is not None and limit != "":
        try:
            n = int(limit)
        except ValueError:
            raise ServiceError(400, f"'limit' must be an integer, got {limit!r}", field="limit") from None
    if not 1 <= n <= MAX_LIMIT:
        raise ServiceError(400, f"'limit' must be between 1 and {MAX_LIMIT}", field="limit")
    if starting_after and ending_before:
        raise ServiceError(
            400, "pass only one of 'starting_after' and 'ending_before'", field="starting_after"
        )
    flat = tuple(i for v in ids or () for i in v.split(",") if i)
    return ListParams(n, starting_after or None, ending_before or None, flat)


Paging = Annotated[ListParams, Depends(page_params)]


def org_matches(p: Principal, org_name: str | None) -> bool:
    """False when the request names an org other than the key's (keys belong to one org)."""
    return not org_name or not p.org_name or org_name == p.org_name


def check_org(p: Principal, org_name: str | None) -> None:
    if not org_matches(p, org_name):
        raise ServiceError(
            403, f"this API key belongs to organization {p.org_name!r}, not {org_name!r}", field="org_name"
        )
