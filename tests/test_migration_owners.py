"""Each service declares the migrations of the tables it owns; the runtime applies them all."""

from __future__ import annotations

import dataclasses

import pytest
from loopline.common.schema import ROW_TABLES, Migration
from loopline.common.service import ServiceDef

from loopline.runtime import registry
from loopline.runtime.registry import ALL_SERVICES, all_migrations, service_def


def test_every_migration_has_one_owner_and_versions_ascend() -> None:
    ms = all_migrations()
    versions = [m.version for m in ms]
    assert versions == sorted(set(versions))
    owned = [m for name in ALL_SERVICES for m in service_def(name).migrations]
    assert sorted(m.version for m in owned) == versions


def test_owners_of_the_tables() -> None:
    def owner_of(table: str) -> list[str]:
        """The services with a migration that creates `table` (reading it, as a view does, is not
        owning it)."""
        creates = (
            f"CREATE TABLE IF NOT EXISTS {{db}}.{table} ",
            f"CREATE TABLE IF NOT EXISTS {{db}}.{table}(",
        )
        return [
            name
            for name in ALL_SERVICES
            for m in service_def(name).migrations
            if any(s.lstrip().startswith(creates) for s in m.statements)
        ]

    assert owner_of("spans") == ["writer"]
    assert owner_of("projects") == ["gateway"]
    assert owner_of("dead_letters") == ["ingest"]
    assert owner_of("btql_async_jobs") == ["query"]
    assert owner_of("rollup_hourly") == ["query"]
    assert set(service_def("writer").migrations) == set(ROW_TABLES)


def test_new_versions_stay_in_their_service_block() -> None:
    blocks = {
        "gateway": 1,
        "ingest": 2,
        "writer": 2,
        "query": 3,
        "evaluator": 4,
        "classifier": 5,
        "loop-agent": 6,
    }
    for name in ALL_SERVICES:
        for m in service_def(name).migrations:
            if m.version >= 100:  # below 100: before per-service blocks
                assert m.version // 100 == blocks[name], (name, m.version)


def test_a_version_claimed_twice_names_both_owners(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.service_def

    def fake(name: str) -> ServiceDef:
        sd = real(name)
        if name == "query":
            return dataclasses.replace(sd, migrations=(*sd.migrations, Migration(2, "clash", ())))
        return sd

    monkeypatch.setattr(registry, "service_def", fake)
    with pytest.raises(ValueError, match="'writer' and 'query'"):
        all_migrations()
