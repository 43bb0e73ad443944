"""The authenticated principal, and how services receive it.

The gateway resolves an API key to a Principal. In the embedded runtime it hands the object to
the service routes on `request.state`; in distributed mode it forwards it in the
`x-loopline-principal` header together with the shared internal token, and services accept
that header only with the right token. Services never take a tenant id from a request body.

Every principal carries its role in its org (`Role`: viewer < member < admin < owner); the
gateway checks each route's minimum role (gateway `policy.py`) and services may check it again
with `Principal.can`. A principal built without a role is an owner-level service account: that is
what every API key created before users existed is.
"""

from __future__ import annotations

import hmac
from typing import Literal

import orjson
from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

PRINCIPAL_HEADER = "x-loopline-principal"
INTERNAL_TOKEN_HEADER = "x-loopline-internal-token"


Role = Literal["viewer", "member", "admin", "owner"]
#: the roles from least to most privileged: each may do what the ones before it may
ROLES: tuple[Role, ...] = ("viewer", "member", "admin", "owner")


def role_rank(role: str) -> int:
    """The position of `role` in `ROLES` (unknown roles rank below viewer)."""
    return ROLES.index(role) if role in ROLES else -1


class Principal(BaseModel, frozen=True):
    org_id: str
    org_name: str = ""
    user_id: str = ""
    api_key_id: str = ""
    role: Role = "owner"
    session_id: str = ""  # set when a browser session cookie authenticated the request

    def can(self, minimum: Role) -> bool:
        """Whether this principal's role is at least `minimum`."""
        return role_rank(self.role) >= role_rank(minimum)


def principal_from_internal_headers(request: Request, internal_token: str) -> Principal | None:
    raw = request.headers.get(PRINCIPAL_HEADER)
    if raw is None:
        return None
    token = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    if not internal_token or not hmac.compare_digest(token, internal_token):
        raise HTTPException(
            status_code=401, detail="internal principal header without a valid internal token"
        )
    try:
        return Principal.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:  # a bug in the calling service
        raise HTTPException(
            status_code=401, detail=f"internal principal header is not a valid principal: {exc}"[:300]
        ) from None


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
