"""The writer's insert against a store that lacks a setting (an older ClickHouse server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopline.common.store import Store, StoreError
from loopline.ingest.writer import INSERT_SETTINGS, Writer


class OldServerStore(Store):
    """A real store object whose server rejects the deferred-index setting, as ClickHouse < 25.8."""

    def __init__(self) -> None:
        super().__init__("chdb://:memory:")
        self.inserted: list[tuple[str, int, dict[str, Any] | None]] = []

    async def insert_json(
        self,
        table: str,
        rows: Sequence[dict[str, Any]],
        column_names: Sequence[str],
        *,
        settings: dict[str, Any] | None = None,
    ) -> None:
        if settings:
            raise StoreError(
                "Code: 115. DB::Exception: Unknown setting 'exclude_materialize_skip_indexes_on_insert'"
            )
        self.inserted.append((table, len(rows), settings))


async def test_unknown_insert_setting_falls_back_to_plain_inserts() -> None:
    store = OldServerStore()
    writer = Writer(store, bus=None)  # type: ignore[arg-type]  # insert() does not use the bus
    assert writer.insert_settings == INSERT_SETTINGS
    rejected = await writer.insert("spans", [{"id": "a"}, {"id": "b"}])
    assert rejected == [] and store.inserted == [("spans", 2, None)]
    assert writer.insert_settings == {}  # remembered: later batches go straight through
    assert await writer.insert("spans", [{"id": "c"}]) == []
    assert store.inserted[-1] == ("spans", 1, None)
