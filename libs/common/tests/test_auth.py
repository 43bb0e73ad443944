"""Principal roles: their order, and the role crossing the internal headers (distributed mode)."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from loopline.common.auth import (
    INTERNAL_TOKEN_HEADER,
    PRINCIPAL_HEADER,
    ROLES,
    Principal,
    principal_from_internal_headers,
)
from starlette.requests import Request


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def test_roles_are_ordered() -> None:
    assert ROLES == ("viewer", "member", "admin", "owner")
    viewer, admin = Principal(org_id="o", role="viewer"), Principal(org_id="o", role="admin")
    assert viewer.can("viewer") and not viewer.can("member")
    assert admin.can("member") and admin.can("admin") and not admin.can("owner")
    # a principal without a role is an owner-level service account (keys from before users)
    assert Principal(org_id="o").role == "owner"


def test_the_role_crosses_the_internal_headers() -> None:
    p = Principal(org_id="o", user_id="u", role="member", session_id="s")
    req = request_with({PRINCIPAL_HEADER: p.model_dump_json(), INTERNAL_TOKEN_HEADER: "t"})
    assert principal_from_internal_headers(req, "t") == p
    # a gateway from before roles sends no role: an owner-level service principal
    old = request_with({PRINCIPAL_HEADER: '{"org_id": "o"}', INTERNAL_TOKEN_HEADER: "t"})
    got = principal_from_internal_headers(old, "t")
    assert got is not None and got.role == "owner"
    with pytest.raises(HTTPException):
        principal_from_internal_headers(request_with({PRINCIPAL_HEADER: p.model_dump_json()}), "t")


@pytest.mark.parametrize("raw", ["{not json", '{"org_id": 5, "role": "emperor"}', "[]"])
def test_a_malformed_internal_principal_is_refused_not_a_crash(raw: str) -> None:
    with pytest.raises(HTTPException) as exc:
        principal_from_internal_headers(
            request_with({PRINCIPAL_HEADER: raw, INTERNAL_TOKEN_HEADER: "tok"}), "tok"
        )
    assert exc.value.status_code == 401 and "not a valid principal" in str(exc.value.detail)
