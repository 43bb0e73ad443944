"""Blob storage for attachments and overflow payloads, reached through self-authorising URLs.

The SDK uploads and downloads with plain HTTP to a URL we hand it, without its API key
(protocol spec §2.4, §2.7). Locally (embedded) blobs live in a directory and the URL is
`{base}/blob/{token}`, where the token is an HMAC-signed (key, method, expiry) triple; with an
S3-compatible store the URL is the store's own presigned URL.
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
from pathlib import Path
from typing import Protocol

import orjson
from loopline.common.errors import Forbidden, Invalid, NotFound, Problem

_SAFE_KEY = re.compile(r"^[A-Za-z0-9._\-/]{1,512}$")


class BlobError(Problem):
    """A blob that cannot be stored, read or reached (its kind says why; no HTTP here)."""


class NoSuchBlob(BlobError, NotFound):
    """No blob under that key."""


class BadBlobKey(BlobError, Invalid):
    """A key outside the safe alphabet, or with a `..` segment."""


class BadSignedUrl(BlobError, Forbidden):
    """A signed URL that is forged, expired, or for another method."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    def upload_url(self, key: str, base_url: str, content_type: str) -> tuple[str, dict[str, str]]: ...
    def download_url(self, key: str, base_url: str) -> str: ...


def check_key(key: str) -> str:
    if not _SAFE_KEY.match(key) or ".." in key.split("/"):
        raise BadBlobKey(f"invalid blob key {key!r}: use letters, digits, '.', '_', '-' and '/'")
    return key


@dataclass(frozen=True)
class SignedToken:
    key: str
    method: str
    expires: int


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def sign(self, key: str, method: str, ttl_s: int = 3600) -> str:
        payload = base64.urlsafe_b64encode(
            orjson.dumps({"k": key, "m": method, "e": int(time.time()) + ttl_s})
        ).rstrip(b"=")
        sig = base64.urlsafe_b64encode(hmac.new(self.secret, payload, hashlib.sha256).digest()[:20]).rstrip(
            b"="
        )
        return (payload + b"." + sig).decode()

    def verify(self, token: str, method: str) -> SignedToken:
        try:
            payload, sig = token.encode().split(b".", 1)
            want = base64.urlsafe_b64encode(
                hmac.new(self.secret, payload, hashlib.sha256).digest()[:20]
            ).rstrip(b"=")
            if not hmac.compare_digest(sig, want):
                raise ValueError("bad signature")
            d = orjson.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
            t = SignedToken(str(d["k"]), str(d["m"]), int(d["e"]))
        except (ValueError, KeyError, orjson.JSONDecodeError) as exc:
            raise BadSignedUrl("invalid signed URL") from exc
        if t.expires < time.time():
            raise BadSignedUrl("signed URL expired")
        if t.method != method and not (t.method == "PUT" and method == "POST"):
            raise BadSignedUrl(f"signed URL is for {t.method}, not {method}")
        return t


def load_or_create_secret(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    path.write_bytes(secret)
    os.chmod(path, 0o600)
    return secret


class LocalBlobStore:
    """Blobs as files under a directory (embedded mode)."""

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root
        self.signer = signer
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NoSuchBlob(f"no blob {key!r}") from exc

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def upload_url(self, key: str, base_url: str, content_type: str) -> tuple[str, dict[str, str]]:
        check_key(key)
        return f"{base_url.rstrip('/')}/blob/{self.signer.sign(key, 'PUT')}", {"Content-Type": content_type}

    def download_url(self, key: str, base_url: str) -> str:
        check_key(key)
        return f"{base_url.rstrip('/')}/blob/{self.signer.sign(key, 'GET')}"


def blob_store_from_url(url: str, signer: UrlSigner) -> BlobStore:
    """`file:///dir` (embedded) or `s3://bucket/prefix` (S3-compatible, see s3_blobs)."""
    if url.startswith("file://"):
        return LocalBlobStore(Path(url.removeprefix("file://")), signer)
    if url.startswith("s3://"):
        from loopline.ingest.s3_blobs import S3BlobStore

        return S3BlobStore.from_url(url)
    raise ValueError(f"unsupported blob URL {url!r}: use file:///dir or s3://bucket/prefix")
