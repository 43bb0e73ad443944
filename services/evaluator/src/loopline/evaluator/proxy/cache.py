"""The model gateway's response cache, with Braintrust's cache modes (spec §7).

* `x-bt-use-cache`: `auto` (default), `always` or `never`. In `auto`, a chat request is cached
  only when it is deterministic — `temperature` 0 or a `seed` — and embeddings and moderations
  always (they have no sampling).
* `Cache-Control`: `no-cache` or `max-age=0` skip the read, `no-store` skips the write,
  `max-age=N` refuses entries older than N seconds.
* `x-bt-cache-ttl`: how long an entry lives, 1..604800 seconds (default 7 days).
* The key is a digest of the path, the body, the caller's API key, the org and
  `x-bt-endpoint-name`; the value is AES-GCM encrypted with a key derived from that digest and
  the API key, so an entry is readable only by a request that presents the same key. Entries live
  in the store's `proxy_cache` table (shared by every replica, expired by a TTL); the most recent
  ones, still sealed, also in the process (MEMORY_ENTRIES), so a hit usually costs no store read.
* Answers carry `x-bt-cached: HIT|MISS`; hits also `cache-control: max-age=<ttl>` and `age`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from loopline.common.errors import Invalid
from loopline.common.logging import get_logger
from loopline.common.store import Store, StoreError

log = get_logger(__name__)

DEFAULT_TTL_S = 7 * 24 * 3600
MAX_TTL_S = 604_800
Op = Literal["chat", "embeddings", "moderations"]


@dataclass(frozen=True)
class CachePlan:
    """What the cache does for one request."""

    read: bool
    write: bool
    ttl_s: int
    max_age_s: int | None
    key: str  # hex digest; "" when neither read nor write
    value_key: bytes  # AES-256 key of the value

    @property
    def used(self) -> bool:
        return self.read or self.write


@dataclass(frozen=True)
class CachedAnswer:
    value: dict[str, Any]  # {"json": body} or {"sse": [chunk, ...]}
    age_s: int
    ttl_s: int


def _cache_control(headers: Mapping[str, str]) -> tuple[bool, bool, int | None]:
    """(skip read, skip write, max age) from Cache-Control."""
    skip_read = skip_write = False
    max_age: int | None = None
    for part in headers.get("cache-control", "").lower().split(","):
        d = part.strip()
        if d == "no-cache":
            skip_read = True
        elif d == "no-store":
            skip_write = True
        elif d.startswith("max-age="):
            try:
                max_age = max(0, int(d[8:]))
            except ValueError as exc:
                raise Invalid(
                    "Cache-Control max-age must be a whole number of seconds", header="cache-control"
                ) from exc
            if max_age == 0:
                skip_read = True
    return skip_read, skip_write, max_age


def plan(
    op: Op, path: str, body: Mapping[str, Any], headers: Mapping[str, str], auth_token: str, org_id: str
) -> CachePlan:
    mode = headers.get("x-bt-use-cache", "auto").strip().lower() or "auto"
    if mode not in ("auto", "always", "never"):
        raise Invalid("x-bt-use-cache must be auto, always or never", header="x-bt-use-cache")
    raw_ttl = headers.get("x-bt-cache-ttl")
    ttl = DEFAULT_TTL_S
    if raw_ttl is not None:
        try:
            ttl = int(raw_ttl)
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= MAX_TTL_S:
            raise Invalid(f"x-bt-cache-ttl must be 1..{MAX_TTL_S} seconds", header="x-bt-cache-ttl")
    skip_read, skip_write, max_age = _cache_control(headers)
    if mode == "never":
        use = False
    elif mode == "always" or op != "chat":
        use = True
    else:
        use = body.get("temperature") == 0 or body.get("seed") is not None
    if not use:
        return CachePlan(False, False, ttl, max_age, "", b"")
    material = orjson.dumps(
        {
            "path": path,
            "body": body,
            "org": org_id,
            "endpoint": headers.get("x-bt-endpoint-name", ""),
            "token": hashlib.sha256(auth_token.encode()).hexdigest(),
        },
        option=orjson.OPT_SORT_KEYS,
    )
    digest = hashlib.sha256(material).digest()
    value_key = hashlib.sha256(b"loopline-proxy-cache:" + digest + auth_token.encode()).digest()
    return CachePlan(not skip_read, not skip_write, ttl, max_age, digest.hex(), value_key)


@dataclass(frozen=True)
class _Entry:
    sealed: str  # base64(nonce + AES-GCM ciphertext), as stored
    created: datetime
    expires: datetime


MEMORY_ENTRIES = 4096  # recent entries kept in process too (sealed), in front of the store
MEMORY_VALUE_BYTES = 256 * 1024  # larger answers are only in the store


class ProxyCache:
    """Owner of the `proxy_cache` table, with the most recent entries (still sealed) also kept in
    this process. A store failure never fails a model call: it is a miss."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._recent: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def _remember(self, org_id: str, key: str, entry: _Entry) -> None:
        if len(entry.sealed) > MEMORY_VALUE_BYTES:
            return
        self._recent[(org_id, key)] = entry
        self._recent.move_to_end((org_id, key))
        while len(self._recent) > MEMORY_ENTRIES:
            self._recent.popitem(last=False)

    async def _lookup(self, org_id: str, key: str) -> _Entry | None:
        now = datetime.now(UTC)
        hit = self._recent.get((org_id, key))
        if hit is not None and hit.expires > now:
            self._recent.move_to_end((org_id, key))
            return hit
        try:
            rows = await self.store.query_dicts(
                self.store.sql(
                    "SELECT value, created, expires FROM {db}.proxy_cache FINAL "
                    "WHERE org_id = {o:String} AND key = {k:String} AND expires > now64(6) LIMIT 1"
                ),
                {"o": org_id, "k": key},
            )
        except StoreError as exc:
            log.warning("proxy cache read failed; treated as a miss", error=str(exc)[:200])
            return None
        if not rows:
            return None
        created: datetime = rows[0]["created"]
        expires: datetime = rows[0]["expires"]
        entry = _Entry(
            str(rows[0]["value"]),
            created if created.tzinfo else created.replace(tzinfo=UTC),
            expires if expires.tzinfo else expires.replace(tzinfo=UTC),
        )
        self._remember(org_id, key, entry)
        return entry

    async def get(self, org_id: str, p: CachePlan) -> CachedAnswer | None:
        if not p.read:
            return None
        entry = await self._lookup(org_id, p.key)
        if entry is None:
            return None
        now = datetime.now(UTC)
        age = max(0, int((now - entry.created).total_seconds()))
        if p.max_age_s is not None and age > p.max_age_s:
            return None
        try:
            raw = base64.b64decode(entry.sealed)
            plain = AESGCM(p.value_key).decrypt(raw[:12], raw[12:], p.key.encode())
        except (InvalidTag, ValueError):
            return None
        return CachedAnswer(orjson.loads(plain), age, max(0, int((entry.expires - now).total_seconds())))

    async def put(self, org_id: str, p: CachePlan, value: dict[str, Any]) -> None:
        if not p.write:
            return
        nonce = secrets.token_bytes(12)
        sealed = nonce + AESGCM(p.value_key).encrypt(nonce, orjson.dumps(value), p.key.encode())
        now = datetime.now(UTC)
        entry = _Entry(base64.b64encode(sealed).decode(), now, now + timedelta(seconds=p.ttl_s))
        self._remember(org_id, p.key, entry)
        try:
            await self.store.insert(
                "proxy_cache",
                [[org_id, p.key, entry.sealed, entry.created, entry.expires]],
                ["org_id", "key", "value", "created", "expires"],
            )
        except StoreError as exc:
            log.warning("proxy cache write failed", error=str(exc)[:200])
