"""Versioned, idempotent schema migrations, recorded in `{db}.schema_migrations`."""

from __future__ import annotations

from collections.abc import Sequence

from loopline.common.logging import get_logger
from loopline.common.schema import Migration
from loopline.common.store.client import Store

log = get_logger(__name__)

_LEDGER = """CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version UInt32, name String, applied_at DateTime64(6, 'UTC') DEFAULT now64(6)
) ENGINE = ReplacingMergeTree ORDER BY version"""


async def applied_versions(store: Store) -> set[int]:
    _, rows = await store.query(store.sql("SELECT version FROM {db}.schema_migrations FINAL"))
    return {int(r[0]) for r in rows}


async def apply_migrations(store: Store, migrations: Sequence[Migration]) -> list[int]:
    """Apply every migration not yet recorded, in version order; return the versions applied now.

    The runtime passes every known service's migrations (`loopline.runtime.registry.all_migrations`);
    a test passes the ones of the tables it needs.

    Each statement is idempotent (`IF NOT EXISTS`), so a crash between a statement and the
    ledger row is repaired by re-running. On a cluster (`Store.cluster`) each statement runs in
    its cluster form (store/cluster.py).
    """
    migrations = sorted(migrations, key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise ValueError(f"migration versions must be unique, got {versions}")
    for stmt in store.schema_statements(_LEDGER):
        await store.command(store.sql(stmt))
    done = await applied_versions(store)
    applied: list[int] = []
    for m in migrations:
        if m.version in done:
            continue
        for stmt in (s for written in m.statements for s in store.schema_statements(written)):
            await store.command(store.sql(stmt))
        await store.insert("schema_migrations", [[m.version, m.name]], ["version", "name"])
        log.info("migration applied", version=m.version, migration=m.name)
        applied.append(m.version)
    return applied
