"""`LocalControlPlane.project_of` over the gateway's control-plane tables (through the Catalog and
its cache): org-scoped lookups, and deleted objects stop resolving."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from loopline.common.store import Store, apply_migrations
from loopline.common.testing import unique_database
from loopline.gateway import tables
from loopline.gateway.control_plane import LocalControlPlane


async def test_scoped_and_deletions_expire(
    chdb_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(chdb_dsn, unique_database("objects"))
    await store.open()
    try:
        await apply_migrations(store, tables.MIGRATIONS)
        now = datetime.now(UTC)
        cols = ["org_id", "project_id", "id", "name", "created", "_version", "_is_deleted"]
        await store.insert("experiments", [["o1", "p1", "e1", "exp", now, 1, 0]], cols)
        await store.insert(
            "projects", [["o1", "p1", "proj", now, 1]], ["org_id", "id", "name", "created", "_version"]
        )
        r = LocalControlPlane(store)
        assert await r.project_of("o1", "experiment", "e1") == "p1"
        assert await r.project_of("o2", "experiment", "e1") is None  # another org
        assert await r.project_of("o1", "project_logs", "p1") == "p1"
        await store.insert("experiments", [["o1", "p1", "e1", "exp", now, 2, 1]], cols)  # deleted
        assert await r.project_of("o1", "experiment", "e1") == "p1"  # cached for a while
        monkeypatch.setattr(r.catalog, "cache_ttl_s", 0.0)
        assert await r.project_of("o1", "experiment", "e1") is None
    finally:
        await store.close()
