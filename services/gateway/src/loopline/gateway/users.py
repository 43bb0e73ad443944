"""Users of an org, their browser sessions and invitations (owner of the `users`, `sessions` and
`invitations` tables).

Emails are unique across the installation (a login names an email, not an org) and kept lower
case. Passwords are stored as scrypt hashes only (`passwords`); session and invitation tokens as
SHA-256 hashes only: the secret values exist in the browser's cookie or the invitation link,
never in a table or a log line. Sessions expire (`expires`) and are revoked at logout or when
the same browser logs in again; invitations are used once.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loopline.common.auth import Role
from loopline.common.store import Store

SESSION_COOKIE = "loopline_session"
_SESSION_CACHE_TTL_S = 5.0
_USER_COLUMNS = [
    "org_id",
    "id",
    "email",
    "name",
    "role",
    "password_hash",
    "created",
    "_version",
    "_is_deleted",
]
_SESSION_COLUMNS = [
    "token_hash",
    "id",
    "org_id",
    "user_id",
    "csrf",
    "created",
    "expires",
    "revoked",
    "_version",
]
_INVITE_COLUMNS = [
    "token_hash",
    "id",
    "org_id",
    "email",
    "role",
    "created_by",
    "created",
    "expires",
    "used",
    "_version",
]


def _now() -> datetime:
    return datetime.now(UTC)


def _version() -> int:
    return time.time_ns()


def _utc(t: datetime) -> datetime:
    """ClickHouse answers naive datetimes (in UTC)."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class User:
    org_id: str
    id: str
    email: str
    name: str
    role: Role
    created: datetime
    password_hash: str = ""


@dataclass(frozen=True)
class Session:
    id: str
    org_id: str
    user_id: str
    csrf: str
    expires: datetime


@dataclass(frozen=True)
class Invitation:
    id: str
    org_id: str
    email: str
    role: Role
    expires: datetime


class UserStore:
    def __init__(self, store: Store, session_ttl_s: float = 7 * 86400) -> None:
        self.store = store
        self.session_ttl = timedelta(seconds=session_ttl_s)
        self._session_cache: dict[str, tuple[float, Session | None]] = {}
        self._user_cache: dict[str, tuple[float, User | None]] = {}
        self._lock = asyncio.Lock()  # creating users and using invitations: one at a time
        self.clock = _now  # what "now" is for session expiry (tests move it)

    # users

    async def _users(self, where: str, params: dict[str, object]) -> list[User]:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT org_id, id, email, name, role, created, password_hash "
                f"FROM {{db}}.users FINAL WHERE {where} ORDER BY created, id"
            ),
            params,
        )
        return [User(**r) for r in rows]

    async def list_users(self, org_id: str) -> list[User]:
        return await self._users("org_id = {o:String}", {"o": org_id})

    async def get_user(self, org_id: str, user_id: str) -> User | None:
        found = await self._users("org_id = {o:String} AND id = {i:String}", {"o": org_id, "i": user_id})
        return found[0] if found else None

    async def cached_user(self, org_id: str, user_id: str) -> User | None:
        """`get_user`, cached a few seconds (changes made in this process apply at once)."""
        hit = self._user_cache.get(user_id)
        mono = time.monotonic()
        if hit is None or mono - hit[0] >= _SESSION_CACHE_TTL_S:
            if len(self._user_cache) > 10_000:
                self._user_cache.clear()
            hit = (mono, await self.get_user(org_id, user_id))
            self._user_cache[user_id] = hit
        u = hit[1]
        return u if u is not None and u.org_id == org_id else None

    async def by_email(self, email: str) -> User | None:
        found = await self._users("email = {e:String}", {"e": normalize_email(email)})
        return found[0] if found else None

    async def count_owners(self, org_id: str) -> int:
        return sum(1 for u in await self.list_users(org_id) if u.role == "owner")

    async def create_user(
        self, org_id: str, email: str, role: Role, password_hash: str, name: str = ""
    ) -> User:
        """A new user; raises `ValueError` when the email is taken (in any org)."""
        async with self._lock:
            return await self._create_user_locked(org_id, email, role, password_hash, name)

    async def _create_user_locked(
        self, org_id: str, email: str, role: Role, password_hash: str, name: str
    ) -> User:
        email = normalize_email(email)
        if await self.by_email(email) is not None:
            raise ValueError(f"a user with the email {email!r} already exists")
        user = User(org_id, str(uuid.uuid4()), email, name, role, _now(), password_hash)
        await self._write_user(user)
        return user

    async def _write_user(self, u: User, deleted: bool = False) -> None:
        await self.store.insert(
            "users",
            [[u.org_id, u.id, u.email, u.name, u.role, u.password_hash, u.created, _version(), int(deleted)]],
            _USER_COLUMNS,
        )
        self._user_cache.pop(u.id, None)

    async def update_user(self, user: User, *, role: Role | None = None, name: str | None = None) -> User:
        updated = User(
            user.org_id,
            user.id,
            user.email,
            user.name if name is None else name,
            user.role if role is None else role,
            user.created,
            user.password_hash,
        )
        await self._write_user(updated)
        return updated

    async def delete_user(self, user: User) -> None:
        await self._write_user(user, deleted=True)
        await self.revoke_sessions_of(user.id)

    # sessions

    async def create_session(self, user: User) -> tuple[str, Session]:
        """A new session for `user`: (the cookie's token, the session)."""
        token = secrets.token_urlsafe(32)
        now = _now()
        s = Session(
            str(uuid.uuid4()), user.org_id, user.id, secrets.token_urlsafe(24), now + self.session_ttl
        )
        await self.store.insert(
            "sessions",
            [[token_hash(token), s.id, s.org_id, s.user_id, s.csrf, now, s.expires, None, _version()]],
            _SESSION_COLUMNS,
        )
        return token, s

    async def session(self, token: str) -> Session | None:
        """The live session of a cookie's token (cached a few seconds; logout clears it here)."""
        h = token_hash(token)
        hit = self._session_cache.get(h)
        mono = time.monotonic()
        if hit is None or mono - hit[0] >= _SESSION_CACHE_TTL_S:
            rows = await self.store.query_dicts(
                self.store.sql(
                    "SELECT id, org_id, user_id, csrf, expires, revoked FROM {db}.sessions FINAL "
                    "WHERE token_hash = {h:String}"
                ),
                {"h": h},
            )
            found = (
                Session(r["id"], r["org_id"], r["user_id"], r["csrf"], _utc(r["expires"]))
                for r in rows
                if r["revoked"] is None
            )
            if len(self._session_cache) > 10_000:
                self._session_cache.clear()
            hit = (mono, next(found, None))
            self._session_cache[h] = hit
        s = hit[1]
        if s is None or s.expires <= self.clock():
            return None
        return s

    async def revoke_session(self, token: str) -> None:
        h = token_hash(token)
        await self._revoke_sessions("token_hash = {h:String}", {"h": h})

    async def revoke_sessions_of(self, user_id: str) -> None:
        await self._revoke_sessions("user_id = {u:String}", {"u": user_id})

    async def _revoke_sessions(self, where: str, params: dict[str, object]) -> None:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT token_hash, id, org_id, user_id, csrf, created, expires FROM {db}.sessions FINAL "
                f"WHERE {where} AND revoked IS NULL"
            ),
            params,
        )
        self._session_cache.clear()
        if not rows:
            return
        now = _now()
        await self.store.insert("sessions", [[*r.values(), now, _version()] for r in rows], _SESSION_COLUMNS)

    # invitations

    async def invite(
        self, org_id: str, role: Role, email: str = "", created_by: str = "", ttl_s: float = 7 * 86400
    ) -> tuple[str, Invitation]:
        """A one-time invitation: (its token, shown once; the invitation)."""
        token = secrets.token_urlsafe(32)
        now = _now()
        inv = Invitation(
            str(uuid.uuid4()), org_id, normalize_email(email), role, now + timedelta(seconds=ttl_s)
        )
        await self.store.insert(
            "invitations",
            [
                [
                    token_hash(token),
                    inv.id,
                    org_id,
                    inv.email,
                    role,
                    created_by,
                    now,
                    inv.expires,
                    None,
                    _version(),
                ]
            ],
            _INVITE_COLUMNS,
        )
        return token, inv

    async def pending_invitations(self, org_id: str) -> list[Invitation]:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT id, org_id, email, role, expires FROM {db}.invitations FINAL "
                "WHERE org_id = {o:String} AND used IS NULL AND expires > now64(6) ORDER BY created"
            ),
            {"o": org_id},
        )
        return [Invitation(**r) for r in rows]

    async def accept(self, token: str, email: str, password_hash: str, name: str = "") -> User:
        """Use an invitation once: the new user. Raises `LookupError` for an unknown, used or
        expired token, `ValueError` for an email the invitation is not for or that is taken."""
        async with self._lock:
            rows = await self.store.query_dicts(
                self.store.sql(
                    "SELECT token_hash, id, org_id, email, role, created_by, created, expires, used "
                    "FROM {db}.invitations FINAL WHERE token_hash = {h:String}"
                ),
                {"h": token_hash(token)},
            )
            if not rows or rows[0]["used"] is not None or _utc(rows[0]["expires"]) <= _now():
                raise LookupError("this invitation is unknown, already used or expired")
            inv = rows[0]
            if inv["email"] and normalize_email(email) != inv["email"]:
                raise ValueError("this invitation is for another email address")
            user = await self._create_user_locked(inv["org_id"], email, inv["role"], password_hash, name)
            inv.pop("used")
            await self.store.insert("invitations", [[*inv.values(), _now(), _version()]], _INVITE_COLUMNS)
            return user
