"""Password hashing with scrypt (hashlib, memory-hard): `scrypt$n$r$p$salt$hash`, base64 parts.

Verification compares in constant time, and `verify_or_burn` spends the same work when there is
no user, so a login answers an unknown email and a wrong password in the same time. Hashing runs
on a thread (about 50 ms of CPU with the default cost): the event loop keeps serving."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1  # 16 MiB per hash
_DKLEN = 32
MIN_PASSWORD_LENGTH = 8
# a hash no password matches: what an unknown email's password is checked against
_BURN = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=_DKLEN)


def hash_password_sync(password: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(_derive(password, salt, _N, _R, _P))}"


def verify_password_sync(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_or_burn(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; with no stored hash, the same work and False."""
    ok = await asyncio.to_thread(verify_password_sync, password, stored or _BURN)
    return ok and stored is not None
