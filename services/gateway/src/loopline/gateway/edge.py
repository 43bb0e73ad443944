"""Shared plumbing of the gateway's control-plane routers: bodies, pagination, errors."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Query, Request, Response
from fastapi.routing import APIRoute
from loopline.common.auth import Principal
from loopline.common.http import JSONResponse, error_body
from loopline.gateway.catalog import CatalogError, Page
from loopline.gateway.models import first_error
from pydantic import BaseModel, ValidationError

MAX_BODY = 1024 * 1024
M = TypeVar("M", bound=BaseModel)


class CatalogErrorRoute(APIRoute):
    """Turns a CatalogError raised anywhere in a handler into its JSON error response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except CatalogError as exc:
                return error_response(exc)

        return run


def error_response(exc: CatalogError) -> Response:
    return JSONResponse(error_body(exc.status, exc.message, **exc.where), status_code=exc.status)


async def read_body(request: Request, model: type[M]) -> M:
    """Parse the body as JSON whatever its Content-Type, then validate it (clear 400s)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise CatalogError(413, f"request body exceeds {MAX_BODY} bytes")
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise CatalogError(
            400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(body, dict):
        raise CatalogError(400, "the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        field, message = first_error(exc)
        raise CatalogError(400, message, field=field) from None


def page_params(
    limit: str | None = None,
    starting_after: str | None = None,
    ending_before: str | None = None,
    ids: Annotated[list[str] | None, Query()] = None,
) -> Page:
    """FastAPI dependency: Braintrust's list parameters (`ids` may repeat or be comma-separated)."""
    n = 100
    if limit is not None and limit != "":
        try:
            n = int(limit)
        except ValueError:
            raise CatalogError(400, f"'limit' must be an integer, got {limit!r}", field="limit") from None
    flat = tuple(i for v in ids or () for i in v.split(",") if i)
    return Page(n, starting_after or None, ending_before or None, flat)


def org_matches(p: Principal, org_name: str | None) -> bool:
    """False when the request names an org other than the key's (keys belong to one org)."""
    return not org_name or not p.org_name or org_name == p.org_name


def check_org(p: Principal, org_name: str | None) -> None:
    if not org_matches(p, org_name):
        raise CatalogError(
            403, f"this API key belongs to organization {p.org_name!r}, not {org_name!r}", field="org_name"
        )
