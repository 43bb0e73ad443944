"""Org AI provider secrets in Braintrust's `/v1/ai_secret` shape (owner of `ai_secrets`).

Secret values are sealed with the `SecretBox` before they reach the store and are never returned:
objects carry `preview_secret` (at most the first and last four characters). Every read and
write is scoped by the caller's org id; an id of another org is "not found".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.errors import Conflict, Invalid, NotFound
from loopline.common.store import Store
from loopline.evaluator.secret_box import SecretBox, SecretDecryptError, preview

# Braintrust's secret types (spec §7); the ones the provider layer can call are in providers.py
SECRET_TYPES = (
    "openai",
    "azure",
    "anthropic",
    "google",
    "vertex",
    "bedrock",
    "mistral",
    "databricks",
    "together",
    "fireworks",
    "perplexity",
    "xAI",
    "groq",
    "lepton",
    "cerebras",
    "ollama",
    "replicate",
    "baseten",
    "js",
)
MAX_NAME = 256
MAX_SECRET_BYTES = 16 * 1024
MAX_METADATA_BYTES = 64 * 1024

COLUMNS = [
    "org_id",
    "id",
    "name",
    "type",
    "metadata",
    "secret_enc",
    "key_id",
    "preview",
    "created",
    "updated_at",
    "secret_updated_at",
    "secret_updated_by",
    "_version",
    "_is_deleted",
]


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class StoredSecret:
    org_id: str
    id: str
    name: str
    type: str
    metadata: dict[str, Any] | None
    secret_enc: str
    key_id: str
    preview: str
    created: datetime
    updated_at: datetime
    secret_updated_at: datetime | None
    secret_updated_by: str

    def public(self) -> dict[str, Any]:
        """The AISecret object of the API: everything but the secret."""
        return {
            "id": self.id,
            "org_id": self.org_id,
            "name": self.name,
            "type": self.type or None,
            "metadata": self.metadata,
            "preview_secret": self.preview or None,
            "created": _iso(self.created),
            "updated_at": _iso(self.updated_at),
            "secret_updated_at": _iso(self.secret_updated_at),
            "secret_updated_by_user_id": self.secret_updated_by or None,
        }

    def row(self, version: int, deleted: int = 0) -> list[Any]:
        meta = orjson.dumps(self.metadata).decode() if self.metadata is not None else ""
        return [
            self.org_id,
            self.id,
            self.name,
            self.type,
            meta,
            self.secret_enc,
            self.key_id,
            self.preview,
            self.created,
            self.updated_at,
            self.secret_updated_at,
            self.secret_updated_by,
            version,
            deleted,
        ]


@dataclass(frozen=True)
class Revealed:
    """A secret with its value, for calling the provider (never serialised to a client)."""

    name: str
    type: str
    secret: str
    metadata: Mapping[str, Any]


def _validate(body: Mapping[str, Any], *, partial: bool) -> None:
    name = body.get("name")
    if not partial or "name" in body:
        if not isinstance(name, str) or not name.strip():
            raise Invalid("name must be a non-empty string", field="name")
        if len(name) > MAX_NAME:
            raise Invalid(f"name is longer than {MAX_NAME} characters", field="name")
    stype = body.get("type")
    if stype is not None and stype not in SECRET_TYPES:
        raise Invalid(f"type {stype!r} is not one of: {', '.join(SECRET_TYPES)}", field="type")
    secret = body.get("secret")
    if secret is not None:
        if not isinstance(secret, str):
            raise Invalid("secret must be a string", field="secret")
        if len(secret.encode()) > MAX_SECRET_BYTES:
            raise Invalid(f"secret is larger than {MAX_SECRET_BYTES} bytes", field="secret")
    meta = body.get("metadata")
    if meta is not None:
        if not isinstance(meta, dict):
            raise Invalid("metadata must be an object or null", field="metadata")
        if len(orjson.dumps(meta)) > MAX_METADATA_BYTES:
            raise Invalid(f"metadata is larger than {MAX_METADATA_BYTES} bytes", field="metadata")


class AiSecretStore:
    def __init__(self, store: Store, box: SecretBox) -> None:
        self.store = store
        self.box = box
        # org id -> monotonic time of its last local write (readers cache by it)
        self.changed: dict[str, float] = {}

    def _context(self, org_id: str, secret_id: str) -> str:
        return f"{org_id}/{secret_id}"

    async def _select(
        self, org_id: str, where: str = "", params: Mapping[str, Any] | None = None
    ) -> list[StoredSecret]:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT org_id, id, name, type, metadata, secret_enc, key_id, preview, created, updated_at, "
                "secret_updated_at, secret_updated_by FROM {db}.ai_secrets FINAL "
                f"WHERE org_id = {{o:String}} {where} ORDER BY created, id"
            ),
            {"o": org_id, **(params or {})},
        )
        out = []
        for r in rows:
            meta = orjson.loads(r["metadata"]) if r["metadata"] else None
            out.append(StoredSecret(**{**r, "metadata": meta}))
        return out

    async def _write(self, s: StoredSecret, deleted: int = 0) -> None:
        await self.store.insert("ai_secrets", [s.row(time.time_ns(), deleted)], COLUMNS)
        self.changed[s.org_id] = time.monotonic()

    async def find(
        self,
        org_id: str,
        *,
        name: str | None = None,
        types: Sequence[str] = (),
        ids: Sequence[str] = (),
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> list[StoredSecret]:
        where = ""
        params: dict[str, Any] = {}
        if name is not None:
            where += " AND name = {n:String}"
            params["n"] = name
        if types:
            where += " AND type IN {t:Array(String)}"
            params["t"] = list(types)
        if ids:
            where += " AND id IN {i:Array(String)}"
            params["i"] = list(ids)
        found = await self._select(org_id, where, params)
        if starting_after is not None:
            at = next((i for i, s in enumerate(found) if s.id == starting_after), None)
            if at is None:
                raise Invalid("starting_after names no secret of this organization", field="starting_after")
            found = found[at + 1 :]
        if ending_before is not None:
            at = next((i for i, s in enumerate(found) if s.id == ending_before), None)
            if at is None:
                raise Invalid("ending_before names no secret of this organization", field="ending_before")
            found = found[:at]
        return found[:limit] if limit is not None else found

    async def get(self, org_id: str, secret_id: str) -> StoredSecret:
        found = await self._select(org_id, "AND id = {i:String}", {"i": secret_id})
        if not found:
            raise NotFound(f"no AI secret {secret_id!r} in this organization", field="id")
        return found[0]

    async def by_name(self, org_id: str, name: str) -> StoredSecret | None:
        found = await self._select(org_id, "AND name = {n:String}", {"n": name})
        return found[0] if found else None

    def _sealed(self, org_id: str, secret_id: str, secret: str | None) -> tuple[str, str, str]:
        if secret is None or secret == "":
            return "", "", ""
        return self.box.seal(secret, self._context(org_id, secret_id)), self.box.key_id, preview(secret)

    def _revised(self, cur: StoredSecret, fields: Mapping[str, Any], user_id: str) -> StoredSecret:
        """`cur` with the given fields changed; a given `secret` is sealed anew, else the stored
        value is kept."""
        now = datetime.now(UTC)
        changes: dict[str, Any] = {"updated_at": now}
        if fields.get("name") is not None:
            changes["name"] = str(fields["name"])
        if "type" in fields:
            changes["type"] = str(fields["type"] or "")
        if "metadata" in fields:
            changes["metadata"] = fields["metadata"]
        secret = fields.get("secret")
        if secret is not None:
            enc, key_id, prev = self._sealed(cur.org_id, cur.id, secret)
            changes.update(
                secret_enc=enc,
                key_id=key_id,
                preview=prev,
                secret_updated_at=now if enc else None,
                secret_updated_by=user_id if enc else "",
            )
        return replace(cur, **changes)

    async def create(
        self, org_id: str, body: Mapping[str, Any], user_id: str = "", *, replace: bool = False
    ) -> StoredSecret:
        """POST: a new secret, or the existing one of that name unmodified. PUT (`replace`):
        create, or replace type and metadata (and the value, only when `secret` is given)."""
        _validate(body, partial=False)
        name = str(body["name"])
        existing = await self.by_name(org_id, name)
        if existing is not None and not replace:
            return existing
        if existing is None:
            now = datetime.now(UTC)
            existing = StoredSecret(org_id, str(uuid.uuid4()), name, "", None, "", "", "", now, now, None, "")
        fields = {"type": body.get("type"), "metadata": body.get("metadata"), "secret": body.get("secret")}
        updated = self._revised(existing, fields, user_id)
        await self._write(updated)
        return updated

    async def patch(
        self, org_id: str, secret_id: str, body: Mapping[str, Any], user_id: str = ""
    ) -> StoredSecret:
        _validate(body, partial=True)
        cur = await self.get(org_id, secret_id)
        name = body.get("name")
        if name is not None and name != cur.name and await self.by_name(org_id, str(name)) is not None:
            raise Conflict(f"an AI secret named {name!r} already exists", field="name")
        updated = self._revised(cur, body, user_id)
        await self._write(updated)
        return updated

    async def delete(self, org_id: str, secret_id: str) -> StoredSecret:
        cur = await self.get(org_id, secret_id)
        await self._write(cur, deleted=1)
        return cur

    async def delete_by_name(self, org_id: str, name: str) -> StoredSecret:
        cur = await self.by_name(org_id, name)
        if cur is None:
            raise NotFound(f"no AI secret named {name!r} in this organization", field="name")
        await self._write(cur, deleted=1)
        return cur

    async def revealed(self, org_id: str) -> tuple[list[Revealed], list[str]]:
        """The org's secrets with their values, and a problem line per secret that does not
        decrypt (wrong or rotated key): callers say why a provider is missing."""
        out: list[Revealed] = []
        problems: list[str] = []
        for s in await self._select(org_id):
            value = ""
            if s.secret_enc:
                try:
                    value = self.box.open(s.secret_enc, self._context(org_id, s.id))
                except SecretDecryptError:
                    problems.append(
                        f"AI secret {s.name!r} was sealed with key {s.key_id!r} and does not decrypt with "
                        f"this server's key {self.box.key_id!r} (see LOOPLINE_AI_SECRETS_KEY)"
                    )
                    continue
            out.append(Revealed(s.name, s.type, value, s.metadata or {}))
        return out, problems
