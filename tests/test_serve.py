"""Distributed mode: `loopline serve` runs chosen services per process on Apache Kafka.

chdb allows one process per data directory, so here the store-owning services (gateway, ingest,
writer, query; the evaluator too) share one process while another service runs in its own; with a ClickHouse
server (docker-compose, Helm) each can run apart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.running import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]


def serve(services: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "loopline.cli", "serve", services, "--port", str(port)],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_ready(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 240
) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
            if r.status_code == 200:
                return r.json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(log.read_text()[-3000:])


def test_serve_services_in_separate_processes(tmp_path: Path, kafka_bootstrap: str) -> None:
    """Ingest and the loop agent in their own process (its own store: chdb allows one process per
    data directory) behind the gateway: their routes are forwarded to it, and the loop agent calls
    the gateway's API back as the caller (internal token) to run its analyses' BTQL on query."""
    key = f"sk-ll-{uuid.uuid4().hex}"
    pa, pb = free_port(), free_port()
    env = {
        "LOOPLINE_BUS_URL": f"kafka://{kafka_bootstrap}",
        "LOOPLINE_TOPIC_PREFIX": f"serve{uuid.uuid4().hex[:6]}.",
        "LOOPLINE_BOOTSTRAP_API_KEY": key,
        "LOOPLINE_INTERNAL_TOKEN": uuid.uuid4().hex,
        "LOOPLINE_LOG_FORMAT": "json",
    }
    env_a = {
        **env,
        "LOOPLINE_STORE_DSN": f"chdb://{tmp_path / 'ch'}",
        "LOOPLINE_DATA_DIR": str(tmp_path / "data"),
        "LOOPLINE_SERVICE_URLS": orjson.dumps(
            {"loop-agent": f"http://127.0.0.1:{pb}", "ingest": f"http://127.0.0.1:{pb}"}
        ).decode(),
    }
    env_b = {
        **env,
        "LOOPLINE_STORE_DSN": f"chdb://{tmp_path / 'ch-b'}",
        "LOOPLINE_DATA_DIR": str(tmp_path / "data-b"),
        "LOOPLINE_SERVICE_URLS": orjson.dumps({"gateway": f"http://127.0.0.1:{pa}"}).decode(),
    }
    # a process with all four core services is embedded and forwards nothing: ingest runs apart too
    a = serve("gateway,writer,query", pa, env_a, tmp_path / "a.log")
    b = serve("ingest,loop-agent", pb, env_b, tmp_path / "b.log")
    try:
        ready_a = wait_ready(pa, a, tmp_path / "a.log")
        ready_b = wait_ready(pb, b, tmp_path / "b.log")
        assert ready_a["checks"] == {"bus": True, "store": True}
        assert ready_b["checks"] == {"bus": True, "store": True}
        assert httpx.get(f"http://127.0.0.1:{pb}/healthz").json() == {"status": "ok"}
        h = {"Authorization": f"Bearer {key}"}  # LOOPLINE_BOOTSTRAP_API_KEY registered by the gateway
        base = f"http://127.0.0.1:{pa}"
        assert httpx.post(f"{base}/api/apikey/login", headers=h).status_code == 200
        pid = httpx.post(f"{base}/v1/project", json={"name": "served"}, headers=h).json()["id"]
        rows = [
            {
                "id": f"r{i}",
                "project_id": pid,
                "log_id": "g",
                "input": i,
                "span_attributes": {"name": "tool_a" if i % 2 else "tool_b", "type": "tool"},
                **({"error": "boom"} if i % 3 == 0 else {}),
            }
            for i in range(10)
        ]
        assert httpx.post(f"{base}/logs3", content=orjson.dumps({"rows": rows}), headers=h).status_code == 200
        got = httpx.post(f"{base}/v1/project_logs/{pid}/fetch", json={}, headers=h).json()["events"]
        assert sorted(e["id"] for e in got) == [f"r{i}" for i in range(10)]
        r = httpx.post(f"{base}/v1/loop/analyze/top_errors", json={"project_id": pid}, headers=h, timeout=60)
        assert r.status_code == 200, r.text
        by_name = {x["name"]: (x["total"], x["errors"]) for x in r.json()["result"]["by_span_name"]}
        assert by_name == {"tool_a": (5, 2), "tool_b": (5, 2)}  # errors at r0, r3, r6, r9
        assert httpx.get(f"{base}/v1/loop/analyses").status_code == 401  # the gateway authenticates
    finally:
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
        assert a.wait(60) == 0 and b.wait(60) == 0


def test_serve_rejects_unknown_service() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loopline.cli", "serve", "nope"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "unknown service" in out.stderr


def apart_envs(
    tmp_path: Path, kafka_bootstrap: str, key: str, a_urls: dict[str, str], b_urls: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Environments of two processes on one Kafka, each with its own store and data directory
    (chdb allows one process per data directory), naming each other's services' URLs."""
    env = {
        "LOOPLINE_BUS_URL": f"kafka://{kafka_bootstrap}",
        "LOOPLINE_TOPIC_PREFIX": f"serve{uuid.uuid4().hex[:6]}.",
        "LOOPLINE_BOOTSTRAP_API_KEY": key,
        "LOOPLINE_INTERNAL_TOKEN": uuid.uuid4().hex,
        "LOOPLINE_LOG_FORMAT": "json",
    }

    def side(name: str, urls: dict[str, str]) -> dict[str, str]:
        return {
            **env,
            "LOOPLINE_STORE_DSN": f"chdb://{tmp_path / f'ch-{name}'}",
            "LOOPLINE_DATA_DIR": str(tmp_path / f"data-{name}"),
            "LOOPLINE_SERVICE_URLS": orjson.dumps(urls).decode(),
        }

    return side("a", a_urls), side("b", b_urls)


def test_otlp_project_name_parent_resolves_when_ingest_runs_apart_from_the_gateway(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Ingest in its own process (its own store: chdb allows one process per data directory)
    asks the gateway for projects over HTTP, with the principal and the internal token."""
    key = f"sk-ll-{uuid.uuid4().hex}"
    pa, pb = free_port(), free_port()
    env_a, env_b = apart_envs(
        tmp_path,
        kafka_bootstrap,
        key,
        {"ingest": f"http://127.0.0.1:{pb}"},
        {"gateway": f"http://127.0.0.1:{pa}"},
    )
    a = serve("gateway,writer,query", pa, env_a, tmp_path / "a.log")
    b = serve("ingest", pb, env_b, tmp_path / "b.log")
    try:
        wait_ready(pa, a, tmp_path / "a.log")
        wait_ready(pb, b, tmp_path / "b.log")
        h = {"Authorization": f"Bearer {key}"}
        base = f"http://127.0.0.1:{pa}"
        span = {"traceId": "0e6599341c820e5525bc94b4d273a672", "spanId": "f3e7ae073c990e06", "name": "n"}
        span["startTimeUnixNano"] = "1795337587333900000"
        r = httpx.post(
            f"{base}/otel/v1/traces",
            content=orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}),
            headers={**h, "Content-Type": "application/json", "x-bt-parent": "project_name:otlp-apart"},
        )
        assert r.status_code == 200 and r.content == b"{}", r.text
        (project,) = httpx.get(f"{base}/v1/project", params={"project_name": "otlp-apart"}, headers=h).json()[
            "objects"
        ]
        # /logs3 checks its target through the same HTTP control plane; unknown ids are a 404
        row = {"id": "r1", "project_id": project["id"], "log_id": "g", "input": 1}
        assert httpx.post(f"{base}/logs3", json={"rows": [row]}, headers=h).status_code == 200
        missing = {**row, "project_id": str(uuid.uuid4())}
        assert httpx.post(f"{base}/logs3", json={"rows": [missing]}, headers=h).status_code == 404
        ids: set[str] = set()
        deadline = time.monotonic() + 60  # the writer runs in the other process: wait for it
        while ids != {"f3e7ae073c990e06", "r1"} and time.monotonic() < deadline:
            url = f"{base}/v1/project_logs/{project['id']}/fetch"
            ids = {e["id"] for e in httpx.post(url, json={}, headers=h).json()["events"]}
            time.sleep(0.2)
        assert ids == {"f3e7ae073c990e06", "r1"}
    finally:
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
        assert a.wait(60) == 0 and b.wait(60) == 0


def test_query_runs_apart_from_the_gateway(tmp_path: Path, kafka_bootstrap: str) -> None:
    """Query (with ingest and the writer: its own store) in a process without the gateway asks it
    for objects, names and base experiments over HTTP (`HttpControlPlane`): fetch, summaries,
    comparisons and BTQL answer as in one process."""
    key = f"sk-ll-{uuid.uuid4().hex}"
    pa, pb = free_port(), free_port()
    b_url = f"http://127.0.0.1:{pb}"
    env_a, env_b = apart_envs(
        tmp_path,
        kafka_bootstrap,
        key,
        {"ingest": b_url, "query": b_url},
        {"gateway": f"http://127.0.0.1:{pa}"},
    )
    a = serve("gateway", pa, env_a, tmp_path / "a.log")
    b = serve("ingest,writer,query", pb, env_b, tmp_path / "b.log")
    try:
        wait_ready(pa, a, tmp_path / "a.log")
        wait_ready(pb, b, tmp_path / "b.log")
        h = {"Authorization": f"Bearer {key}"}
        base = f"http://127.0.0.1:{pa}"
        pid = httpx.post(f"{base}/v1/project", json={"name": "apart"}, headers=h).json()["id"]
        exps = [
            httpx.post(f"{base}/v1/experiment", json={"project_id": pid, "name": n}, headers=h).json()
            for n in ("before", "after")
        ]
        for i, exp in enumerate(exps):
            rows = [
                {"id": f"r{j}", "experiment_id": exp["id"], "input": j, "scores": {"acc": (i + j) / 10}}
                for j in range(3)
            ]
            assert httpx.post(f"{base}/logs3", json={"rows": rows}, headers=h).status_code == 200
        got = httpx.post(f"{base}/v1/experiment/{exps[1]['id']}/fetch", json={}, headers=h)
        assert sorted(e["id"] for e in got.json()["events"]) == ["r0", "r1", "r2"], got.text
        summary = httpx.get(f"{base}/v1/experiment/{exps[1]['id']}/summarize", headers=h).json()
        assert summary["project_name"] == "apart" and summary["experiment_name"] == "after"
        assert summary["comparison_experiment_name"] == "before"
        assert summary["scores"]["acc"]["improvements"] == 3, summary
        missing = httpx.get(f"{base}/v1/experiment/{uuid.uuid4()}/summarize", headers=h)
        assert missing.status_code == 404
        q = {"query": f"select: id | from: experiment('{exps[0]['id']}') | sort: id"}
        r = httpx.post(f"{base}/btql", json=q, headers=h)
        assert [row["id"] for row in r.json()["data"]] == ["r0", "r1", "r2"], r.text
    finally:
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
        assert a.wait(60) == 0 and b.wait(60) == 0
