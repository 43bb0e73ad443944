"""The soak run: start `loopline up` (optionally on Kafka), mix valid load, light fuzz, reads and
the oracle for a fixed duration, record memory, then report and decide pass/fail."""

from __future__ import annotations

import json
import random
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.soak import fuzz, traffic
from tests.soak.client import SoakClient, Stats
from tests.soak.memory import MemorySample, read_memory, summarize
from tests.soak.model import SoakObject
from tests.soak.oracle import Findings, Oracle
from tests.support.running import RunningLoopline, free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SoakConfig:
    duration_s: float = 30 * 60
    bus: str = "memory://"  # memory://, kafka://host:port, or "kafka" to start a local broker
    out: Path | None = None  # JSON report
    seed: int | None = None
    data_dir: Path | None = None  # default: a fresh temporary directory
    writers: int = 2
    pause_s: float = 0.0  # between a worker's requests
    big_batch_p: float = 0.02  # share of writes that are multi-MiB batches
    oversized_p: float = 0.01  # share of fuzz requests past the request size limit
    max_request_bytes: int = 32 * 1024 * 1024
    memory_interval_s: float = 3.0
    max_objects: int = 40
    server_env: dict[str, str] = field(default_factory=dict)
    final_full_checks: int = 5  # objects the full oracle checks again after the load
    allow_503: bool = False  # tolerate "retry shortly" 503s (overload on a busy machine); still reported
    url: str = ""  # attach to a running server instead of starting one
    api_key: str = ""
    server_pid: int = 0
    log: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr, flush=True))


@dataclass
class SoakResult:
    passed: bool
    report: dict[str, Any]
    line: str


class Soak:
    def __init__(self, cfg: SoakConfig) -> None:
        self.cfg = cfg
        self.seed = cfg.seed if cfg.seed is not None else random.randrange(2**31)
        self.run_id = f"s{uuid.uuid4().hex[:6]}"
        self.stats = Stats()
        self.findings = Findings()
        self.objects: list[SoakObject] = []
        self.objects_lock = threading.Lock()
        self.memory: list[MemorySample] = []
        self.stop = threading.Event()
        self.crashes: list[str] = []
        self.t0 = time.monotonic()
        self.deadline = self.t0 + cfg.duration_s
        self.server: RunningLoopline | None = None
        self.kafka: Any = None
        self.url = cfg.url
        self.api_key = cfg.api_key
        self.pid = cfg.server_pid
        self.fuzz_project = ""
        self.ids = traffic.IdSource(self.run_id)
        self.ids_lock = threading.Lock()
        self.server_exit: int | None = None

    # ---- lifecycle ----
    def _start(self) -> None:
        if self.url:
            return
        bus = self.cfg.bus
        base = self.cfg.data_dir or Path(tempfile.mkdtemp(prefix="loopline-soak-"))
        if bus == "kafka":
            sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
            from broker import LocalKafka  # type: ignore[import-not-found]

            self.kafka = LocalKafka(port=free_port(), data_dir=base / "kafka").start()
            bus = f"kafka://{self.kafka.bootstrap}"
        env = {"LOOPLINE_LOG_LEVEL": "WARNING", **self.cfg.server_env}
        if bus.startswith("kafka://"):
            env.setdefault("LOOPLINE_TOPIC_PREFIX", f"{self.run_id}.")
        self.server = RunningLoopline(base / "data", free_port(), bus=bus, extra_env=env).start()
        assert self.server.proc is not None
        self.url, self.api_key, self.pid = self.server.url, self.server.api_key, self.server.proc.pid
        self.cfg.log(f"soak: loopline up at {self.url} (pid {self.pid}, bus {bus}, data {base})")

    def _stop_server(self) -> None:
        if self.server is not None:
            try:
                self.server_exit = self.server.terminate()
            except Exception as exc:
                self.crashes.append(f"server shutdown: {exc!r}")
                self.server.kill()
        if self.kafka is not None:
            self.kafka.stop()

    def client(self) -> SoakClient:
        return SoakClient(self.url, self.api_key, self.stats)

    def _setup(self, c: SoakClient) -> None:
        def make(path: str, body: dict[str, Any]) -> str:
            r = c.send("setup", "POST", path, json=body)
            if r is None or r.status_code != 200:
                raise RuntimeError(
                    f"setup {path} failed: {None if r is None else (r.status_code, r.text[:300])}"
                )
            return str(r.json()["id"])

        for p in range(2):
            pid = make("/v1/project", {"name": f"soak-{self.run_id}-{p}"})
            self.objects.append(SoakObject("project_logs", pid, pid))
            for k in range(2):
                self.objects.append(
                    SoakObject(
                        "experiment", make("/v1/experiment", {"project_id": pid, "name": f"e{k}"}), pid
                    )
                )
                self.objects.append(
                    SoakObject("dataset", make("/v1/dataset", {"project_id": pid, "name": f"d{k}"}), pid)
                )
        self.fuzz_project = make("/v1/project", {"name": f"soak-{self.run_id}-fuzz"})

    def _new_object(self, c: SoakClient, rng: random.Random) -> None:
        with self.objects_lock:
            if len(self.objects) >= self.cfg.max_objects:
                return
            pid = rng.choice([o.project_id for o in self.objects if o.object_type == "project_logs"])
        kind = rng.choice(["experiment", "dataset"])
        r = c.send(
            "create_object",
            "POST",
            f"/v1/{kind}",
            json={"project_id": pid, "name": f"{kind[0]}{uuid.uuid4().hex[:6]}"},
        )
        if r is not None and r.status_code == 200:
            with self.objects_lock:
                self.objects.append(SoakObject(kind, str(r.json()["id"]), pid))

    def _pick(self, rng: random.Random) -> SoakObject:
        with self.objects_lock:
            return rng.choice(self.objects)

    def _running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def _guard(self, name: str, fn: Callable[[random.Random], None], rng: random.Random) -> None:
        try:
            fn(rng)
        except Exception:
            self.crashes.append(f"{name}: {traceback.format_exc()[-2000:]}")
            self.stop.set()

    # ---- workers ----
    def _writer(self, rng: random.Random) -> None:
        c = self.client()
        while self._running():
            r = rng.random()
            if r < 0.01:
                self._new_object(c, rng)
                continue
            obj = self._pick(rng)
            if not obj.lock.acquire(timeout=0.5):
                continue
            try:
                w = self._build_write(rng, obj)
                if w is not None:
                    self._send_write(c, obj, w)
            finally:
                obj.lock.release()
            if self.cfg.pause_s:
                time.sleep(self.cfg.pause_s)
        c.close()

    def _build_write(self, rng: random.Random, obj: SoakObject) -> traffic.Write | None:
        r = rng.random()
        with self.ids_lock:
            if r < self.cfg.big_batch_p:
                return traffic.logs3_insert(rng, obj, self.ids, big=True)
            if obj.object_type == "project_logs" and r < 0.35:
                return traffic.otlp(rng, obj, protobuf=r < 0.2)
            if r < 0.5:
                return traffic.logs3_insert(rng, obj, self.ids)
            if r < 0.6:
                return traffic.rest_insert(rng, obj, self.ids)
        if r < 0.85:
            return traffic.merge(rng, obj)
        return traffic.delete(rng, obj)

    def _send_write(self, c: SoakClient, obj: SoakObject, w: traffic.Write) -> None:
        resp = c.send(w.kind, w.method, w.path, body=w.body, headers=w.headers)
        if resp is None or resp.status_code >= 500:
            obj.uncertain.update(w.ids)
            return
        if resp.status_code == 200:
            err = w.check_response(resp)
            if err is None:
                w.apply()
                return
            obj.uncertain.update(w.ids)
            self.findings.rejected_valid(w.kind, 200, err)
            return
        if resp.status_code != 429:
            self.findings.rejected_valid(w.kind, resp.status_code, f"{w.path}: {resp.text}")

    def _fuzzer(self, rng: random.Random) -> None:
        c = self.client()
        while self._running():
            if rng.random() < self.cfg.oversized_p:
                req = fuzz.oversized(self.cfg.max_request_bytes)
            else:
                with self.objects_lock:
                    objs = list(self.objects)
                req = fuzz.pick(rng, objs, self.fuzz_project)
            c.send(req.kind, req.method, req.path, body=req.body, headers=req.headers, auth=req.auth)
            time.sleep(self.cfg.pause_s or 0.01)
        c.close()

    def _reader(self, rng: random.Random) -> None:
        c = self.client()
        while self._running():
            obj = self._pick(rng)
            r = rng.random()
            if r < 0.3:
                c.send(
                    "read_fetch",
                    "POST",
                    f"/v1/{obj.object_type}/{obj.object_id}/fetch",
                    json={"limit": rng.choice([1, 10, 100])},
                )
            elif r < 0.7:
                q = rng.choice(
                    [
                        f"dimensions: metadata.bucket as b | measures: count(1) as n, max(metadata.n) as m | from: {obj.ref}",
                        f"select: id, metadata | from: {obj.ref} | filter: metadata.n > 900 | sort: metadata.n desc | limit: 20",
                        f"select: * | from: {obj.ref} traces | limit: 5",
                        f"select: id | from: {obj.ref} | filter: input MATCH 'ab' | limit: 20",
                        f"measures: count(1) as n, avg(scores.q) as q | from: {obj.ref}",
                    ]
                )
                resp = c.send("read_btql", "POST", "/btql", json={"query": q})
                if resp is not None and 400 <= resp.status_code < 500:
                    self.findings.rejected_valid("read_btql", resp.status_code, f"{q}: {resp.text}")
            elif r < 0.8 and obj.object_type != "project_logs":
                c.send("read_summary", "GET", f"/v1/{obj.object_type}/{obj.object_id}/summarize")
            elif r < 0.9:
                c.send(
                    "read_schema",
                    "GET",
                    "/btql/schema",
                    params={"object_type": obj.object_type, "object_id": obj.object_id},
                )
            else:
                c.send("read_list", "GET", "/v1/experiment", params={"project_id": obj.project_id})
            time.sleep(self.cfg.pause_s or 0.01)
        c.close()

    def _oracle(self, rng: random.Random) -> None:
        c = self.client()
        oracle = Oracle(c, self.findings, rng, deadline=self.deadline)
        while self._running():
            obj = self._pick(rng)
            if obj.lock.acquire(timeout=1.0):
                try:
                    oracle.check(obj)
                finally:
                    obj.lock.release()
        c.close()

    def _memory(self, rng: random.Random) -> None:
        c = self.client()
        last_log = 0.0
        while not self.stop.is_set():
            s = read_memory(self.pid, self.t0) if self.pid else None
            if s is not None:
                self.memory.append(s)
            c.send("healthz", "GET", "/healthz", auth=False)
            now = time.monotonic()
            if now - last_log >= 60 and s is not None:
                last_log = now
                tot = self.stats.totals()
                self.cfg.log(
                    f"soak t={s.t:.0f}s rss={s.rss / 2**20:.0f}MiB uss={s.uss / 2**20:.0f}MiB "
                    f"requests={sum(tot.values())} 5xx={self.stats.n_5xx} wrong={self.findings.n_wrong} "
                    f"checks={sum(self.findings.checks.values())}"
                )
            self.stop.wait(self.cfg.memory_interval_s)
        c.close()

    # ---- run ----
    def run(self) -> SoakResult:
        self.cfg.log(f"soak: {self.cfg.duration_s:.0f}s, seed {self.seed}, run {self.run_id}")
        try:
            self._start()
            setup = self.client()
            self._setup(setup)
            self.t0 = time.monotonic()
            self.deadline = self.t0 + self.cfg.duration_s
            workers: list[tuple[str, Callable[[random.Random], None]]] = [
                *[(f"writer{i}", self._writer) for i in range(self.cfg.writers)],
                ("fuzzer", self._fuzzer),
                ("reader", self._reader),
                ("oracle", self._oracle),
            ]
            mem = threading.Thread(
                target=self._guard, args=("memory", self._memory, random.Random(self.seed)), daemon=True
            )
            mem.start()
            threads = [
                threading.Thread(
                    target=self._guard, args=(n, fn, random.Random(f"{self.seed}-{n}")), name=n, daemon=True
                )
                for n, fn in workers
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=max(0.0, self.deadline - time.monotonic()) + 600)
            self.cfg.log("soak: load stopped; final checks")
            # every acknowledged row must still be readable; the full oracle runs once more on a
            # few objects (on all of them it can take longer than a short soak's load phase)
            rng = random.Random(self.seed)
            final_oracle = Oracle(setup, self.findings, rng)
            full = set(
                rng.sample(range(len(self.objects)), min(len(self.objects), self.cfg.final_full_checks))
            )
            for i, obj in enumerate(self.objects):
                with obj.lock:
                    if i in full:
                        final_oracle.check(obj)
                    for attempt in range(3):  # a busy writer can make a read answer 503
                        if final_oracle.final_check(obj):
                            break
                        time.sleep(5 * (attempt + 1))
                    else:
                        self.crashes.append(f"final fetch of {obj.ref} failed 3 times")
            dlq = setup.send("final_dlq", "GET", "/api/admin/dlq", params={"limit": 10000})
            dead_letters = (
                len(dlq.json().get("objects") or []) if dlq is not None and dlq.status_code == 200 else -1
            )
            self.stop.set()
            mem.join(timeout=30)
            setup.close()
        except Exception:
            self.crashes.append(traceback.format_exc()[-3000:])
            dead_letters = -1
        finally:
            self.stop.set()
            self._stop_server()
        return self._result(dead_letters)

    def _result(self, dead_letters: int) -> SoakResult:
        f = self.findings
        req = self.stats.report()
        mem = summarize(self.memory)
        elapsed = time.monotonic() - self.t0
        n_rows = sum(len(o.rows) for o in self.objects)
        failures = []
        if f.n_wrong:
            failures.append(f"{f.n_wrong} wrong answers")
        n_5xx = req["n_5xx"] - (req["n_503"] if self.cfg.allow_503 else 0)
        if n_5xx:
            failures.append(f"{n_5xx} 5xx")
        if f.n_lost:
            failures.append(f"{f.n_lost} lost rows")
        if f.n_valid_rejected:
            failures.append(f"{f.n_valid_rejected} valid writes/reads refused")
        if dead_letters > 0:
            failures.append(f"{dead_letters} dead letters")
        if self.crashes:
            failures.append(f"{len(self.crashes)} harness/server failures")
        if self.server is not None and self.server_exit not in (0, None):
            failures.append(f"server exited {self.server_exit}")
        if not sum(f.checks.values()):
            failures.append("the oracle checked nothing")
        passed = not failures
        report = {
            "passed": passed,
            "failures": failures,
            "seed": self.seed,
            "run_id": self.run_id,
            "duration_s": round(elapsed, 1),
            "bus": self.cfg.bus,
            "server_env": self.cfg.server_env,
            "objects": len(self.objects),
            "rows_acknowledged_live": n_rows,
            "uncertain_ids": sum(len(o.uncertain) for o in self.objects),
            "memory": mem,
            "requests": req,
            "oracle": {
                "checks": sum(f.checks.values()),
                "by_check": dict(sorted(f.checks.items())),
                "inconclusive": dict(f.inconclusive),
                "wrong_answers": f.n_wrong,
                "wrong_by_check": dict(f.wrong_by_check),
                "wrong_answer_samples": f.wrong,
            },
            "lost_rows": f.n_lost,
            "lost_row_samples": f.lost,
            "valid_rejected": f.n_valid_rejected,
            "valid_rejected_samples": f.valid_rejected,
            "dead_letters": dead_letters,
            "crashes": self.crashes,
            "memory_samples": [s.as_dict() for s in self.memory],
        }
        cls = req["by_status_class"]
        line = (
            f"SOAK {'PASS' if passed else 'FAIL'} {elapsed / 60:.1f} min: {req['requests']} requests "
            f"(2xx {cls.get('2xx', 0)}, 4xx {cls.get('4xx', 0)}, 5xx {req['n_5xx']} of which 503 {req['n_503']}), "
            f"{report['oracle']['checks']} oracle checks, wrong answers {f.n_wrong}, lost rows {f.n_lost}, "
            f"rows {n_rows}, RSS start/peak/steady/end {mem.get('rss_start_mib')}/{mem.get('rss_peak_mib')}/"
            f"{mem.get('rss_steady_mib')}/{mem.get('rss_end_mib')} MiB"
            + (f" — {'; '.join(failures)}" if failures else "")
        )
        if self.cfg.out is not None:
            self.cfg.out.parent.mkdir(parents=True, exist_ok=True)
            self.cfg.out.write_text(json.dumps(report, indent=2, default=str))
        return SoakResult(passed, report, line)
