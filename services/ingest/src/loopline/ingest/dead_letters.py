"""Dead letters: list them, and replay them onto `loopline.rows` (owner of `dead_letters`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loopline.common.bus import Bus
from loopline.common.messages import dead_letters
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.dead_letters import DeadLetter
from loopline.common.store import Store

_COLUMNS = "id, key, value, reason, created, replayed"


class DeadLetters:
    def __init__(self, store: Store, bus: Bus) -> None:
        self.store = store
        self.bus = bus

    async def pending(
        self, org_id: str, *, include_replayed: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        cond = "" if include_replayed else "AND replayed IS NULL"
        rows = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {_COLUMNS} FROM {{db}}.dead_letters FINAL WHERE startsWith(key, {{prefix:String}}) {cond} "
                f"ORDER BY created DESC LIMIT {int(limit)}"
            ),
            {"prefix": f"{org_id}/"},
        )
        for r in rows:
            r["id"] = str(r["id"])
        return rows

    async def replay(self, org_id: str, ids: list[str] | None) -> list[str]:
        """Republish dead letters (all pending ones when `ids` is None); returns the ids replayed."""
        pending = await self.pending(org_id, limit=100_000)
        if ids is not None:
            wanted = set(ids)
            pending = [r for r in pending if r["id"] in wanted]
        if not pending:
            return []
        letters = [DeadLetter(r["key"].encode(), r["value"].encode(), r["reason"]) for r in pending]
        await self.bus.publish(rows_topic.TOPIC, [dead_letters.original(d) for d in letters])
        now = datetime.now(UTC)
        await self.store.insert(
            "dead_letters",
            [[r["id"], r["key"], r["value"], r["reason"], r["created"], now] for r in pending],
            ["id", "key", "value", "reason", "created", "replayed"],
        )
        return [r["id"] for r in pending]
