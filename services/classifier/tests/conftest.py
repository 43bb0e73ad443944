"""Fixtures of the classifier's tests: a store with the classifier's tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from loopline.classifier import tables
from loopline.common.store import Store, apply_migrations


@pytest.fixture
async def store(chdb_dsn: str) -> AsyncIterator[Store]:
    s = Store(chdb_dsn, database=f"t_classifier_{uuid.uuid4().hex[:8]}")
    await s.open()
    await apply_migrations(s, tables.MIGRATIONS)
    try:
        yield s
    finally:
        await s.command(f"DROP DATABASE IF EXISTS {s.database}")
        await s.close()
