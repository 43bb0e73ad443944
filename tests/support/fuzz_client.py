"""The fuzz suite's HTTP side: one keep-alive connection that sends hostile requests and records
what broke an invariant (a 5xx, a reset or closed connection), and a ledger of written rows.

Every request goes through `FuzzClient.send`. A 5xx is recorded with the request (its body
minimised by re-sending smaller variants, see `fuzz_json.shrink`) and the server log lines of that
request; a transport error is recorded with the request that preceded it (the one that most
likely broke the connection). The caller asserts `findings == []` at the end.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.fuzz_json import describe, encode, shrink


@dataclass
class Case:
    """One request. `tree` (a fuzz_json tree) is the body unless `raw` is given."""

    label: str
    method: str
    path: str
    tree: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] | None = None
    gzip_body: bool = False

    def body(self) -> bytes | None:
        if self.raw is not None:
            return self.raw
        if self.tree is None:
            return None
        data = encode(self.tree)
        return gzip.compress(data, mtime=0) if self.gzip_body else data

    def summary(self) -> str:
        hdr = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        what = describe(self.tree) if self.raw is None else f"<raw {len(self.raw)} bytes: {self.raw[:120]!r}>"
        params = f" params={self.params}" if self.params else ""
        return f"[{self.label}] {self.method} {self.path}{params} headers={hdr} body={what}"


@dataclass
class Finding:
    kind: str  # "5xx", "reset", "connection-close", "timeout"
    case: str
    detail: str
    log: str = ""
    at: float = field(default_factory=time.monotonic)

    def __str__(self) -> str:
        log = f"\n    server log: {self.log}" if self.log else ""
        return f"{self.kind}: {self.case}\n    -> {self.detail}{log}"


class FuzzClient:
    """Sends cases on one keep-alive connection (`max_connections=1`) and records findings."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        log_path: Path | None = None,
        timeout_s: float = 30.0,
        shrink_budget: int = 30,
    ) -> None:
        self.base_url = base_url
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.log_path = log_path
        self.timeout_s = timeout_s
        self.shrink_budget = shrink_budget
        self.client = self._client()
        self.findings: list[Finding] = []
        self.statuses: dict[int, int] = {}
        self.sent = 0
        self.previous: Case | None = None
        self._seen: set[tuple[str, str, str]] = set()
        self.lock = threading.Lock()

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=self.timeout_s,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    def close(self) -> None:
        self.client.close()

    def _do(self, case: Case, body: bytes | None) -> httpx.Response:
        headers: dict[str, str | bytes] = {**self.auth}
        for k, v in case.headers.items():
            headers[k] = v.encode("utf-8", "surrogatepass")  # unicode in headers: sent as UTF-8 bytes
        if case.gzip_body and "content-encoding" not in {k.lower() for k in headers}:
            headers["Content-Encoding"] = "gzip"
        return self.client.request(case.method, case.path, content=body, headers=headers, params=case.params)

    def send(self, case: Case) -> httpx.Response | None:
        """The response, or None after a transport error (recorded; the connection is renewed)."""
        with self.lock:
            self.sent += 1
            try:
                body = case.body()
                r = self._do(case, body)
            except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError):
                self.sent -= 1  # the client library refused to send it (a NUL in a header, a 64 KiB URL)
                self._renew()
                return None
            except httpx.TimeoutException as exc:
                self._record("timeout", case, f"no answer in {self.timeout_s}s ({type(exc).__name__})")
                self._renew()
                return None
            except httpx.TransportError as exc:
                before = self.previous.summary() if self.previous else "(first request)"
                self._record(
                    "reset",
                    case,
                    f"{type(exc).__name__}: {exc}; the request before it on this connection: {before}",
                )
                self._renew()
                self.previous = case
                return None
            self.previous = case
            self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
            if r.status_code >= 500:
                self._record_5xx(case, r)
            if r.headers.get("connection", "").lower() == "close":
                self._record("connection-close", case, f"{r.status_code} with Connection: close")
            return r

    def _renew(self) -> None:
        self.client.close()
        self.client = self._client()

    def _record(self, kind: str, case: Case, detail: str, minimal: Case | None = None) -> None:
        key = (kind, case.label, detail[:60])
        if key in self._seen:
            return
        self._seen.add(key)
        shown = minimal or case
        self.findings.append(Finding(kind, shown.summary(), detail, self._log_excerpt()))

    def _record_5xx(self, case: Case, r: httpx.Response) -> None:
        detail = f"{r.status_code} {r.text[:300]}"
        key = ("5xx", case.label, detail[:60])
        if key in self._seen:
            return
        minimal = case
        if case.tree is not None and case.raw is None and self.shrink_budget:

            def fails(tree: Any) -> bool:
                cand = Case(
                    case.label, case.method, case.path, tree, None, case.headers, case.params, case.gzip_body
                )
                try:
                    rr = self._do(cand, cand.body())
                except httpx.TransportError:
                    self._renew()
                    return False
                return rr.status_code >= 500

            tree = shrink(case.tree, fails, self.shrink_budget)
            minimal = Case(
                case.label, case.method, case.path, tree, None, case.headers, case.params, case.gzip_body
            )
        self._record("5xx", case, detail, minimal)

    def _log_excerpt(self) -> str:
        """The last error-looking lines of the server log (the request that just failed)."""
        if not self.log_path or not self.log_path.exists():
            return ""
        time.sleep(0.05)
        with self.log_path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 60_000))
            lines = f.read().decode(errors="replace").splitlines()
        hits = [ln for ln in lines if '"level":"error"' in ln or "Traceback" in ln or "Error" in ln]
        return (hits[-1] if hits else "")[:700]


# -- the ledger of written rows ----------------------------------------------------------------


@dataclass
class Ledger:
    """Row ids per object: acknowledged (must be readable) and rejected (must be absent)."""

    acked: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    rejected: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    acked_requests: int = 0
    rejected_requests: int = 0

    def ack(self, obj: tuple[str, str], ids: Iterable[str]) -> None:
        self.acked.setdefault(obj, set()).update(ids)

    def reject(self, obj: tuple[str, str], ids: Iterable[str]) -> None:
        self.rejected.setdefault(obj, set()).update(ids)

    def note(self, status: int, obj: tuple[str, str], sent_ids: list[str], acked_ids: list[str]) -> None:
        """Book one write request: 200 → its acknowledged ids; 4xx → every id it carried."""
        if status == 200:
            self.acked_requests += 1
            self.ack(obj, acked_ids)
        elif 400 <= status < 500:
            self.rejected_requests += 1
            self.reject(obj, sent_ids)


def read_ids(
    client: httpx.Client, object_type: str, object_id: str, wanted: set[str]
) -> tuple[set[str], set[str], list[str]]:
    """Which of `wanted` a fetch (all pages) and BTQL (id IN [...], chunked) find; problems seen."""
    from loopline.btql.unparse import quote_string

    problems: list[str] = []
    by_fetch: set[str] = set()
    cursor = None
    for _ in range(500):
        r = client.post(f"/v1/{object_type}/{object_id}/fetch", json={"limit": 1000, "cursor": cursor})
        if r.status_code != 200:
            problems.append(f"fetch {object_type}/{object_id}: {r.status_code} {r.text[:300]}")
            break
        page = r.json()
        by_fetch.update(e["id"] for e in page["events"])
        cursor = page.get("cursor")
        if not cursor or not page["events"]:
            break
    by_btql: set[str] = set()
    ids = sorted(wanted)
    for i in range(0, len(ids), 200):
        chunk = ids[i : i + 200]
        q = (
            f"select: id | from: {object_type}({quote_string(object_id)}) "
            f"| filter: id IN [{', '.join(quote_string(x) for x in chunk)}] | limit: 1000"
        )
        r = client.post("/btql", json={"query": q})
        if r.status_code != 200:
            problems.append(f"btql {object_type}/{object_id}: {r.status_code} {r.text[:300]}")
            continue
        by_btql.update(row["id"] for row in r.json()["data"])
    return by_fetch & wanted, by_btql & wanted, problems


def check_ledger(base_url: str, api_key: str, ledger: Ledger) -> list[str]:
    """Invariants 3 and 4: every acknowledged row is found by fetch and by BTQL; no row of a
    rejected request is found. Reads wait for the writer (read-your-writes)."""
    errors: list[str] = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=120) as c:
        for obj in sorted(set(ledger.acked) | set(ledger.rejected)):
            acked = ledger.acked.get(obj, set())
            rejected = ledger.rejected.get(obj, set()) - acked
            f_found, b_found, problems = read_ids(c, obj[0], obj[1], acked | rejected)
            errors += problems
            for how, found in (("fetch", f_found), ("BTQL", b_found)):
                lost = acked - found
                if lost:
                    errors.append(
                        f"{obj[0]}/{obj[1]}: {len(lost)} of {len(acked)} acknowledged rows not found by {how}, "
                        f"e.g. {sorted(lost)[:5]}"
                    )
                leaked = rejected & found
                if leaked:
                    errors.append(
                        f"{obj[0]}/{obj[1]}: {len(leaked)} rows of rejected requests found by {how}, "
                        f"e.g. {sorted(leaked)[:5]}"
                    )
    return errors


def dead_letters(base_url: str, api_key: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{base_url}/api/admin/dlq", headers={"Authorization": f"Bearer {api_key}"}, params={"limit": 100}
    )
    r.raise_for_status()
    return list(r.json()["objects"])


def run_for(budget_s: float, count: int, step: Callable[[int], None]) -> int:
    """Call `step(i)` for i = 0.. until `count` steps ran or `budget_s` passed; steps run."""
    deadline = time.monotonic() + budget_s
    i = 0
    while i < count and time.monotonic() < deadline:
        step(i)
        i += 1
    return i


def dumps(v: Any) -> bytes:
    return orjson.dumps(v)
