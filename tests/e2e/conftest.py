"""End-to-end fixtures: a running Loopline (embedded, and on Kafka) and SDK interpreters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.running import RunningLoopline, free_port

ROOT = Path(__file__).resolve().parents[2]
FLOWS = Path(__file__).with_name("sdk_flows.py")
LEGACY_SDK = "0.34.0"


def _uv() -> str:
    for cand in (ROOT / ".cache/uv-tool/bin/uv", shutil.which("uv")):
        if cand and Path(cand).exists():
            return str(cand)
    raise RuntimeError("uv not found: run ./dev sync first")


@pytest.fixture(scope="session")
def legacy_sdk_python() -> str:
    """A Python with the legacy braintrust SDK (0.34.x, the register-endpoint protocol)."""
    venv = ROOT / ".cache" / f"sdk-braintrust-{LEGACY_SDK}"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([_uv(), "venv", "-q", "-p", sys.executable, str(venv)], check=True)
        subprocess.run(
            [_uv(), "pip", "install", "-q", "-p", str(py), f"braintrust=={LEGACY_SDK}", "autoevals"],
            check=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
    return str(py)


@pytest.fixture(scope="session", params=["modern", "legacy"])
def sdk(request: pytest.FixtureRequest) -> str:
    """The interpreter to run SDK flows with: this venv's newest SDK, or the legacy one."""
    if request.param == "modern":
        return sys.executable
    return str(request.getfixturevalue("legacy_sdk_python"))


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLoopline]:
    ll = RunningLoopline(
        tmp_path_factory.mktemp("e2e-embedded") / "data",
        free_port(),
        # the uv that installs pushed bundles' requirements (`braintrust push --requirements`)
        extra_env={"LOOPLINE_LOGS3_PAYLOAD_MAX_BYTES": "100000"},
    ).start()
    yield ll
    assert ll.terminate() == 0, ll.log_text()


@pytest.fixture(scope="session")
def on_kafka(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Iterator[RunningLoopline]:
    ll = RunningLoopline(
        tmp_path_factory.mktemp("e2e-kafka") / "data",
        free_port(),
        bus=f"kafka://{kafka_bootstrap}",
        extra_env={
            "LOOPLINE_LOGS3_PAYLOAD_MAX_BYTES": "100000",
            "LOOPLINE_TOPIC_PREFIX": f"e2e{uuid.uuid4().hex[:6]}.",
        },
    ).start()
    yield ll
    assert ll.terminate() == 0, ll.log_text()


@pytest.fixture(params=["embedded", "kafka"])
def server(request: pytest.FixtureRequest) -> RunningLoopline:
    if request.param == "kafka":
        return request.getfixturevalue("on_kafka")  # type: ignore[no-any-return]
    return request.getfixturevalue("embedded")  # type: ignore[no-any-return]


def run_flow(
    server: RunningLoopline,
    python: str,
    flow: str,
    project: str,
    timeout_s: float = 180,
    *,
    flows: Path = FLOWS,
    args: tuple[str, ...] = (),
) -> dict[str, Any]:
    env = {
        **os.environ,
        "BRAINTRUST_API_URL": server.url,
        "BRAINTRUST_APP_URL": server.url,
        "BRAINTRUST_API_KEY": server.api_key,
        "BRAINTRUST_NUM_RETRIES": "3",
        "PYTHONPATH": "",
    }
    env.pop("BRAINTRUST_ORG_NAME", None)
    proc = subprocess.run(
        [python, str(flows), flow, project, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
        cwd=FLOWS.parent,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"flow {flow} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}\n--- server log ---\n{server.log_text()}"
        )
    last = [line for line in proc.stdout.splitlines() if line.startswith("{")][-1]
    out: dict[str, Any] = json.loads(last)
    out["_stderr"] = proc.stderr
    return out


def unique_project(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Api:
    """A small httpx client for reading back what the SDK wrote."""

    def __init__(self, server: RunningLoopline) -> None:
        self.server = server
        self.client = httpx.Client(base_url=server.url, headers=server.headers, timeout=60)

    def project_id(self, name: str) -> str:
        r = self.client.post("/v1/project", json={"name": name})
        r.raise_for_status()
        return str(r.json()["id"])

    def fetch(self, object_type: str, object_id: str, **body: Any) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        cursor = None
        while True:
            r = self.client.post(
                f"/v1/{object_type}/{object_id}/fetch", json={**body, "cursor": cursor, "limit": 200}
            )
            assert r.status_code == 200, r.text
            d = r.json()
            events.extend(d["events"])
            cursor = d.get("cursor")
            if not cursor:
                return events


@pytest.fixture
def api(server: RunningLoopline) -> Api:
    return Api(server)
