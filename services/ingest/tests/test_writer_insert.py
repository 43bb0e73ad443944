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


class KnownSettingsStore(Store):
    """A real store object whose server knows only some settings (say ClickHouse 25.3: the JSON
    type's duplicate-path setting, neither the deferred-index one nor dot escaping)."""

    def __init__(self, known: set[str]) -> None:
        super().__init__("chdb://:memory:")
        self.known = known
        self.inserted: list[tuple[str, int, dict[str, Any] | None]] = []

    async def insert_json(
        self,
        table: str,
        rows: Sequence[dict[str, Any]],
        column_names: Sequence[str],
        *,
        settings: dict[str, Any] | None = None,
    ) -> None:
        for name in settings or {}:
            if name not in self.known:
                raise StoreError(f"Code: 115. DB::Exception: Unknown setting '{name}'. (UNKNOWN_SETTING)")
        self.inserted.append((table, len(rows), settings))


async def test_only_the_unknown_insert_settings_are_dropped() -> None:
    store = KnownSettingsStore({"type_json_skip_duplicated_paths"})
    writer = Writer(store, bus=None)  # type: ignore[arg-type]  # insert() does not use the bus
    assert await writer.insert("spans", [{"id": "a"}]) == []
    assert store.inserted == [("spans", 1, {"type_json_skip_duplicated_paths": 1})]
    # remembered for every table: the next insert goes straight through with what is known
    assert writer.insert_settings == {
        "spans": {"type_json_skip_duplicated_paths": 1},
        "dataset_rows": {"type_json_skip_duplicated_paths": 1},
    }
    assert await writer.insert("dataset_rows", [{"id": "b"}]) == []
    assert store.inserted[-1] == ("dataset_rows", 1, {"type_json_skip_duplicated_paths": 1})


def test_the_writer_parses_json_text_with_dots_escaped_and_duplicates_skipped() -> None:
    for table in ("spans", "dataset_rows"):
        assert INSERT_SETTINGS[table]["json_type_escape_dots_in_keys"] == 1
        assert INSERT_SETTINGS[table]["type_json_skip_duplicated_paths"] == 1
