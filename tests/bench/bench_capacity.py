"""The distributed layout on Kafka: two ingest processes and two writer processes, and the CPU
each tier spends per span — the figures the README's capacity model is built from and checked
against.

Processes: a gateway (control plane: the ingest processes ask it whether a project exists), two
`loopline serve ingest`, two `loopline serve writer`, one Kafka broker, and this client. chdb
allows one process per data directory, so each writer writes its own embedded store (where a
ClickHouse server exists, both write the same one); the ingest processes get requests straight
from the client with the principal headers the gateway would add (no proxy hop).

Prints: spans/s end to end (acknowledged, and written by the writers: consumer lag back to 0),
CPU per span of each tier (processes with their worker processes), the sum, and what the model
predicts for this machine (its cores divided by the summed CPU per span) next to the measured rate.

    python -m tests.bench.bench_capacity [--seconds 20] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
from loopline.common.auth import INTERNAL_TOKEN_HEADER, PRINCIPAL_HEADER, Principal

from tests.bench import machine_speed
from tests.bench.bench_ingest import (
    ROWS_PER_REQUEST,
    Logs3Bodies,
    children_cpu_s,
    drive,
    process_cpu_s,
)
from tests.support.running import free_port

ROOT = Path(__file__).resolve().parents[2]


def machine_busy_s() -> float:
    """CPU seconds every process on the machine used so far (all cores; /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Proc:
    def __init__(self, services: str, env: dict[str, str], base: Path) -> None:
        self.services = services
        self.port = free_port()
        self.log = base / f"{services}-{self.port}.log"
        self.last = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loopline.cli", "serve", services, "--port", str(self.port)],
            env={**os.environ, **env},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.services} exited:\n{self.log.read_text()[-3000:]}")
                try:
                    r = await c.get(f"{self.url}/readyz")
                    if r.status_code == 200:
                        return
                    self.last = r.text
                except httpx.HTTPError as exc:
                    self.last = repr(exc)
                await asyncio.sleep(0.3)
        raise RuntimeError(f"{self.services} not ready ({self.last}):\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def writer_lag(writers: list[Proc]) -> int:
    total = 0
    async with httpx.AsyncClient(timeout=10) as c:
        for w in writers:
            for line in (await c.get(f"{w.url}/metrics")).text.splitlines():
                if line.startswith("loopline_consumer_lag{") and "writer" in line:
                    total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def run(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
    from broker import LocalKafka  # type: ignore[import-not-found]

    kafka = LocalKafka(port=free_port(), data_dir=base / "kafka")
    kafka.start()
    key = f"sk-ll-{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    common = {
        "LOOPLINE_BUS_URL": f"kafka://{kafka.bootstrap}",
        "LOOPLINE_TOPIC_PREFIX": f"cap{uuid.uuid4().hex[:6]}.",
        "LOOPLINE_BOOTSTRAP_API_KEY": key,
        "LOOPLINE_INTERNAL_TOKEN": token,
        "LOOPLINE_LOG_LEVEL": "WARNING",
    }

    def env(name: str, **extra: str) -> dict[str, str]:
        return {
            **common,
            "LOOPLINE_STORE_DSN": f"chdb://{base / ('ch-' + name)}",
            "LOOPLINE_DATA_DIR": str(base / ("data-" + name)),
            **extra,
        }

    procs: list[Proc] = []
    try:
        gateway = Proc("gateway,query", env("gw"), base)
        procs.append(gateway)
        await gateway.ready()
        urls = orjson.dumps({"gateway": gateway.url}).decode()
        ingests = [Proc("ingest", env(f"in{i}", LOOPLINE_SERVICE_URLS=urls), base) for i in range(2)]
        writers = [Proc("writer", env(f"wr{i}"), base) for i in range(2)]
        procs += ingests + writers
        for p in ingests + writers:
            await p.ready()
        async with httpx.AsyncClient(timeout=120) as c:
            r = await c.post(
                f"{gateway.url}/v1/project",
                json={"name": f"cap-{uuid.uuid4().hex[:6]}"},
                headers={"Authorization": f"Bearer {key}"},
            )
            r.raise_for_status()
            project = r.json()
            principal = Principal(org_id=project["org_id"])
            headers = {PRINCIPAL_HEADER: principal.model_dump_json(), INTERNAL_TOKEN_HEADER: token}
            bodies = Logs3Bodies(project["id"], api_version=None)

            async def send(start: int) -> int:
                body = bodies.body(start)
                target = ingests[(start // ROWS_PER_REQUEST) % len(ingests)]
                resp = await c.post(f"{target.url}/logs3", content=body, headers=headers)
                resp.raise_for_status()
                return ROWS_PER_REQUEST

            async def drain() -> None:
                deadline = time.monotonic() + 300
                while await writer_lag(writers) > 0 and time.monotonic() < deadline:  # noqa: ASYNC110 - lag is polled over HTTP
                    await asyncio.sleep(0.2)

            await drive("warm-up", send, min(3.0, args.seconds / 4), args.concurrency, None, drain)
            broker_pid = kafka.proc.pid if kafka.proc is not None else None
            meters = {
                "ingest (2 processes)": lambda: sum(process_cpu_s(p.proc.pid) for p in ingests),
                "writer (2 processes)": lambda: sum(process_cpu_s(p.proc.pid) for p in writers),
                "writer workers": lambda: sum(children_cpu_s(p.proc.pid) for p in writers),
                "kafka broker": lambda: process_cpu_s(broker_pid) if broker_pid else 0.0,
                "load client": time.process_time,
            }
            before = {k: f() for k, f in meters.items()}
            busy0 = machine_busy_s()
            res = await drive("2 ingest + 2 writer", send, args.seconds, args.concurrency, None, drain)
            cpu = {k: f() - before[k] for k, f in meters.items()}
            busy = machine_busy_s() - busy0
        print()
        print(machine_speed())
        print(res.line())
        print(f"end to end (acknowledged and written): {res.end_to_end:,.0f} spans/s")
        total = 0.0
        for tier, seconds in cpu.items():
            us = seconds * 1e6 / res.spans
            total += us
            print(f"  {tier:<22}{us:>8.1f} us CPU/span")
        cores = os.cpu_count() or 1
        wall = res.seconds + res.queryable_after_s
        print(f"  {'sum':<22}{total:>8.1f} us CPU/span")
        others = max(busy - sum(cpu.values()), 0.0)
        print(
            f"machine: {busy / wall:.2f} of {cores} cores busy during the run, "
            f"{others / wall:.2f} of them by other processes"
        )
        got = sum(cpu.values()) / wall
        print(
            f"model: {cores} cores x 1e6 / {total:.0f} us = {cores * 1e6 / total:,.0f} spans/s with the machine "
            f"to ourselves; with the {got:.2f} cores we got, {got * 1e6 / total:,.0f}; measured "
            f"{res.end_to_end:,.0f}"
        )
    finally:
        for p in reversed(procs):
            p.stop()
        kafka.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
