"""Pytest plugin shared by every test package (loaded with `-p loopline.common.testing`).

chdb allows ONE data directory per process, so the whole test run shares one embedded
ClickHouse directory; tests isolate themselves with their own database names
(`unique_database`). Tests that need a whole running Loopline start it as a subprocess.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from loopline.common.bus import OutMessage
from loopline.common.bus.memory import InProcessBus


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`chdb:///…` DSN of the run's embedded ClickHouse (or LOOPLINE_TEST_CLICKHOUSE)."""
    env = os.environ.get("LOOPLINE_TEST_CLICKHOUSE")
    if env:
        return env
    path: Path = tmp_path_factory.getbasetemp() / "chdb"
    return f"chdb://{path}"


def unique_database(prefix: str = "t") -> str:
    """A fresh database name (letters, digits, underscore)."""
    return re.sub(r"[^a-z0-9_]", "_", f"{prefix}_{uuid.uuid4().hex[:10]}".lower())


class RecordingBus(InProcessBus):
    """A bus that keeps what is published to it, by topic, and delivers nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, list[OutMessage]]] = []

    async def publish(self, topic: str, messages: Sequence[OutMessage], timeout_s: float = 10.0) -> None:
        self.published.append((topic, list(messages)))
