"""A background `/healthz` prober (its own keep-alive connection, one probe every ~50 ms).

It measures how long the server takes to answer a trivial request while the fuzzer runs: a
request that stalls the event loop shows up as a long probe. It also is "another client" of the
server: a connection error on its keep-alive connection is a reset caused by someone else's
request. Windows (`mark()` / `since(mark)`) let each test look at the probes of its own run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Probe:
    at: float  # monotonic start
    latency_s: float
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class HealthStats:
    probes: int
    failures: list[str]
    max_s: float
    p50_s: float
    p99_s: float
    over_100ms: int
    over_1s: int

    def __str__(self) -> str:
        return (
            f"{self.probes} /healthz probes: max {self.max_s * 1000:.0f} ms, p50 {self.p50_s * 1000:.1f} ms, "
            f"p99 {self.p99_s * 1000:.1f} ms, {self.over_100ms} over 100 ms, {self.over_1s} over 1 s, "
            f"{len(self.failures)} failed"
        )


class HealthProbe(threading.Thread):
    def __init__(self, base_url: str, interval_s: float = 0.05, timeout_s: float = 30.0) -> None:
        super().__init__(daemon=True, name="healthz-probe")
        self.base_url = base_url
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.probes: list[Probe] = []
        self._halt = threading.Event()

    def run(self) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        client = httpx.Client(base_url=self.base_url, timeout=self.timeout_s, limits=limits)
        try:
            while not self._halt.is_set():
                start = time.monotonic()
                try:
                    r = client.get("/healthz")
                    ok, err = r.status_code == 200, "" if r.status_code == 200 else f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    ok, err = False, f"{type(exc).__name__}: {exc}"
                    client.close()
                    client = httpx.Client(base_url=self.base_url, timeout=self.timeout_s, limits=limits)
                took = time.monotonic() - start
                self.probes.append(Probe(start, took, ok, err))
                self._halt.wait(max(0.0, self.interval_s - took))
        finally:
            client.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=self.timeout_s + 5)

    @staticmethod
    def mark() -> float:
        return time.monotonic()

    def since(self, mark: float) -> HealthStats:
        window = [p for p in list(self.probes) if p.at >= mark]
        lat = sorted(p.latency_s for p in window) or [0.0]
        return HealthStats(
            probes=len(window),
            failures=[f"{p.error} (at +{p.at - mark:.1f}s)" for p in window if not p.ok],
            max_s=lat[-1],
            p50_s=lat[len(lat) // 2],
            p99_s=lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            over_100ms=sum(1 for x in lat if x > 0.1),
            over_1s=sum(1 for x in lat if x > 1.0),
        )


class Bystander(threading.Thread):
    """Another client doing ordinary work while the fuzzer runs: a one-row `/logs3` write and a
    small fetch, every ~100 ms, on its own keep-alive connection. Any error, non-200 or timeout
    is a request of someone else that the fuzz traffic broke or starved; its rows must be
    readable afterwards like any acknowledged row."""

    def __init__(
        self, base_url: str, api_key: str, project_id: str, tag: str, timeout_s: float = 30.0
    ) -> None:
        super().__init__(daemon=True, name="bystander")
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.project_id = project_id
        self.tag = tag
        self.timeout_s = timeout_s
        self.acked: list[str] = []
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(
            base_url=self.base_url, headers=self.headers, timeout=self.timeout_s, limits=limits
        ) as c:
            i = 0
            while not self._halt.is_set():
                rid = f"{self.tag}-by-{i}"
                row = {"id": rid, "project_id": self.project_id, "log_id": "g", "input": i}
                start = time.monotonic()
                try:
                    r = c.post("/logs3", json={"rows": [row]})
                    if r.status_code == 200:
                        self.acked.append(rid)
                    else:
                        self.errors.append(f"/logs3 {r.status_code} {r.text[:200]}")
                    if i % 3 == 0:
                        f = c.get(f"/v1/project_logs/{self.project_id}/fetch", params={"limit": "1"})
                        if f.status_code != 200:
                            self.errors.append(f"fetch {f.status_code} {f.text[:200]}")
                except httpx.HTTPError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc} after {time.monotonic() - start:.1f}s")
                self.latencies.append(time.monotonic() - start)
                i += 1
                self._halt.wait(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=self.timeout_s * 2 + 5)

    def summary(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        return (
            f"bystander: {len(self.latencies)} rounds, {len(self.acked)} rows acked, max "
            f"{lat[-1] * 1000:.0f} ms, p50 {lat[len(lat) // 2] * 1000:.1f} ms, {len(self.errors)} errors"
        )
