"""Conversations and their messages, in the store (the loop agent's tables), per org.

A conversation's messages are OpenAI chat messages (`user`, `assistant` with `tool_calls`,
`tool`), appended with increasing `seq`; what the agent is waiting for (tool calls of the last
assistant message without a result: a confirmation) is read from them, so a conversation resumes
as it was after a restart. Another org's conversation does not exist (`NotFound`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.auth import Principal
from loopline.common.errors import NotFound
from loopline.common.store import Store

_CONV_COLUMNS = (
    "org_id",
    "id",
    "title",
    "model",
    "auto_accept",
    "created_by",
    "created",
    "updated",
    "deleted",
    "_version",
    "disabled_tools",
)


@dataclass(frozen=True)
class Conversation:
    org_id: str
    id: str
    title: str
    model: str
    auto_accept: bool
    created_by: str
    created: datetime
    updated: datetime
    #: tools the user switched off for this conversation (the model is not offered them)
    disabled_tools: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "model": self.model,
            "auto_accept": self.auto_accept,
            "disabled_tools": list(self.disabled_tools),
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
        }


def _version() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


class ConversationStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _write(self, c: Conversation, deleted: bool = False) -> None:
        await self.store.insert(
            "loop_conversations",
            [
                [
                    c.org_id,
                    c.id,
                    c.title,
                    c.model,
                    int(c.auto_accept),
                    c.created_by,
                    c.created,
                    c.updated,
                    int(deleted),
                    _version(),
                    list(c.disabled_tools),
                ]
            ],
            _CONV_COLUMNS,
        )

    async def create(
        self,
        principal: Principal,
        *,
        model: str,
        title: str,
        auto_accept: bool,
        disabled_tools: tuple[str, ...] = (),
    ) -> Conversation:
        now = datetime.now(UTC)
        c = Conversation(
            principal.org_id,
            str(uuid.uuid4()),
            title,
            model,
            auto_accept,
            principal.user_id or principal.api_key_id,
            now,
            now,
            disabled_tools,
        )
        await self._write(c)
        return c

    async def update(self, c: Conversation, **changes: Any) -> Conversation:
        updated = replace(c, **changes, updated=datetime.now(UTC))
        await self._write(updated)
        return updated

    async def delete(self, c: Conversation) -> None:
        await self._write(c, deleted=True)

    def _select(self, where: str) -> str:
        return self.store.sql(
            "SELECT org_id, id, title, model, auto_accept, created_by, created, updated, disabled_tools "
            "FROM "
            "(SELECT * FROM {db}.loop_conversations FINAL WHERE org_id = {o:String}) "
            f"WHERE deleted = 0 {where}"
        )

    @staticmethod
    def _conv(r: dict[str, Any]) -> Conversation:
        return Conversation(
            r["org_id"],
            r["id"],
            r["title"],
            r["model"],
            bool(r["auto_accept"]),
            r["created_by"],
            r["created"],
            r["updated"],
            tuple(r["disabled_tools"]),
        )

    async def get(self, org_id: str, conversation_id: str) -> Conversation:
        rows = await self.store.query_dicts(
            self._select("AND id = {i:String}"), {"o": org_id, "i": conversation_id}
        )
        if not rows:
            raise NotFound(f"conversation {conversation_id!r} does not exist in this organization")
        return self._conv(rows[0])

    async def recent(self, org_id: str, limit: int = 100) -> list[Conversation]:
        rows = await self.store.query_dicts(
            self._select(f"ORDER BY updated DESC LIMIT {int(limit)}"), {"o": org_id}
        )
        return [self._conv(r) for r in rows]

    async def messages(self, c: Conversation) -> list[dict[str, Any]]:
        rows = await self.store.query(
            self.store.sql(
                "SELECT message FROM {db}.loop_messages FINAL WHERE org_id = {o:String} "
                "AND conversation_id = {c:String} ORDER BY seq"
            ),
            {"o": c.org_id, "c": c.id},
        )
        return [orjson.loads(m) for (m,) in rows[1]]

    async def append(self, c: Conversation, first_seq: int, messages: list[dict[str, Any]]) -> None:
        """Store `messages` as numbers `first_seq`, `first_seq + 1`, ... of the conversation."""
        if not messages:
            return
        now = datetime.now(UTC)
        await self.store.insert(
            "loop_messages",
            [[c.org_id, c.id, first_seq + i, orjson.dumps(m).decode(), now] for i, m in enumerate(messages)],
            ("org_id", "conversation_id", "seq", "message", "created"),
        )


class OrgModels:
    """Each org's allowlist of Loop models (set by its admin), else the configured default; neither
    set (None): every model the org can call is allowed."""

    def __init__(self, store: Store, default: tuple[str, ...]) -> None:
        self.store = store
        self.default = default

    async def allowed(self, org_id: str) -> tuple[str, ...] | None:
        rows = await self.store.query(
            self.store.sql(
                "SELECT allowed_models, cleared FROM {db}.loop_org_settings FINAL WHERE org_id = {o:String}"
            ),
            {"o": org_id},
        )
        if rows[1] and not rows[1][0][1]:
            return tuple(rows[1][0][0])
        return self.default or None

    async def set(self, org_id: str, models: list[str] | None) -> None:
        """The org's allowlist; None clears it (the configured default, else every model, again)."""
        await self.store.insert(
            "loop_org_settings",
            [[org_id, models or [], int(models is None), datetime.now(UTC), _version()]],
            ("org_id", "allowed_models", "cleared", "updated", "_version"),
        )
