"""A `loopline up` subprocess prepared for fuzzing: a second organization's key (made offline with
`loopline keys create` before the server starts), a project, an experiment and a dataset in each
org, and two watchers running for the server's whole life: a `/healthz` prober and a bystander
client doing ordinary writes and reads (tests/support/fuzz_health.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.fuzz_client import FuzzClient, Ledger, check_ledger, dead_letters
from tests.support.fuzz_health import Bystander, HealthProbe
from tests.support.running import RunningLoopline, free_port

#: Every generator derives from this seed (override with LOOPLINE_FUZZ_SEED to explore others).
SEED = int(os.environ.get("LOOPLINE_FUZZ_SEED", "20261203"))
#: A /healthz probe slower than this means a request stalled the server for everyone. The target
#: is 100 ms (issue 10); the bound asserted leaves room for a shared 2-core machine.
STALL_S = 1.0


@dataclass
class Org:
    key: str
    ids: dict[str, str]  # object type → id: project_logs (the project id), experiment, dataset

    @property
    def project_id(self) -> str:
        return self.ids["project_logs"]


@dataclass(frozen=True)
class Window:
    """Where a test's part of the watchers' records starts."""

    at: float
    errors_from: int
    acked_from: int
    rounds_from: int


@dataclass
class FuzzEnv:
    ll: RunningLoopline
    mine: Org
    theirs: Org
    probe: HealthProbe
    bystander: Bystander

    def client(self, key: str | None = None) -> FuzzClient:
        return FuzzClient(self.ll.url, key or self.mine.key, log_path=self.ll.log_path)

    def mark(self) -> Window:
        b = self.bystander
        return Window(time.monotonic(), len(b.errors), len(b.acked), len(b.latencies))

    def stop_watchers(self) -> None:
        self.probe.stop()
        self.bystander.stop()

    def stop(self) -> int:
        try:
            self.stop_watchers()
        finally:
            code = self.ll.terminate()
        return code


def make_second_org_key(data_dir: Path, org: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopline.cli",
            "keys",
            "create",
            "--name",
            "fuzz",
            "--org",
            org,
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LOOPLINE_LOG_LEVEL": "WARNING"},
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()[0]


def make_objects(url: str, key: str, tag: str) -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=h, timeout=30) as c:
        p = c.post("/v1/project", json={"name": f"fuzz-{tag}"})
        p.raise_for_status()
        pid = p.json()["id"]
        e = c.post("/v1/experiment", json={"name": f"exp-{tag}", "project_id": pid})
        e.raise_for_status()
        d = c.post("/v1/dataset", json={"name": f"ds-{tag}", "project_id": pid})
        d.raise_for_status()
        return {"project_logs": pid, "experiment": e.json()["id"], "dataset": d.json()["id"]}


def start_fuzz_env(
    data_dir: Path, bus: str = "memory://", extra_env: dict[str, str] | None = None
) -> FuzzEnv:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(extra_env or {})
    other_key = make_second_org_key(data_dir, f"fuzz-other-{uuid.uuid4().hex[:6]}")
    ll = RunningLoopline(data_dir, free_port(), bus=bus, extra_env=env).start()
    tag = uuid.uuid4().hex[:8]
    mine = Org(ll.api_key, make_objects(ll.url, ll.api_key, tag))
    theirs = Org(other_key, make_objects(ll.url, other_key, tag))
    probe = HealthProbe(ll.url)
    probe.start()
    with httpx.Client(base_url=ll.url, headers=ll.headers, timeout=30) as c:
        own = c.post("/v1/project", json={"name": f"bystander-{tag}"})  # its rows disturb no oracle
        own.raise_for_status()
    bystander = Bystander(ll.url, ll.api_key, own.json()["id"], f"by{tag}")
    bystander.start()
    return FuzzEnv(ll, mine, theirs, probe, bystander)


def conclude(
    env: FuzzEnv,
    name: str,
    window: Window,
    clients: list[FuzzClient],
    ledger: Ledger | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """Print the test's figures; return every broken invariant (empty: all held).

    1. no 5xx, reset, closed connection or timeout on the fuzz clients' connections;
    2. the /healthz prober: no failed probe, none slower than STALL_S; the bystander: every
       request answered 200, no error or timeout;
    3./4. every acknowledged row (fuzz and bystander) found by fetch and BTQL, no row of a
       refused request found."""
    health = env.probe.since(window.at)
    ledger = ledger or Ledger()
    by = env.bystander
    ledger.ack(("project_logs", by.project_id), by.acked[window.acked_from :])
    problems: list[str] = []
    for c in clients:
        problems += [str(f) for f in c.findings]
    problems += [f"bystander: {e}" for e in by.errors[window.errors_from :]]
    lost = check_ledger(env.ll.url, env.mine.key, ledger)
    problems += lost
    if lost:  # why: the writer's dead letters, if any
        problems += [
            f"dead letter: {x.get('reason', x)!s:.400}" for x in dead_letters(env.ll.url, env.mine.key)[:5]
        ]
    problems += [f"/healthz failed: {f}" for f in health.failures]
    if health.max_s > STALL_S:
        problems.append(f"/healthz stalled: {health}")
    problems += extra or []
    lat = sorted(by.latencies[window.rounds_from :]) or [0.0]
    sent = sum(c.sent for c in clients)
    statuses: dict[int, int] = {}
    for c in clients:
        for k, v in c.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
    acked = sum(len(v) for v in ledger.acked.values())
    rejected = sum(len(v) for v in ledger.rejected.values())
    print(
        f"\n{name} (seed {SEED}): {sent} requests, statuses {dict(sorted(statuses.items()))}; "
        f"{ledger.acked_requests} writes acknowledged, {ledger.rejected_requests} refused; rows checked: "
        f"{acked} acknowledged, {rejected} refused; {health}; bystander: {len(lat)} rounds, "
        f"max {lat[-1] * 1000:.0f} ms, p50 {lat[len(lat) // 2] * 1000:.1f} ms"
    )
    for c in clients:
        c.close()
    return problems
