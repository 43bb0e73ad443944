"""The authenticated principal, and how services receive it.

The gateway resolves an API key to a Principal. In the embedded runtime it hands the object to
the service routes on `request.state`; in distributed mode it forwards it in the
`x-loopline-principal` header together with the shared internal token, and services accept
that header only with the right token. Services never take a tenant id from a request body.
"""

from __future__ import annotations

import hmac

import orjson
from fastapi import HTTPException, Request
from pydantic import BaseModel

PRINCIPAL_HEADER = "x-loopline-principal"
INTERNAL_TOKEN_HEADER = "x-loopline-internal-token"


class Principal(BaseModel, frozen=True):
    org_id: str
    org_name: str = ""
    user_id: str = ""
    api_key_id: str = ""


def principal_from_internal_headers(request: Request, internal_token: str) -> Principal | None:
    raw = request.headers.get(PRINCIPAL_HEADER)
    if raw is None:
        return None
    token = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    if not internal_token or not hmac.compare_digest(token, internal_token):
        raise HTTPException(
            status_code=401, detail="internal principal header without a valid internal token"
        )
    return Principal.model_validate(orjson.loads(raw))


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the principal of this request, or 401 (async: FastAPI runs a plain
    function dependency on its thread pool, a thread hop per request for nothing)."""
    p = getattr(request.state, "principal", None)
    if isinstance(p, Principal):
        return p
    raise HTTPException(
        status_code=401,
        detail="missing or invalid API key: send 'Authorization: Bearer <key>'",
    )
