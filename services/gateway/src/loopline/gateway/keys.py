"""Organizations and API keys. Keys are stored as SHA-256 hashes and shown once, at creation.

A key belongs to a user (`user_id`: it acts with that user's current role, and stops working
when the user is removed) or to a service account (no user: it carries its own `role`; keys
made before users existed are owner-level service keys of their org)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from loopline.common.auth import Principal, Role
from loopline.common.store import Store

KEY_PREFIX = "sk-ll-"
_KEY_COLUMNS = [
    "org_id",
    "id",
    "name",
    "prefix",
    "key_hash",
    "user_id",
    "role",
    "created",
    "revoked",
    "_version",
]
_CACHE_TTL_S = 10.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30).replace("-", "A").replace("_", "b")


def key_display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 6]


def _now() -> datetime:
    return datetime.now(UTC)


def _version() -> int:
    return time.time_ns()


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    org_id: str
    name: str
    prefix: str
    created: datetime
    revoked: datetime | None
    user_id: str = ""
    role: str = "owner"


class KeyStore:
    """Owner of the `orgs` and `api_keys` tables."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def ensure_org(self, name: str) -> str:
        rows = await self.store.query_dicts(
            self.store.sql("SELECT id FROM {db}.orgs FINAL WHERE name = {n:String} ORDER BY created LIMIT 1"),
            {"n": name},
        )
        if rows:
            return str(rows[0]["id"])
        org_id = str(uuid.uuid4())
        await self.store.insert(
            "orgs", [[org_id, name, _now(), _version()]], ["id", "name", "created", "_version"]
        )
        return org_id

    async def find_org(self, name: str) -> str | None:
        """The id of the org with this name, without creating it."""
        rows = await self.store.query_dicts(
            self.store.sql("SELECT id FROM {db}.orgs FINAL WHERE name = {n:String} ORDER BY created LIMIT 1"),
            {"n": name},
        )
        return str(rows[0]["id"]) if rows else None

    async def org_name(self, org_id: str) -> str | None:
        rows = await self.store.query_dicts(
            self.store.sql("SELECT name FROM {db}.orgs FINAL WHERE id = {i:String}"), {"i": org_id}
        )
        return str(rows[0]["name"]) if rows else None

    async def register_key(
        self, org_id: str, key: str, name: str, user_id: str = "", role: Role = "owner"
    ) -> ApiKeyInfo:
        info = ApiKeyInfo(
            str(uuid.uuid4()), org_id, name, key_display_prefix(key), _now(), None, user_id, role
        )
        await self.store.insert(
            "api_keys",
            [
                [
                    org_id,
                    info.id,
                    name,
                    info.prefix,
                    hash_key(key),
                    user_id,
                    role,
                    info.created,
                    None,
                    _version(),
                ]
            ],
            _KEY_COLUMNS,
        )
        self._cache.pop(hash_key(key), None)
        return info

    async def create_key(
        self, org_id: str, name: str, user_id: str = "", role: Role = "owner"
    ) -> tuple[str, ApiKeyInfo]:
        key = new_key()
        return key, await self.register_key(org_id, key, name, user_id, role)

    async def has_key(self, key: str) -> bool:
        return await self._lookup(hash_key(key)) is not None

    async def list_keys(self, org_id: str | None = None) -> list[ApiKeyInfo]:
        where = "WHERE org_id = {o:String}" if org_id else ""
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT id, org_id, name, prefix, created, revoked, user_id, role "
                f"FROM {{db}}.api_keys FINAL {where} ORDER BY created"
            ),
            {"o": org_id} if org_id else None,
        )
        return [ApiKeyInfo(**r) for r in rows]

    async def get_key(self, org_id: str, key_id: str) -> ApiKeyInfo | None:
        """An active key of this org by id (revoked keys and other orgs' keys are None)."""
        for k in await self.list_keys(org_id):
            if k.id == key_id and k.revoked is None:
                return k
        return None

    async def matching(self, id_or_prefix: str, org_id: str | None = None) -> list[ApiKeyInfo]:
        """Active keys whose id equals, or whose display prefix starts with, `id_or_prefix`."""
        if not id_or_prefix:
            return []
        return [
            k
            for k in await self.list_keys(org_id)
            if k.revoked is None and (k.id == id_or_prefix or k.prefix.startswith(id_or_prefix))
        ]

    async def revoke_key(self, org_id: str, key_id: str) -> ApiKeyInfo | None:
        """Revoke one active key of this org by its exact id; None if there is no such key."""
        k = await self.get_key(org_id, key_id)
        if k is None:
            return None
        await self._revoke([k])
        return k

    async def revoke(self, id_or_prefix: str, org_id: str | None = None) -> list[ApiKeyInfo]:
        """Revoke keys matching an id or a display prefix; returns what was revoked."""
        matches = await self.matching(id_or_prefix, org_id)
        await self._revoke(matches)
        return matches

    async def _revoke(self, matches: list[ApiKeyInfo]) -> None:
        if not matches:
            return
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT org_id, id, name, prefix, key_hash, user_id, role, created FROM {db}.api_keys FINAL "
                "WHERE id IN {ids:Array(String)}"
            ),
            {"ids": [k.id for k in matches]},
        )
        now = _now()
        await self.store.insert(
            "api_keys",
            [[*r.values(), now, _version()] for r in rows],
            _KEY_COLUMNS,
        )
        self._cache.clear()

    def forget_cached(self) -> None:
        """Drop cached key resolutions (a user's role changed or the user was removed)."""
        self._cache.clear()

    async def _lookup(self, key_hash: str) -> Principal | None:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT k.org_id AS org_id, k.id AS id, k.user_id AS user_id, k.revoked AS revoked, "
                "k.role AS role FROM {db}.api_keys AS k FINAL WHERE k.key_hash = {h:String}"
            ),
            {"h": key_hash},
        )
        if not rows or rows[0]["revoked"] is not None:
            return None
        r = rows[0]
        role = r["role"]
        if r["user_id"]:  # a user's key acts with the user's current role
            users = await self.store.query_dicts(
                self.store.sql(
                    "SELECT role FROM {db}.users FINAL WHERE id = {u:String} AND org_id = {o:String}"
                ),
                {"u": r["user_id"], "o": r["org_id"]},
            )
            if users:  # (keys of a removed user are revoked with it)
                role = users[0]["role"]
        return Principal(
            org_id=r["org_id"],
            org_name=await self.org_name(r["org_id"]) or "",
            user_id=r["user_id"],
            api_key_id=r["id"],
            role=role,
        )

    async def authenticate(self, key: str) -> Principal | None:
        """Resolve a presented key (cached briefly; revocation applies within the TTL)."""
        h = hash_key(key)
        hit = self._cache.get(h)
        now = time.monotonic()
        if hit is not None and now - hit[0] < _CACHE_TTL_S:
            return hit[1]
        principal = await self._lookup(h)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[h] = (now, principal)
        return principal
