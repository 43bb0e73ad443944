"""An HTTP client that records every request: counts by kind and status, latencies, 5xx samples."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
import orjson

MAX_SAMPLES = 50


def _pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return 0.0
    return sorted_vals[min(len(sorted_vals) - 1, int(p * len(sorted_vals)))]


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_kind: dict[str, Counter[str]] = defaultdict(Counter)
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.server_errors: list[dict[str, Any]] = []
        self.transport_errors: list[dict[str, Any]] = []
        self.n_5xx = 0
        self.n_503 = 0
        self.n_transport = 0

    def record(self, kind: str, status: int | str, seconds: float) -> None:
        with self._lock:
            self.by_kind[kind][str(status)] += 1
            self.latencies[kind].append(seconds)

    def server_error(self, kind: str, method: str, path: str, status: int, body: bytes, text: str) -> None:
        with self._lock:
            self.n_5xx += 1
            self.n_503 += status == 503
            if len(self.server_errors) < MAX_SAMPLES:
                self.server_errors.append(
                    {
                        "kind": kind,
                        "method": method,
                        "path": path,
                        "status": status,
                        "request": body[:500].decode("utf-8", "replace"),
                        "response": text[:500],
                    }
                )

    def transport_error(self, kind: str, path: str, exc: Exception) -> None:
        with self._lock:
            self.n_transport += 1
            if len(self.transport_errors) < MAX_SAMPLES:
                self.transport_errors.append({"kind": kind, "path": path, "error": repr(exc)[:300]})

    def totals(self) -> Counter[str]:
        with self._lock:
            out: Counter[str] = Counter()
            for c in self.by_kind.values():
                for status, n in c.items():
                    out[status[0] + "xx" if status.isdigit() else status] += n
            return out

    def report(self) -> dict[str, Any]:
        with self._lock:
            kinds = {}
            for kind, c in sorted(self.by_kind.items()):
                lat = sorted(self.latencies[kind])
                kinds[kind] = {
                    "count": sum(c.values()),
                    "by_status": dict(sorted(c.items())),
                    "latency_ms": {
                        "p50": round(_pct(lat, 0.5) * 1000, 1),
                        "p95": round(_pct(lat, 0.95) * 1000, 1),
                        "p99": round(_pct(lat, 0.99) * 1000, 1),
                        "max": round((lat[-1] if lat else 0.0) * 1000, 1),
                    },
                }
        return {
            "requests": sum(v["count"] for v in kinds.values()),
            "by_status_class": dict(sorted(self.totals().items())),
            "n_5xx": self.n_5xx,
            "n_503": self.n_503,
            "n_transport_errors": self.n_transport,
            "by_kind": kinds,
            "server_error_samples": self.server_errors,
            "transport_error_samples": self.transport_errors,
        }


class SoakClient:
    """One per thread (httpx clients are not shared across threads here)."""

    def __init__(self, base_url: str, api_key: str, stats: Stats, timeout_s: float = 120.0) -> None:
        self.stats = stats
        self.api_key = api_key
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def send(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> httpx.Response | None:
        hdrs = dict(headers or {})
        if auth:
            hdrs.setdefault("Authorization", f"Bearer {self.api_key}")
        if json is not None:
            body = orjson.dumps(json)
            hdrs.setdefault("Content-Type", "application/json")
        t = time.monotonic()
        try:
            resp = self.http.request(method, path, content=body, headers=hdrs, params=params)
        except httpx.HTTPError as exc:
            self.stats.record(kind, "transport_error", time.monotonic() - t)
            self.stats.transport_error(kind, path, exc)
            return None
        self.stats.record(kind, resp.status_code, time.monotonic() - t)
        if resp.status_code >= 500:
            self.stats.server_error(kind, method, path, resp.status_code, body or b"", resp.text)
        return resp
