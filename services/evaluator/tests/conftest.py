"""Fixtures of the evaluator's tests: a store with the evaluator's tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from loopline.common.store import Store, apply_migrations
from loopline.evaluator import tables


@pytest.fixture
async def store(chdb_dsn: str) -> AsyncIterator[Store]:
    s = Store(chdb_dsn, database=f"t_evaluator_{uuid.uuid4().hex[:8]}")
    await s.open()
    await apply_migrations(s, tables.MIGRATIONS)
    try:
        yield s
    finally:
        await s.command(f"DROP DATABASE IF EXISTS {s.database}")
        await s.close()
