"""Encryption at rest of org provider secrets: AES-256-GCM under one master key.

Key management: the key is `LOOPLINE_AI_SECRETS_KEY` (URL-safe base64 of 32 random bytes) when
set; otherwise a key generated on first start into `<data_dir>/ai_secrets.key` (mode 0600) and
reused after. Every process that reads the same store must use the same key (a distributed
deployment sets the variable from its secret manager). Each ciphertext carries a fresh 96-bit
nonce and is bound (GCM associated data) to its org and secret id, so a row copied to another
org or secret does not decrypt. `key_id` (a digest prefix of the key) is stored with each value,
so a wrong or rotated key is reported as such instead of as garbage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "ai_secrets.key"
_PREFIX = "v1."


class SecretKeyError(ValueError):
    """The configured key is unusable (not base64 of 32 bytes, unreadable file)."""


class SecretDecryptError(ValueError):
    """A stored value does not decrypt with this key for this org and secret."""


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SecretKeyError(f"{source} is not URL-safe base64") from exc
    if len(key) != 32:
        raise SecretKeyError(f"{source} must decode to 32 bytes (AES-256), got {len(key)}")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretKeyError("the AI secrets key must be 32 bytes")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"loopline-ai-secrets:" + key).hexdigest()[:12]
        self._derive_root = hashlib.sha256(b"loopline-derive:" + key).digest()

    @classmethod
    def from_config(cls, key_text: str, data_dir: Path) -> SecretBox:
        """The key from settings, else from (or generated into) `<data_dir>/ai_secrets.key`."""
        if key_text:
            return cls(_decode_key(key_text, "LOOPLINE_AI_SECRETS_KEY"))
        path = Path(data_dir) / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, (new_key_text() + "\n").encode())
            finally:
                os.close(fd)
        try:
            text = path.read_text()
        except OSError as exc:
            raise SecretKeyError(f"cannot read the AI secrets key file {path}: {exc}") from exc
        return cls(_decode_key(text, str(path)))

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key of its own for `purpose` (e.g. signing URLs), the same in every process
        that shares this key, and revealing nothing about it."""
        return hmac.new(self._derive_root, purpose.encode(), hashlib.sha256).digest()

    def seal(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(12)
        ct = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + ct).decode()

    def open(self, token: str, context: str) -> str:
        if not token.startswith(_PREFIX):
            raise SecretDecryptError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SecretDecryptError("the value does not decrypt with this key for this secret") from exc


def preview(secret: str) -> str:
    """What may be shown of a secret: never more than its first and last four characters."""
    if len(secret) >= 20:
        return f"{secret[:4]}…{secret[-4:]}"
    if len(secret) >= 8:
        return f"…{secret[-2:]}"
    return "…"
