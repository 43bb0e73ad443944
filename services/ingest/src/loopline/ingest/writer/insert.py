"""Insert merged rows, one insert per table; on a data error, bisect to isolate the bad rows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
from loopline.common import stored_row
from loopline.common.bus import OutMessage
from loopline.common.logging import get_logger
from loopline.common.pipeline import Batch
from loopline.common.schema import JSON_TYPE_SETTINGS, TEXT_INDEXED_TABLES, TEXT_INDEXES
from loopline.common.store import Store, StoreError
from loopline.ingest.writer.steps import EncodedBody, EncodedRow, Merged, Written

log = get_logger(__name__)

Row = dict[str, Any] | EncodedRow

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


class Inserter:
    """Inserts with `settings`, and forgets them for good if the server does not know them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.settings = dict(INSERT_SETTINGS)

    async def insert_body(self, table: str, body: bytes | memoryview) -> bool:
        """Insert a worker's whole body of one table; False (nothing inserted) when the store
        rejects its data (the caller then inserts its rows one by one, bisecting).

        Raises StoreError when the store is down (the bus redelivers later)."""
        try:
            await self.store.insert_body(
                table, body, stored_row.WRITE_COLUMNS, settings=self.settings.get(table)
            )
            return True
        except StoreError as exc:
            if self.settings and "Unknown setting" in str(exc):
                self.drop_setting(unknown_setting(str(exc)), str(exc))
                return await self.insert_body(table, body)
            if not await self.store.ping():
                raise
            return False

    async def insert(self, table: str, rows: Sequence[Row]) -> list[tuple[Row, str]]:
        """Insert; on a data error, bisect to isolate bad rows. Returns (row, reason) rejected.

        Raises StoreError when the store is down (the bus redelivers later)."""
        if not rows:
            return []
        cols = stored_row.WRITE_COLUMNS
        payload = [r.line if isinstance(r, EncodedRow) else stored_row.insert_line(r) for r in rows]
        try:
            await self.store.insert_json(table, payload, cols, settings=self.settings.get(table))
            return []
        except StoreError as exc:
            if self.settings and "Unknown setting" in str(exc):
                self.drop_setting(unknown_setting(str(exc)), str(exc))
                return await self.insert(table, rows)
            if not await self.store.ping():
                raise  # the store is down: let the bus redeliver later
            if len(rows) == 1:
                return [(rows[0], f"store rejected the row: {exc}")]
            mid = len(rows) // 2
            return await self.insert(table, rows[:mid]) + await self.insert(table, rows[mid:])

    def drop_setting(self, name: str | None, error: str) -> None:
        """An older ClickHouse server does not know insert setting `name`: go on without it (and
        remember). Without the index one, indexes are built on insert; without the JSON ones,
        dotted keys fold into nested paths in `metadata_json` (common/schema.py)."""
        known = {k for s in self.settings.values() for k in s}
        if name is None or name not in known:
            log.warning("the store refuses the insert settings; inserting without any", error=error)
            self.settings = {}
            return
        log.warning("the store does not know an insert setting; inserting without it", setting=name)
        self.settings = {t: {k: v for k, v in s.items() if k != name} for t, s in self.settings.items()}


class InsertRows:
    """The step: insert each table's rows; hands on the rows written. A rejected row is Invalid
    as the last write of its key (so a replay re-applies it), or as the row when none is known."""

    def __init__(self, inserter: Inserter) -> None:
        self.inserter = inserter

    async def __call__(self, batch: Batch[Merged]) -> Written:
        written = Written()
        for table, maybe_body in batch.value.by_table.items():
            if len(maybe_body) == 1 and type(whole := maybe_body[0]) is EncodedBody:
                if await self.inserter.insert_body(table, whole.body):
                    written.count += whole.count
                    written.announcements += whole.announcements
                    continue
                rows: Sequence[Row] = whole.rows()
            else:
                rows = maybe_body  # type: ignore[assignment]  # only a worker's body comes alone
            rejected = await self.inserter.insert(table, rows)
            bad_ids = {id(r) for r, _ in rejected}
            fields = [_fields(r) for r in rows if id(r) not in bad_ids]
            written.rows += fields
            written.count += len(fields)
            for r, reason in rejected:
                f = _fields(r)
                key = f"{f['org_id']}/{f['object_type']}/{f['object_id']}/{f['id']}"
                w = batch.value.originals.get(key)
                if type(r) is EncodedRow:
                    value = r.last_write
                else:
                    value = w.encode() if w else orjson.dumps(r, default=str)
                batch.reject(OutMessage(key.encode(), value), reason)
        return written


def _fields(r: Row) -> dict[str, Any]:
    """A written row's column dict, or the announced fields of an encoded one."""
    return r.announced if type(r) is EncodedRow else r  # type: ignore[return-value]
