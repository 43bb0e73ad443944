"""Sign-in, members and invitations.

Browser sign-in (the web app):
- `POST /api/login {"email", "password"}` → sets the session cookie (HttpOnly, SameSite=Lax,
  Secure behind https) and answers `me` (below) with `"csrf_token"`. A new session every time
  (the browser's previous one is ended). 401 on a wrong email or password (the same answer and
  time for both), 429 with Retry-After after too many failures for one email from one address.
- `POST /api/logout` → ends the session and clears the cookie.
- `GET /api/me` → `{"user": {"id", "email", "name", "role"} | null, "org": {"id", "name"},
  "role", "api_key_id", "csrf_token"}` (`user` is null for a service-account key; `csrf_token`
  only for a cookie session). Cookie-authenticated POST/PUT/PATCH/DELETE send it in `x-csrf-token`.

Members (admin; only an owner may create, promote, demote or remove an admin or owner, and an
org keeps at least one owner): `GET|POST /v1/user`, `GET|PATCH|DELETE /v1/user/{id}`.
`POST /v1/user` with a password creates the user; without one it answers an invitation for that
email. Invitations: `POST /v1/invitation {"role", "email"?}` → `{"token", "url", ...}` (shown
once, used once); `GET /v1/invitation` lists pending ones; `POST /api/invitation/accept
{"token", "email", "password", "name"?}` creates the user and signs in like `/api/login`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from loopline.common.auth import Principal, Role
from loopline.common.errors import NotFound, ServiceError
from loopline.common.http import JSONResponse
from loopline.common.logging import get_logger
from loopline.gateway.auth_middleware import session_token
from loopline.gateway.deps import Caller, Keys, Users
from loopline.gateway.edge import read_body
from loopline.gateway.keys import KeyStore
from loopline.gateway.login_limits import LoginLimiter
from loopline.gateway.passwords import hash_password, verify_or_burn
from loopline.gateway.user_models import AcceptInvitation, CreateInvitation, CreateUser, Login, PatchUser
from loopline.gateway.users import SESSION_COOKIE, Invitation, User, UserStore, normalize_email

log = get_logger("loopline.gateway.users")


def user_out(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "name": u.name, "role": u.role, "created": u.created.isoformat()}


def invitation_out(request: Request, inv: Invitation, token: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": inv.id,
        "email": inv.email or None,
        "role": inv.role,
        "expires": inv.expires.isoformat(),
    }
    if token is not None:
        # in the fragment: a browser never sends it to a server (no access log holds it)
        out |= {"token": token, "url": f"{str(request.base_url).rstrip('/')}/app/invite#token={token}"}
    return out


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


async def me_out(p: Principal, keys: KeyStore, users: UserStore, csrf: str | None) -> dict[str, Any]:
    user = await users.get_user(p.org_id, p.user_id) if p.user_id else None
    return {
        "user": None if user is None else {k: v for k, v in user_out(user).items() if k != "created"},
        "org": {"id": p.org_id, "name": p.org_name or await keys.org_name(p.org_id) or ""},
        "role": p.role,
        "api_key_id": p.api_key_id or None,
        "csrf_token": csrf,
    }


def require_manager_of(p: Principal, *roles: Role) -> None:
    """Admins manage members and viewers; only owners manage admins and owners."""
    if any(r in ("admin", "owner") for r in roles) and not p.can("owner"):
        raise ServiceError(403, "only an owner may create, change or remove an admin or owner", field="role")


async def signed_in(request: Request, user: User, keys: KeyStore, users: UserStore) -> Response:
    """A new session for `user` (ending the one this browser had): the cookie and `me`."""
    old = session_token(request)
    if old is not None:
        await users.revoke_session(old)
    token, session = await users.create_session(user)
    p = Principal(org_id=user.org_id, user_id=user.id, role=user.role, session_id=session.id)
    response = JSONResponse(await me_out(p, keys, users, session.csrf))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(users.session_ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    log.info("signed in", user_id=user.id, org_id=user.org_id)
    return response


def build_user_router(limiter: LoginLimiter) -> APIRouter:
    router = APIRouter()

    @router.post("/api/login")
    async def login(request: Request, keys: Keys, users: Users) -> Response:
        body = await read_body(request, Login)
        email = normalize_email(body.email)
        client = request.client.host if request.client else ""
        wait = limiter.retry_after(email, client)
        if wait is not None:
            raise ServiceError(
                429, "too many failed sign-ins for this email: try again later", retry_after=wait
            )
        user = await users.by_email(email)
        ok = await verify_or_burn(body.password, user.password_hash if user is not None else None)
        if user is None or not ok:
            limiter.failed(email, client)
            log.info("sign-in refused", client=client)
            raise ServiceError(401, "wrong email or password")
        limiter.succeeded(email, client)
        return await signed_in(request, user, keys, users)

    @router.post("/api/logout")
    async def logout(request: Request, users: Users, p: Caller) -> Response:
        token = session_token(request)
        if token is not None:
            await users.revoke_session(token)
        response = JSONResponse({"signed_out": token is not None})
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
        )
        return response

    @router.get("/api/me")
    async def me(request: Request, keys: Keys, users: Users, p: Caller) -> Response:
        csrf = None
        token = session_token(request) if p.session_id else None
        if token is not None:
            session = await users.session(token)
            csrf = session.csrf if session is not None else None
        return JSONResponse(await me_out(p, keys, users, csrf))

    @router.post("/api/invitation/accept")
    async def accept_invitation(request: Request, keys: Keys, users: Users) -> Response:
        body = await read_body(request, AcceptInvitation)
        try:
            user = await users.accept(body.token, body.email, await hash_password(body.password), body.name)
        except LookupError as exc:
            raise ServiceError(404, str(exc), field="token") from None
        except ValueError as exc:
            raise ServiceError(409, str(exc), field="email") from None
        log.info("invitation accepted", user_id=user.id, org_id=user.org_id, role=user.role)
        return await signed_in(request, user, keys, users)

    @router.get("/v1/user")
    async def list_users(users: Users, p: Caller) -> Response:
        return JSONResponse({"objects": [user_out(u) for u in await users.list_users(p.org_id)]})

    @router.post("/v1/user")
    async def create_user(request: Request, users: Users, p: Caller) -> Response:
        body = await read_body(request, CreateUser)
        require_manager_of(p, body.role)
        if await users.by_email(body.email) is not None:
            raise ServiceError(409, f"a user with the email {body.email!r} already exists", field="email")
        if body.password is None:
            token, inv = await users.invite(
                p.org_id, body.role, body.email, created_by=p.user_id or p.api_key_id
            )
            return JSONResponse({"invitation": invitation_out(request, inv, token)})
        try:
            user = await users.create_user(
                p.org_id, body.email, body.role, await hash_password(body.password), body.name
            )
        except ValueError as exc:
            raise ServiceError(409, str(exc), field="email") from None
        log.info(
            "user created", user_id=user.id, org_id=p.org_id, role=user.role, by=p.user_id or p.api_key_id
        )
        return JSONResponse(user_out(user))

    async def _member(users: UserStore, p: Principal, user_id: str) -> User:
        u = await users.get_user(p.org_id, user_id)
        if u is None:
            raise NotFound(f"user {user_id!r} does not exist")
        return u

    async def _keep_an_owner(users: UserStore, u: User) -> None:
        if u.role == "owner" and await users.count_owners(u.org_id) <= 1:
            raise ServiceError(409, "an org keeps at least one owner: make another owner first", field="role")

    @router.get("/v1/user/{user_id}")
    async def get_user(user_id: str, users: Users, p: Caller) -> Response:
        return JSONResponse(user_out(await _member(users, p, user_id)))

    @router.patch("/v1/user/{user_id}")
    async def patch_user(user_id: str, request: Request, users: Users, keys: Keys, p: Caller) -> Response:
        body = await read_body(request, PatchUser)
        u = await _member(users, p, user_id)
        if body.role is not None and body.role != u.role:
            require_manager_of(p, u.role, body.role)
            await _keep_an_owner(users, u)
        u = await users.update_user(u, role=body.role, name=body.name)
        keys.forget_cached()  # the user's keys act with the new role at once
        log.info("user changed", user_id=u.id, org_id=p.org_id, role=u.role, by=p.user_id or p.api_key_id)
        return JSONResponse(user_out(u))

    @router.delete("/v1/user/{user_id}")
    async def delete_user(user_id: str, users: Users, keys: Keys, p: Caller) -> Response:
        u = await _member(users, p, user_id)
        require_manager_of(p, u.role)
        await _keep_an_owner(users, u)
        await users.delete_user(u)
        for k in await keys.list_keys(p.org_id):
            if k.user_id == u.id and k.revoked is None:
                await keys.revoke_key(p.org_id, k.id)
        log.info("user removed", user_id=u.id, org_id=p.org_id, by=p.user_id or p.api_key_id)
        return JSONResponse(user_out(u))

    @router.post("/v1/invitation")
    async def create_invitation(request: Request, users: Users, p: Caller) -> Response:
        body = await read_body(request, CreateInvitation)
        require_manager_of(p, body.role)
        token, inv = await users.invite(
            p.org_id, body.role, body.email or "", created_by=p.user_id or p.api_key_id
        )
        return JSONResponse(invitation_out(request, inv, token))

    @router.get("/v1/invitation")
    async def list_invitations(request: Request, users: Users, p: Caller) -> Response:
        pending = await users.pending_invitations(p.org_id)
        return JSONResponse({"objects": [invitation_out(request, i) for i in pending]})

    return router
