"""Fixtures shared by the writer's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from loopline.ingest.writer.offload import Offload


@pytest.fixture
async def offload() -> AsyncIterator[Offload]:
    """A writer worker process (closed after the test)."""
    o = Offload()
    try:
        yield o
    finally:
        o.close()
