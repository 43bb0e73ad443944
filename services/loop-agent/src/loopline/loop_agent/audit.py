"""Every tool call the agent makes, recorded and queryable: who, which conversation, which tool
with which arguments, the outcome, how long it took and how many rows it touched."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from loopline.common.auth import Principal
from loopline.common.store import Store

Outcome = Literal["ok", "error", "rejected", "awaiting_confirmation", "skipped"]

_COLUMNS = (
    "org_id",
    "id",
    "conversation_id",
    "call_id",
    "tool",
    "user_id",
    "api_key_id",
    "arguments",
    "outcome",
    "error",
    "duration_ms",
    "rows_touched",
    "created",
)


@dataclass(frozen=True)
class AuditEntry:
    conversation_id: str
    call_id: str
    tool: str
    arguments: Any
    outcome: Outcome
    error: str = ""
    duration_ms: float = 0.0
    rows_touched: int = 0


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, principal: Principal, e: AuditEntry) -> None:
        await self.store.insert(
            "loop_tool_audit",
            [
                [
                    principal.org_id,
                    str(uuid.uuid4()),
                    e.conversation_id,
                    e.call_id,
                    e.tool,
                    principal.user_id,
                    principal.api_key_id,
                    orjson.dumps(e.arguments).decode(),
                    e.outcome,
                    e.error[:2000],
                    e.duration_ms,
                    e.rows_touched,
                    datetime.now(UTC),
                ]
            ],
            _COLUMNS,
        )

    async def list(
        self, org_id: str, *, conversation_id: str | None = None, tool: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        where, params = "org_id = {o:String}", {"o": org_id}
        if conversation_id:
            where += " AND conversation_id = {c:String}"
            params["c"] = conversation_id
        if tool:
            where += " AND tool = {t:String}"
            params["t"] = tool
        rows = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {', '.join(_COLUMNS[1:])} FROM {{db}}.loop_tool_audit WHERE {where} "
                f"ORDER BY created DESC, id LIMIT {int(limit)}"
            ),
            params,
        )
        for r in rows:
            r["arguments"] = orjson.loads(r["arguments"]) if r["arguments"] else None
            r["created"] = r["created"].isoformat()
        return rows
