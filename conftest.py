"""Repo-wide pytest fixtures: a real Apache Kafka broker for tests that need one.

Order (DESIGN.md): `LOOPLINE_TEST_KAFKA=host:port` if set; otherwise a single-node KRaft broker
started once per run from the Apache Kafka jars (deploy/kafka, resolved with Maven); otherwise
skip with the reason — but never skip when `CI=true`: then a missing broker fails the run.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "deploy" / "kafka"))

from broker import KafkaError, LocalKafka, free_port  # noqa: E402


def _no_kafka(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Kafka is required in CI but unavailable: {reason}")
    pytest.skip(
        f"no Kafka broker: {reason} (set LOOPLINE_TEST_KAFKA=host:port, or install Java 17+ and Maven)"
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = os.environ.get("LOOPLINE_TEST_KAFKA")
    if env:
        yield env
        return
    if shutil.which("java") is None or shutil.which("mvn") is None:
        _no_kafka("java or mvn is not on PATH")
    broker = LocalKafka(port=free_port(), data_dir=tmp_path_factory.mktemp("kafka"))
    try:
        broker.start()
    except KafkaError as exc:
        _no_kafka(str(exc))
    yield broker.bootstrap
    broker.stop()


@pytest.fixture
def restartable_kafka(tmp_path: Path) -> Iterator[Any]:
    """A broker of the test's own, which the test may stop and restart."""
    if shutil.which("java") is None or shutil.which("mvn") is None:
        _no_kafka("java or mvn is not on PATH")
    broker = LocalKafka(port=free_port(), data_dir=tmp_path / "kafka")
    try:
        broker.start()
    except KafkaError as exc:
        _no_kafka(str(exc))
    yield broker
    broker.stop(kill=True)


@pytest.fixture
def scripted_llm() -> Iterator[Any]:
    """The scripted OpenAI/Anthropic server of tests/support/llm_server.py, one per test."""
    from tests.support.llm_server import ScriptedLLM

    with ScriptedLLM() as llm:
        yield llm
