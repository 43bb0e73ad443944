"""Store: migrations apply once, re-run is a no-op, and every column type round-trips."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from loopline.common.schema import ROW_TABLES, Migration
from loopline.common.store import Store, StoreError, applied_versions, apply_migrations


@pytest.fixture
def store_dir(chdb_dsn: str) -> Path:
    # chdb allows one data directory per process: the whole test run shares one
    return Path(chdb_dsn.removeprefix("chdb://"))


async def test_migrations_apply_once(store_dir: Path) -> None:
    store = Store(f"chdb://{store_dir}", database="t_migrations")
    await store.open()
    try:
        first = await apply_migrations(store, ROW_TABLES)
        assert first == sorted(first) and len(first) >= 3
        assert await apply_migrations(store, ROW_TABLES) == []
        assert await applied_versions(store) >= set(first)
        extra = (Migration(100, "extra", ("CREATE TABLE IF NOT EXISTS {db}.t (a UInt8) ENGINE = Memory",)),)
        assert await apply_migrations(store, extra) == [100]
        assert await apply_migrations(store, extra) == []
        with pytest.raises(ValueError, match="unique"):
            await apply_migrations(store, (Migration(2, "a", ()), Migration(2, "b", ())))
    finally:
        await store.close()


async def test_round_trip_every_type(store_dir: Path) -> None:
    store = Store(f"chdb://{store_dir}", database="t_types")
    await store.open()
    try:
        await store.command(
            store.sql(
                """CREATE TABLE IF NOT EXISTS {db}.types (
                s String, lc LowCardinality(String), u UInt64, i Int64, f Float64, b Bool,
                dt DateTime64(6, 'UTC'), ndt Nullable(DateTime64(6, 'UTC')), arr Array(String),
                m Map(String, Float64), j JSON, n Nullable(String)
            ) ENGINE = MergeTree ORDER BY s"""
            )
        )
        when = datetime(2026, 11, 22, 8, 58, 41, 886073, tzinfo=UTC)
        row = [
            'héllo ✓ "q" \\ \'',
            "lc",
            2**64 - 1,
            -(2**63),
            math.pi,
            True,
            when,
            None,
            ["a", "", "ü"],
            {"x": 0.5, "y": -1.0},
            '{"a":{"b":[1,2]},"c":"d"}',
            None,
        ]
        cols = ["s", "lc", "u", "i", "f", "b", "dt", "ndt", "arr", "m", "j", "n"]
        await store.insert("types", [row], cols)
        got = (
            await store.query_dicts(store.sql("SELECT * FROM {db}.types WHERE s = {s:String}"), {"s": row[0]})
        )[0]
        assert got["s"] == row[0] and got["lc"] == "lc"
        assert got["u"] == 2**64 - 1 and got["i"] == -(2**63)
        assert got["f"] == math.pi and got["b"] is True
        assert got["dt"].replace(tzinfo=UTC) == when and got["ndt"] is None
        assert got["arr"] == ["a", "", "ü"] and got["m"] == {"x": 0.5, "y": -1.0}
        assert got["j"] == {"a": {"b": [1, 2]}, "c": "d"} and got["n"] is None
    finally:
        await store.close()


async def test_errors_are_store_errors(store_dir: Path) -> None:
    store = Store(f"chdb://{store_dir}", database="t_err")
    await store.open()
    try:
        with pytest.raises(StoreError):
            await store.query("SELECT * FROM {db}.does_not_exist".replace("{db}", "t_err"))
        assert await store.ping()
    finally:
        await store.close()
    with pytest.raises(StoreError, match="unsupported"):
        await Store("mysql://x").open()
