"""The writer: consumes row writes from `loopline.rows`, applies merge semantics, writes ClickHouse.

One batch handler, as small steps (decode → group → load bases → merge → encode → insert →
announce), each testable alone. The bus commits the batch's offsets only after `handle` returns,
so a crash anywhere before that redelivers the batch; every step is idempotent under redelivery
(writes below a row's stored `_xact_id` are no-ops, equal ones re-apply idempotently; ClickHouse keeps the highest version).

If the store is unreachable `handle` raises and the bus retries with backoff (lag grows, nothing
is lost). Rows the store rejects while it is healthy are isolated by bisection and sent, with the
reason, to the dead-letter table and topic; the rest of the batch is written.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.bus import Bus, Message
from loopline.common.logging import get_logger
from loopline.common.messages import committed, dead_letters
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.rows import RowWrite
from loopline.common.rows import RowValidationError, parse_row
from loopline.common.schema import JSON_TYPE_SETTINGS, TEXT_INDEXED_TABLES, TEXT_INDEXES
from loopline.common.store import Store, StoreError
from loopline.ingest import merge, stored_row
from loopline.ingest.merge import RowState

log = get_logger(__name__)

GroupKey = tuple[str, str, str, str, str]  # table, org, project, object_type, object_id

# The full-text indexes are built when parts merge, not on insert: building them was half of the
# insert's cost (tests/bench/bench_writer.py), and small fresh parts are read fast without one.
# A part not yet merged has no text index; searches still scan it, so results stay complete.
# JSON_TYPE_SETTINGS: how `metadata_json` parses `metadata` (dotted keys are one path, so no
# row fails with "Duplicate path found"; see common/schema.py).
INSERT_SETTINGS: dict[str, dict[str, Any]] = {
    table: {
        "exclude_materialize_skip_indexes_on_insert": ",".join(TEXT_INDEXES.values()),
        **JSON_TYPE_SETTINGS,
    }
    for table in TEXT_INDEXED_TABLES
}

_UNKNOWN_SETTING = re.compile(r"Unknown setting '?([A-Za-z0-9_]+)")


def unknown_setting(error: str) -> str | None:
    """The setting a store error says it does not know (`Code: 115 ... Unknown setting 'x'`)."""
    m = _UNKNOWN_SETTING.search(error)
    return m.group(1) if m else None


@dataclass
class DeadLetter:
    message: Message
    reason: str


@dataclass
class WriterStats:
    batches: int = 0
    messages: int = 0
    rows_written: int = 0
    dead_letters: int = 0
    last_batch_ms: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def _columns(state: RowState, w: RowWrite) -> dict[str, Any]:
    return stored_row.state_to_columns(
        state, org_id=w.org_id, project_id=w.project_id, object_type=w.object_type, object_id=w.object_id
    )


def group_writes(writes: Sequence[RowWrite]) -> dict[GroupKey, dict[str, list[RowWrite]]]:
    """Group by target object, then by row id, keeping bus order within a row."""
    groups: dict[GroupKey, dict[str, list[RowWrite]]] = defaultdict(lambda: defaultdict(list))
    for w in writes:
        groups[(w.table, w.org_id, w.project_id, w.object_type, w.object_id)][w.row_id].append(w)
    return groups


class Writer:
    def __init__(self, store: Store, bus: Bus) -> None:
        self.store = store
        self.bus = bus
        self.stats = WriterStats()
        self.insert_settings = dict(INSERT_SETTINGS)

    # -- steps -----------------------------------------------------------------------------
    def decode(self, batch: Sequence[Message]) -> tuple[list[RowWrite], list[DeadLetter]]:
        writes: list[RowWrite] = []
        dead: list[DeadLetter] = []
        for m in batch:
            try:
                writes.append(rows_topic.decode(m.value))
            except rows_topic.RowWriteError as exc:
                dead.append(DeadLetter(m, str(exc)))
        return writes, dead

    async def load_bases(self, group: GroupKey, ids: Sequence[str]) -> dict[str, RowState]:
        table, org, project, otype, oid = group
        cols = ", ".join(stored_row.STATE_COLUMNS)
        if table == "spans":
            sql = (
                f"SELECT {cols} FROM {{db}}.spans FINAL WHERE org_id = {{o:String}} AND project_id = {{p:String}} "
                "AND object_type = {t:String} AND object_id = {i:String} AND id IN {ids:Array(String)} "
                "SETTINGS do_not_merge_across_partitions_select_final = 1"
            )
        else:
            sql = (
                f"SELECT {cols} FROM {{db}}.dataset_rows WHERE org_id = {{o:String}} AND project_id = {{p:String}} "
                "AND object_id = {i:String} AND id IN {ids:Array(String)} "
                "ORDER BY _xact_id DESC LIMIT 1 BY id"
            )
        rows = await self.store.query_dicts(
            self.store.sql(sql), {"o": org, "p": project, "t": otype, "i": oid, "ids": list(ids)}
        )
        return {r["id"]: stored_row.state_from_columns(r) for r in rows}

    def merge_group(
        self, group: GroupKey, by_id: dict[str, list[RowWrite]], bases: dict[str, RowState]
    ) -> list[dict[str, Any]]:
        """Fold each row's writes onto its base; returns column dicts to insert.

        Spans keep only the final state (ReplacingMergeTree); datasets keep one version per write.
        """
        table = group[0]
        out: list[dict[str, Any]] = []
        latest: dict[str, RowState] = dict(bases)  # parents may be written earlier in this batch
        for row_id, ws in by_id.items():
            state = bases.get(row_id)
            for w in sorted(ws, key=lambda w: w.xact_id):  # stable: bus order for equal xacts
                parsed = parse_row(w.row)
                parent_id = merge.parent_to_resolve(parsed)
                parent = latest.get(parent_id) if parent_id else None
                new_state = merge.apply_write(
                    state, parsed, w.xact_id, parent=parent.row if parent is not None else None
                )
                if new_state is None:
                    continue  # stale (redelivery of an older write): already applied
                state = new_state
                latest[row_id] = state
                if table == "dataset_rows":
                    out.append(_columns(state, w))
            if table == "spans" and state is not None and state is not bases.get(row_id):
                out.append(_columns(state, ws[-1]))
        return out

    async def insert(self, table: str, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """Insert; on a data error, bisect to isolate bad rows. Returns (row, reason) rejected."""
        if not rows:
            return []
        cols = stored_row.WRITE_COLUMNS
        try:
            await self.store.insert_json(table, rows, cols, settings=self.insert_settings.get(table))
            return []
        except StoreError as exc:
            if self.insert_settings and "Unknown setting" in str(exc):
                self.drop_insert_setting(unknown_setting(str(exc)), str(exc))
                return await self.insert(table, rows)
            if not await self.store.ping():
                raise  # the store is down: let the bus redeliver later
            if len(rows) == 1:
                return [(rows[0], f"store rejected the row: {exc}")]
            mid = len(rows) // 2
            return await self.insert(table, rows[:mid]) + await self.insert(table, rows[mid:])

    def drop_insert_setting(self, name: str | None, error: str) -> None:
        """An older ClickHouse server does not know insert setting `name`: go on without it (and
        remember). Without the index one, indexes are built on insert; without the JSON ones,
        dotted keys fold into nested paths in `metadata_json` (common/schema.py)."""
        known = {k for s in self.insert_settings.values() for k in s}
        if name is None or name not in known:
            log.warning("the store refuses the insert settings; inserting without any", error=error)
            self.insert_settings = {}
            return
        log.warning("the store does not know an insert setting; inserting without it", setting=name)
        self.insert_settings = {
            t: {k: v for k, v in s.items() if k != name} for t, s in self.insert_settings.items()
        }

    async def dead_letter(self, letters: Sequence[tuple[bytes, bytes, str]]) -> None:
        """Record rows that cannot be written: in the `dead_letters` table and the DLQ topic."""
        if not letters:
            return
        now = datetime.now(UTC)
        await self.store.insert(
            "dead_letters",
            [
                [key.decode(errors="replace"), value.decode(errors="replace"), reason, now]
                for key, value, reason in letters
            ],
            ["key", "value", "reason", "created"],
        )
        await self.bus.publish(
            dead_letters.TOPIC,
            [dead_letters.CONTRACT.out(dead_letters.DeadLetter(k, v, reason)) for k, v, reason in letters],
        )
        self.stats.dead_letters += len(letters)
        log.warning("rows dead-lettered", count=len(letters), first_reason=letters[0][2][:300])

    async def announce(self, rows: Sequence[dict[str, Any]]) -> None:
        """Tell downstream consumers (classifier, online scoring) which traces changed."""
        messages = committed.from_written(rows)
        if messages:
            await self.bus.publish(committed.TOPIC, [committed.CONTRACT.out(m) for m in messages])

    # -- the handler -----------------------------------------------------------------------
    async def handle(self, batch: list[Message]) -> None:
        t0 = time.perf_counter()
        writes, dead = self.decode(batch)
        letters = [(d.message.key, d.message.value, d.reason) for d in dead]
        written: list[dict[str, Any]] = []
        by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
        originals: dict[str, RowWrite] = {}
        for group, by_id in group_writes(writes).items():
            parent_ids = {
                pid
                for ws in by_id.values()
                for w in ws
                if "_parent_id" in w.row and (pid := merge.parent_to_resolve(parse_row(w.row)))
            }
            bases = await self.load_bases(group, list(by_id.keys() | parent_ids))
            for ws in by_id.values():
                originals[ws[-1].key] = ws[-1]
            try:
                by_table[group[0]].extend(self.merge_group(group, by_id, bases))
            except (merge.MergeError, RowValidationError) as exc:
                # a row whose writes cannot be merged: isolate per row
                for ws in by_id.values():
                    try:
                        by_table[group[0]].extend(self.merge_group(group, {ws[0].row_id: ws}, bases))
                    except (merge.MergeError, RowValidationError) as row_exc:
                        letters.extend((w.key.encode(), w.encode(), f"merge failed: {row_exc}") for w in ws)
                log.warning("merge failed for some rows", error=str(exc))
        for table, rows in by_table.items():
            rejected = await self.insert(table, rows)
            bad_ids = {id(r) for r, _ in rejected}
            written.extend(r for r in rows if id(r) not in bad_ids)
            for r, reason in rejected:
                key = f"{r['org_id']}/{r['object_type']}/{r['object_id']}/{r['id']}"
                w = originals.get(key)
                letters.append((key.encode(), w.encode() if w else orjson.dumps(r, default=str), reason))
        await self.dead_letter(letters)
        await self.announce(written)
        self.stats.batches += 1
        self.stats.messages += len(batch)
        self.stats.rows_written += len(written)
        self.stats.last_batch_ms = (time.perf_counter() - t0) * 1000
