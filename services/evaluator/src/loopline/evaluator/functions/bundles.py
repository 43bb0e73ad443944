"""Code bundles that `braintrust push` uploads (owner of `function_bundles`).

`POST /function/code` hands the SDK a bundle id and an upload URL on Loopline,
`{base}/function/bundle/{token}`: the token is signed (HMAC with a key derived from the AI-secrets
key, so every evaluator sharing the store accepts it), names one org and one bundle, expires, and
is the only authorisation of that PUT (the SDK sends no API key there). A bundle is uploaded once;
it is stored in the store in chunks (so every evaluator process can read it) and cached as a file
under the data dir by the process that reads it (`BundleStore.get`, for the runtime).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from loopline.common.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from loopline.common.store import Store

CHUNK_BYTES = 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")


class BadBundleUrl(Forbidden):
    """An upload URL that is forged, expired or malformed (HTTP 403)."""


@dataclass(frozen=True)
class UploadGrant:
    org_id: str
    bundle_id: str
    runtime: str
    expires: int


class BundleSigner:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, payload: bytes) -> bytes:
        return base64.urlsafe_b64encode(hmac.new(self.key, payload, hashlib.sha256).digest()[:24]).rstrip(
            b"="
        )

    def sign(self, grant: UploadGrant) -> str:
        doc = {"o": grant.org_id, "b": grant.bundle_id, "r": grant.runtime, "e": grant.expires}
        payload = base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=")
        return (payload + b"." + self._mac(payload)).decode()

    def verify(self, token: str) -> UploadGrant:
        try:
            payload, mac = token.encode().split(b".", 1)
            if not hmac.compare_digest(mac, self._mac(payload)):
                raise ValueError("bad signature")
            d = orjson.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
            grant = UploadGrant(str(d["o"]), str(d["b"]), str(d["r"]), int(d["e"]))
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise BadBundleUrl("this bundle upload URL is not valid (forged or damaged)") from None
        if grant.expires < time.time():
            raise BadBundleUrl("this bundle upload URL has expired: run `braintrust push` again")
        return grant


def check_bundle_id(bundle_id: str) -> str:
    if not _ID.match(bundle_id):
        raise Invalid(f"bundle id {bundle_id!r} is not valid", field="bundle_id")
    return bundle_id


class BundleStore:
    def __init__(
        self, store: Store, signer: BundleSigner, cache_dir: Path, *, max_bytes: int, url_seconds: int
    ) -> None:
        self.store = store
        self.signer = signer
        self.cache_dir = cache_dir
        self.max_bytes = max_bytes
        self.url_seconds = url_seconds

    def new_upload(self, org_id: str, runtime: str, base_url: str) -> tuple[str, str]:
        """(bundle id, upload URL) for one new bundle of `org_id`."""
        bundle_id = secrets.token_hex(16)
        grant = UploadGrant(org_id, bundle_id, runtime, int(time.time()) + self.url_seconds)
        return bundle_id, f"{base_url.rstrip('/')}/function/bundle/{self.signer.sign(grant)}"

    async def exists(self, org_id: str, bundle_id: str) -> bool:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT count() AS n FROM {db}.function_bundles WHERE org_id = {o:String} AND bundle_id = {b:String}"
            ),
            {"o": org_id, "b": bundle_id},
        )
        return bool(rows and rows[0]["n"])

    async def put(self, grant: UploadGrant, data: bytes) -> str:
        """Store the bundle a verified grant allows; returns its sha256. Once per bundle."""
        if len(data) > self.max_bytes:
            raise TooLarge(f"the bundle is {len(data)} bytes; at most {self.max_bytes} are accepted")
        if not data:
            raise Invalid("the bundle is empty", field="body")
        if await self.exists(grant.org_id, grant.bundle_id):
            raise Conflict(f"bundle {grant.bundle_id!r} was already uploaded", field="bundle_id")
        digest = hashlib.sha256(data).hexdigest()
        n = max(1, -(-len(data) // CHUNK_BYTES))
        now = datetime.now(UTC)
        rows = [
            [
                grant.org_id,
                grant.bundle_id,
                i,
                n,
                len(data),
                digest,
                grant.runtime,
                base64.b64encode(data[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES]).decode(),
                now,
            ]
            for i in range(n)
        ]
        cols = ["org_id", "bundle_id", "seq", "chunks", "size", "sha256", "runtime", "chunk", "created"]
        for start in range(0, n, 8):  # a few MB per insert
            await self.store.insert("function_bundles", rows[start : start + 8], cols)
        return digest

    def _cache_path(self, org_id: str, bundle_id: str) -> Path:
        key = hashlib.sha256(f"{org_id}\0{bundle_id}".encode()).hexdigest()
        return self.cache_dir / f"{key}.zip"

    async def get(self, org_id: str, bundle_id: str) -> bytes:
        """The zip of bundle `bundle_id` of `org_id` (NotFound for another org's bundle)."""
        check_bundle_id(bundle_id)
        path = self._cache_path(org_id, bundle_id)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            pass
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT seq, chunks, sha256, chunk FROM {db}.function_bundles FINAL "
                "WHERE org_id = {o:String} AND bundle_id = {b:String} ORDER BY seq"
            ),
            {"o": org_id, "b": bundle_id},
        )
        if not rows:
            raise NotFound(f"no code bundle {bundle_id!r} in this organization", field="bundle_id")
        if len(rows) != rows[0]["chunks"]:
            raise NotFound(f"code bundle {bundle_id!r} is incomplete", field="bundle_id")
        data = b"".join(base64.b64decode(r["chunk"]) for r in rows)
        if hashlib.sha256(data).hexdigest() != rows[0]["sha256"]:
            raise NotFound(f"code bundle {bundle_id!r} is damaged (checksum mismatch)", field="bundle_id")

        def cache() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)

        await asyncio.to_thread(cache)
        return data
