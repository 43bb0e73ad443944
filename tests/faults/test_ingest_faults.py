"""Faults during ingest, each ending with every acknowledged row queryable exactly once.

- the process running the writer is killed (-9) mid-batch (Kafka bus), then restarted;
- the Kafka broker is restarted during a steady ingest: clients get 503 (or a connection
  error) while it is down, never a 200 for rows that were not acknowledged by Kafka;
- the store rejects writes for a while: the writer pauses (lag grows), nothing is lost, it
  catches up.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.running import RunningLoopline, free_port

pytestmark = pytest.mark.timeout(400)


class Sender(threading.Thread):
    """Posts /logs3 batches in a loop; remembers exactly which rows got a 200."""

    def __init__(self, ll: RunningLoopline, project_id: str, rows_per_request: int = 50) -> None:
        super().__init__(daemon=True)
        self.ll = ll
        self.pid = project_id
        self.n = rows_per_request
        self.acked: list[str] = []
        self.statuses: dict[str, int] = {}
        self.stop_flag = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.ll.url, headers=self.ll.headers, timeout=30) as c:
            deadline = time.monotonic() + 120
            while not self.stop_flag.is_set() and time.monotonic() < deadline:
                ids = [uuid.uuid4().hex for _ in range(self.n)]
                rows = [
                    {"id": i, "project_id": self.pid, "log_id": "g", "input": {"i": i}, "output": "x" * 200}
                    for i in ids
                ]
                try:
                    r = c.post("/logs3", content=orjson.dumps({"rows": rows}))
                    key = str(r.status_code)
                    if r.status_code == 200:
                        self.acked.extend(ids)
                    elif r.status_code == 503:
                        assert r.headers.get("retry-after")
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                    time.sleep(0.1)
                self.statuses[key] = self.statuses.get(key, 0) + 1


#: How long a read may answer 503 "the writer has not caught up" after a restart: the writer first
#: writes the backlog the journal recovered, and a shared machine makes that slow.
CATCH_UP_S = 180.0


def _read(c: httpx.Client, url: str, body: dict[str, Any]) -> httpx.Response:
    """POST a read, again while it answers 503 (read-your-writes waits for the writer, then says
    "retry shortly"), up to CATCH_UP_S."""
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        r = c.post(url, json=body)
        if r.status_code != 503 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            return r
        time.sleep(1.0)


def count_and_ids(ll: RunningLoopline, pid: str) -> tuple[int, set[str]]:
    with httpx.Client(base_url=ll.url, headers=ll.headers, timeout=120) as c:
        r = _read(c, "/btql", {"query": f"measures: count(1) as n | from: project_logs('{pid}')"})
        n = int(r.json()["data"][0]["n"])
        ids: set[str] = set()
        cursor = None
        while True:
            f = _read(c, f"/v1/project_logs/{pid}/fetch", {"limit": 5000, "cursor": cursor})
            ids.update(e["id"] for e in f.json()["events"])
            cursor = f.json()["cursor"]
            if not cursor:
                return n, ids


def make_project(ll: RunningLoopline) -> str:
    r = httpx.post(
        f"{ll.url}/v1/project", json={"name": f"faults-{uuid.uuid4().hex[:6]}"}, headers=ll.headers
    )
    r.raise_for_status()
    return str(r.json()["id"])


@pytest.mark.kafka
def test_writer_killed_mid_batch(tmp_path: Path, kafka_bootstrap: str) -> None:
    port = free_port()
    env = {"LOOPLINE_TOPIC_PREFIX": f"kill{uuid.uuid4().hex[:6]}."}
    ll = RunningLoopline(tmp_path / "data", port, bus=f"kafka://{kafka_bootstrap}", extra_env=env).start()
    pid = make_project(ll)
    sender = Sender(ll, pid)
    sender.start()
    time.sleep(4)
    ll.kill()  # SIGKILL: the writer dies with batches consumed but not committed
    sender.stop_flag.set()
    sender.join()
    assert sender.acked, sender.statuses
    ll2 = RunningLoopline(
        tmp_path / "data", port, bus=f"kafka://{kafka_bootstrap}", extra_env=env, api_key=ll.api_key
    ).start()
    try:
        n, ids = count_and_ids(ll2, pid)
        missing = set(sender.acked) - ids
        assert not missing, f"{len(missing)} acknowledged rows lost"
        assert n == len(ids)  # each row exactly once
    finally:
        assert ll2.terminate() == 0


@pytest.mark.kafka
def test_broker_restart_during_ingest(tmp_path: Path, restartable_kafka: Any) -> None:
    broker = restartable_kafka
    ll = RunningLoopline(
        tmp_path / "data",
        free_port(),
        bus=f"kafka://{broker.bootstrap}",
        extra_env={"LOOPLINE_PUBLISH_TIMEOUT_S": "3"},
    ).start()
    try:
        pid = make_project(ll)
        sender = Sender(ll, pid)
        sender.start()
        time.sleep(3)
        broker.stop()
        time.sleep(6)
        broker.start()
        time.sleep(8)
        sender.stop_flag.set()
        sender.join()
        assert sender.statuses.get("200", 0) > 0
        assert (
            sender.statuses.get("503", 0) + sum(v for k, v in sender.statuses.items() if not k.isdigit()) > 0
        ), sender.statuses
        deadline = time.monotonic() + 60
        while True:
            try:
                n, ids = count_and_ids(ll, pid)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        missing = set(sender.acked) - ids
        assert not missing, f"{len(missing)} acknowledged rows lost ({sender.statuses})"
        assert n == len(ids)
    finally:
        assert ll.terminate() == 0, ll.log_text()


async def test_store_unavailable_writer_pauses_and_catches_up(chdb_dsn: str, tmp_path: Path) -> None:
    from loopline.common.store import StoreError

    from tests.support.app import in_process

    async with in_process(chdb_dsn, tmp_path, read_your_writes_timeout_s=1.0) as ll:
        pid = await ll.make_project()
        store = ll.ctx.require_store()
        # warm the ingest's object cache, then take the whole store down: every call fails
        r = await ll.client.post("/logs3", content=orjson.dumps({"rows": []}), headers=ll.headers)
        warm = [{"id": "warm", "project_id": pid, "log_id": "g"}]
        assert (
            await ll.client.post("/logs3", content=orjson.dumps({"rows": warm}), headers=ll.headers)
        ).status_code == 200
        real_run = store._run
        down = True

        async def run(fn: Any, *a: Any, **kw: Any) -> Any:
            if down:
                raise StoreError("Connection refused (simulated outage)")
            return await real_run(fn, *a, **kw)

        store._run = run  # type: ignore[method-assign]
        ids = []
        for b in range(5):
            rows = [{"id": f"r{b}-{i}", "project_id": pid, "log_id": "g", "input": i} for i in range(100)]
            r = await ll.client.post("/logs3", content=orjson.dumps({"rows": rows}), headers=ll.headers)
            assert r.status_code == 200  # accepted: durable on the bus
            ids += [x["id"] for x in rows]
        await asyncio.sleep(1.0)
        r = await ll.client.post(f"/v1/project_logs/{pid}/fetch", json={}, headers=ll.headers)
        assert r.status_code == 503 and r.headers["retry-after"]  # a clear error, not stale data
        r = await ll.client.post("/logs3", content=orjson.dumps({"rows": warm}), headers=ll.headers)
        assert r.status_code == 200  # writes are still accepted: they wait on the bus
        from loopline.common.progress import WRITER_GROUP
        from loopline.common.topics import ROWS

        ends = await ll.ctx.bus.end_offsets(ROWS)
        committed = await ll.ctx.bus.committed_offsets(ROWS, WRITER_GROUP)
        assert sum(ends.values()) - sum(committed.get(p, 0) for p in ends) >= 500  # lag grew
        down = False
        deadline = time.monotonic() + 60
        while True:
            r = await ll.client.post(
                f"/v1/project_logs/{pid}/fetch", json={"limit": 1000}, headers=ll.headers
            )
            if r.status_code == 200:
                break
            assert time.monotonic() < deadline, r.text
            await asyncio.sleep(0.5)
        assert {e["id"] for e in r.json()["events"]} == set(ids) | {"warm"}
        dl = await ll.client.get("/api/admin/dlq", headers=ll.headers)
        assert dl.json()["objects"] == []  # an outage is not a reason to dead-letter rows


def test_embedded_killed_mid_ingest_loses_no_acknowledged_row(tmp_path: Path) -> None:
    """`loopline up` (in-process bus, journaled by default) SIGKILLed while the writer is behind."""
    port = free_port()
    ll = RunningLoopline(tmp_path / "data", port).start()
    pid = make_project(ll)
    senders = [Sender(ll, pid, rows_per_request=200) for _ in range(3)]
    for s in senders:
        s.start()
    time.sleep(5)
    ll.kill()  # SIGKILL: acknowledged rows still waiting for the writer exist only in the journal
    for s in senders:
        s.stop_flag.set()
        s.join()
    acked = [i for s in senders for i in s.acked]
    assert acked, [s.statuses for s in senders]
    ll2 = RunningLoopline(tmp_path / "data", port, api_key=ll.api_key).start()
    try:
        n, ids = count_and_ids(ll2, pid)
        missing = set(acked) - ids
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged rows lost"
        assert n == len(ids)  # each row exactly once
        recovered = [
            orjson.loads(line)
            for line in (ll2.log_text() or "").splitlines()
            if "bus journal recovered" in line and line.startswith("{")
        ]
        print("journal recovery:", recovered[-1] if recovered else "nothing pending", "acked:", len(acked))
    finally:
        assert ll2.terminate() == 0
