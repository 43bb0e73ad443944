"""Ingest load: SDK-shaped /logs3 batches and OTLP requests against a running Loopline, and the
same OTLP load against Arize Phoenix; the store's own insert ceiling for the same rows, and what
each stage of the path costs per span, all in one run (compare ratios within a run: 2 shared
cores are noisy).

Prints:
- the raw store insert ceiling: the writer's encoded JSONEachRow bodies of these rows inserted
  straight into a fresh `spans` table of the embedded engine (best of two passes, wall time);
- per runtime (embedded, Kafka): sustained spans/s end to end (acknowledged and queryable),
  saturated, and its ratio to the ceiling; then at half of that rate, ack latency p50/p95/p99 per
  request and ingest-to-queryable freshness p95 (a probe row's ack → the moment a fetch returns
  it); the server process's CPU per span;
- OTLP spans/s against Arize Phoenix's on the same load (the ratio);
- the per-stage CPU table: validate, publish, consume, bases, merge, encode, insert measured
  alone in this process on the same rows, and HTTP as the rest of the embedded server's CPU per
  span under saturation.

Spans are 0.5-5 KB with a few of 1 MB. Every run is bounded in time.

    python -m tests.bench.bench_ingest [--seconds 20] [--concurrency 8] [--no-phoenix] [--no-kafka]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.bench import machine_speed
from tests.bench.ingest_stages import StageCosts
from tests.bench.ingest_stages import measure as measure_stages
from tests.bench.ingest_stages import table as stage_table
from tests.bench.thread_cpu import MERGES, Sampler, children, process_cpu_s
from tests.support.running import RunningLoopline, free_port

ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_REQUEST = 100
BIG_SPAN_EVERY = 2000  # one 1 MB span per this many spans
PROBE_GIVE_UP_S = 30.0
DRAIN_GIVE_UP_S = 300.0  # the writer's backlog after a saturated run must be written by then  # a probe row not readable by then counts as an error (the run stays bounded)


def _text(n: int) -> str:
    words = (
        "refund",
        "order",
        "password",
        "reset",
        "invoice",
        "shipping",
        "account",
        "cancel",
        "upgrade",
        "help",
    )
    out = []
    size = 0
    while size < n:
        w = random.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n]


def iso(now: float) -> str:
    """`created` as the SDK sends it (microseconds, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}+00:00"


def make_span(project_id: str, trace: str, parent: str | None, i: int, tag: str = "") -> dict[str, Any]:
    size = 1_000_000 if i % BIG_SPAN_EVERY == BIG_SPAN_EVERY - 1 else random.randint(500, 5000)
    now = time.time()
    return {
        "id": tag + uuid.uuid4().hex[len(tag) :],
        "project_id": project_id,
        "log_id": "g",
        "created": iso(now),
        "span_id": tag + uuid.uuid4().hex[len(tag) : 16 + len(tag)],
        "root_span_id": trace,
        "span_parents": [parent] if parent else None,
        "span_attributes": {"name": "llm-call" if parent else "root", "type": "llm" if parent else "task"},
        "input": [{"role": "user", "content": _text(size // 2)}],
        "output": {"role": "assistant", "content": _text(size // 2)},
        "metadata": {
            "model": random.choice(["gpt-4o-mini", "claude-3-5-haiku", "llama-3"]),
            "user": f"u{i % 50}",
        },
        "metrics": {
            "start": now - 0.5,
            "end": now,
            "prompt_tokens": 30,
            "completion_tokens": 40,
            "tokens": 70,
        },
        "scores": {"quality": random.random()},
    }


def make_batch(project_id: str, start: int, tag: str = "") -> list[dict[str, Any]]:
    """Traces of a root and three children. Every id (row, span, trace) starts with `tag`, so a
    sender can make the batch's rows new ones by replacing the tag in the encoded body."""
    rows: list[dict[str, Any]] = []
    while len(rows) < ROWS_PER_REQUEST:
        trace = tag + uuid.uuid4().hex[len(tag) :]
        root = make_span(project_id, trace, None, start + len(rows), tag)
        rows.append(root)
        for _ in range(3):
            if len(rows) < ROWS_PER_REQUEST:
                rows.append(make_span(project_id, trace, root["span_id"], start + len(rows), tag))
    return rows


def batch_tag(i: int) -> str:
    return f"feedc0de{i:08x}"


class Logs3Bodies:
    """64 prebuilt `/logs3` bodies of one project; `body(start)` is the one for the request that
    sends spans from `start`, with fresh ids (steady ingest of new spans)."""

    def __init__(self, project_id: str, *, api_version: int | None = 2) -> None:
        extra = {} if api_version is None else {"api_version": api_version}
        self.bodies = [
            orjson.dumps({"rows": make_batch(project_id, i * ROWS_PER_REQUEST, batch_tag(i)), **extra})
            for i in range(64)
        ]

    def body(self, start: int) -> bytes:
        i = (start // ROWS_PER_REQUEST) % len(self.bodies)
        return self.bodies[i].replace(batch_tag(i).encode(), uuid.uuid4().hex[:16].encode())


def otlp_tag(i: int) -> bytes:
    """The 4 bytes that begin every trace and span id of prebuilt OTLP body `i` (0xfe is in no
    span text: those are ASCII)."""
    return b"\xfe\xed" + i.to_bytes(2, "big")


def make_otlp(spans: int, start: int, tag: bytes = b"") -> bytes:
    """An ExportTraceServiceRequest of `spans` GenAI spans, each its own trace; every trace and
    span id begins with `tag` (the rest random)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    def kv(k: str, v: Any) -> KeyValue:
        return KeyValue(
            key=k, value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=str(v))
        )

    out = []
    now = time.time_ns()
    for i in range(spans):
        size = 1_000_000 if (start + i) % BIG_SPAN_EVERY == BIG_SPAN_EVERY - 1 else random.randint(500, 5000)
        out.append(
            Span(
                trace_id=tag + os.urandom(16 - len(tag)),
                span_id=tag + os.urandom(8 - len(tag)),
                name="chat gpt-4o-mini",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=now - 500_000_000,
                end_time_unix_nano=now,
                attributes=[
                    kv("gen_ai.operation.name", "chat"),
                    kv("gen_ai.request.model", "gpt-4o-mini"),
                    kv("gen_ai.usage.input_tokens", 30),
                    kv("gen_ai.usage.output_tokens", 40),
                    kv("gen_ai.prompt", _text(size // 2)),
                    kv("gen_ai.completion", _text(size // 2)),
                ],
            )
        )
    req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=out)])])
    return req.SerializeToString()


class OtlpBodies:
    """32 prebuilt OTLP protobuf requests; `body(start)` is the one for the request that sends
    spans from `start`, with fresh trace and span ids (steady ingest of new spans, not rewrites of
    the same rows): the tag that begins every id of its body is overwritten with 4 random bytes
    at the offsets found when it was built (ids keep their length, so the protobuf stays valid;
    ~40 us for a 300 KB body, 4x less than `bytes.replace`)."""

    def __init__(self, count: int = 32) -> None:
        self.bodies: list[bytes] = []
        self.offsets: list[list[int]] = []
        for i in range(count):
            tag = otlp_tag(i)
            body = make_otlp(ROWS_PER_REQUEST, i * ROWS_PER_REQUEST, tag)
            while body.count(tag) != 2 * ROWS_PER_REQUEST:  # the tag only where the ids are
                body = make_otlp(ROWS_PER_REQUEST, i * ROWS_PER_REQUEST, tag)
            offsets = [body.find(tag)]
            while len(offsets) < 2 * ROWS_PER_REQUEST:
                offsets.append(body.find(tag, offsets[-1] + 1))
            self.bodies.append(body)
            self.offsets.append(offsets)

    def body(self, start: int) -> bytes:
        i = (start // ROWS_PER_REQUEST) % len(self.bodies)
        out = bytearray(self.bodies[i])
        fresh = os.urandom(4)
        for at in self.offsets[i]:
            out[at : at + 4] = fresh
        return bytes(out)


@dataclass
class Result:
    name: str
    spans: int = 0
    seconds: float = 0.0
    ack_ms: list[float] = field(default_factory=list)
    fresh_ms: list[float] = field(default_factory=list)
    errors: int = 0
    #: what the first errors were (an error must be explained, not only counted)
    error_kinds: list[str] = field(default_factory=list)
    queryable_after_s: float = 0.0
    server_cpu_s: float | None = None
    #: the server's CPU seconds by component (thread_cpu.py), while saturated
    components: dict[str, float] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_kinds) < 3:
            self.error_kinds.append(what[:300])

    @property
    def end_to_end(self) -> float:
        """Spans/s acknowledged and queryable: until the last one sent can be read."""
        return self.spans / (self.seconds + self.queryable_after_s) if self.seconds else 0.0

    @property
    def server_us_per_span(self) -> float | None:
        return self.server_cpu_s * 1e6 / self.spans if self.server_cpu_s is not None and self.spans else None

    @staticmethod
    def pct_ms(xs: list[float], p: float) -> str:
        if not xs:
            return "n/a"
        xs = sorted(xs)
        return f"{xs[min(len(xs) - 1, int(p * len(xs)))]:.1f}"

    def line(self) -> str:
        pct = self.pct_ms

        e2e = self.end_to_end
        cpu = self.server_us_per_span
        return (
            f"{self.name:<34} spans={self.spans:>8}  acked/s={self.spans / max(self.seconds, 1e-9):>9,.0f}  "
            f"end-to-end/s={e2e:>9,.0f}  ack p50/p95/p99 ms={pct(self.ack_ms, 0.5)}/{pct(self.ack_ms, 0.95)}/{pct(self.ack_ms, 0.99)}  "
            f"freshness p95 ms={pct(self.fresh_ms, 0.95)}  errors={self.errors}"
            + (f"  server CPU us/span={cpu:.0f}" if cpu is not None else "")
            + "".join(f"\n    error: {e}" for e in self.error_kinds)
        )


async def drive(
    name: str,
    send: Callable[[int], Awaitable[int]],
    seconds: float,
    concurrency: int,
    probe: Callable[[], Awaitable[float]] | None,
    drain: Callable[[], Awaitable[None]] | None,
    rate: float | None = None,
) -> Result:
    """Send for `seconds` from `concurrency` workers; `rate` (spans/s) paces them when given."""
    res = Result(name)
    interval = concurrency * ROWS_PER_REQUEST / rate if rate else 0.0
    stop_at = time.monotonic() + seconds
    counter = 0

    async def worker() -> None:
        nonlocal counter
        while time.monotonic() < stop_at:
            start = counter
            counter += ROWS_PER_REQUEST
            t0 = time.perf_counter()
            try:
                n = await send(start)
                res.spans += n
                res.ack_ms.append((time.perf_counter() - t0) * 1000)
            except Exception as exc:
                res.error(f"send: {exc!r}")
                await asyncio.sleep(0.1)
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))

    async def prober() -> None:
        assert probe is not None
        while time.monotonic() < stop_at:
            try:
                res.fresh_ms.append(await probe())
            except Exception as exc:
                res.error(f"probe: {exc!r}")
            await asyncio.sleep(0.5)

    t0 = time.perf_counter()
    probing = asyncio.create_task(prober()) if probe is not None else None
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    res.seconds = time.perf_counter() - t0  # the senders' time (a slow last probe is not in it)
    if probing is not None:
        await probing
    if drain is not None:
        t1 = time.perf_counter()
        await drain()
        res.queryable_after_s = time.perf_counter() - t1
    return res


def children_cpu_s(pid: int) -> float:
    """CPU seconds of a process's running children (the writer's worker process); a child that
    ended between the listing and the read counts nothing."""
    total = 0.0
    for child in children(pid):
        with contextlib.suppress(OSError):
            total += process_cpu_s(child)
    return total


def server_tree_cpu_s(pid: int) -> float:
    """The server's CPU seconds: its process and its worker processes."""
    return process_cpu_s(pid) + children_cpu_s(pid)


async def bench_loopline(ll: RunningLoopline, name: str, seconds: float, concurrency: int) -> list[Result]:
    """Saturated /logs3, then /logs3 at half the sustained rate (ack latency, freshness), then OTLP."""
    assert ll.proc is not None
    server = ll.proc.pid
    async with httpx.AsyncClient(base_url=ll.url, headers=ll.headers, timeout=120) as c:
        pid = (await c.post("/v1/project", json={"name": f"bench-{uuid.uuid4().hex[:6]}"})).json()["id"]
        probe_pid = (await c.post("/v1/project", json={"name": f"probe-{uuid.uuid4().hex[:6]}"})).json()["id"]
        bodies = Logs3Bodies(pid)

        async def send_logs3(start: int) -> int:
            # new rows every time (steady ingest of new spans): fresh ids in a prebuilt body
            r = await c.post("/logs3", content=bodies.body(start))
            r.raise_for_status()
            return ROWS_PER_REQUEST

        async def probe() -> float:
            rid = uuid.uuid4().hex
            # `created` as the SDK sends it: a row without one gets its transaction's time, whole
            # seconds, and a fetch (newest `created` first, then id) may then list an earlier
            # probe of the same second first (the one probe per phase that "timed out")
            row = {
                "id": rid,
                "project_id": probe_pid,
                "log_id": "g",
                "input": "probe",
                "created": iso(time.time()),
            }
            r = await c.post("/logs3", content=orjson.dumps({"rows": [row]}))
            r.raise_for_status()
            t_ack = time.perf_counter()
            while time.perf_counter() - t_ack < PROBE_GIVE_UP_S:
                f = await c.get(f"/v1/project_logs/{probe_pid}/fetch", params={"limit": 1})
                if f.status_code == 200 and f.json()["events"] and f.json()["events"][0]["id"] == rid:
                    return (time.perf_counter() - t_ack) * 1000
                await asyncio.sleep(0.005)
            raise TimeoutError(f"probe row not readable after {PROBE_GIVE_UP_S} s")

        async def drain() -> None:
            # a fetch waits for the writer (up to the read-your-writes timeout, then 503): ask
            # again until it has caught up with everything acknowledged
            deadline = time.monotonic() + DRAIN_GIVE_UP_S
            while True:
                r = await c.get(f"/v1/project_logs/{probe_pid}/fetch", params={"limit": 1})
                if r.status_code != 503 or time.monotonic() > deadline:
                    r.raise_for_status()
                    return

        otlp_bodies = OtlpBodies()

        async def send_otlp(start: int) -> int:
            # new spans every time, as /logs3: fresh ids in a prebuilt body
            r = await c.post(
                "/otel/v1/traces",
                content=otlp_bodies.body(start),
                headers={"Content-Type": "application/x-protobuf", "x-bt-parent": f"project_id:{pid}"},
            )
            r.raise_for_status()
            return ROWS_PER_REQUEST

        await drive("warm-up", send_logs3, min(3.0, seconds / 4), concurrency, None, drain)
        cpu0 = server_tree_cpu_s(server)
        sampler = Sampler(server)
        sampler.start()
        logs3 = await drive(
            f"loopline {name} /logs3 (saturated)", send_logs3, seconds, concurrency, None, drain
        )
        logs3.server_cpu_s = server_tree_cpu_s(server) - cpu0
        logs3.components = sampler.stop()
        half = 0.5 * logs3.end_to_end
        paced = await drive(
            f"loopline {name} /logs3 @{half:,.0f}/s (half)",
            send_logs3,
            seconds,
            concurrency,
            probe,
            drain,
            rate=half,
        )
        otel = await drive(
            f"loopline {name} OTLP (saturated)", send_otlp, seconds / 2, concurrency, None, drain
        )
        return [logs3, paced, otel]


async def bench_phoenix(seconds: float, concurrency: int) -> Result | None:
    venv = ROOT / ".cache" / "bench-phoenix"
    py = venv / "bin" / "python"
    uv = ROOT / ".cache" / "uv-tool" / "bin" / "uv"
    if not py.exists():
        await asyncio.to_thread(
            subprocess.run, [str(uv), "venv", "-q", "-p", sys.executable, str(venv)], check=True
        )
        await asyncio.to_thread(
            subprocess.run, [str(uv), "pip", "install", "-q", "-p", str(py), "arize-phoenix"], check=True
        )
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="phoenix-"))
    env = {
        **os.environ,
        "PHOENIX_PORT": str(port),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_GRPC_PORT": str(free_port()),
    }
    proc = subprocess.Popen(  # noqa: ASYNC220 - starts a server; does not wait for it
        [str(venv / "bin" / "phoenix"), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if (await c.get("/")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    print("phoenix did not start in 90 s")
                    return None
                await asyncio.sleep(0.5)
            bodies = OtlpBodies()  # the same load as Loopline's: new spans every request

            async def send(start: int) -> int:
                r = await c.post(
                    "/v1/traces",
                    content=bodies.body(start),
                    headers={"Content-Type": "application/x-protobuf"},
                )
                r.raise_for_status()
                return ROWS_PER_REQUEST

            return await drive("phoenix OTLP (acked, queued)", send, seconds / 2, concurrency, None, None)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def summary(costs: StageCosts | None, results: list[Result], phoenix: Result | None) -> list[str]:
    """The figures the issue asks for, as ratios within this run."""
    out = [machine_speed()]
    ceiling = costs.ceiling_spans_s if costs is not None else 0.0
    if ceiling:
        out.append(f"store raw insert ceiling (these rows, writer's encoded bodies): {ceiling:,.0f} spans/s")
        out.append(
            f"  (the same rows with JSON fields as escaped text, the writer's form before: "
            f"{costs.text_ceiling_spans_s:,.0f} spans/s)"
        )
    for r in results:
        out.append(r.line())
    for runtime in ("embedded", "kafka"):
        sat = next((r for r in results if r.name == f"loopline {runtime} /logs3 (saturated)"), None)
        half = next((r for r in results if r.name.startswith(f"loopline {runtime} /logs3 @")), None)
        if sat is None:
            continue
        ratio = f" = {sat.end_to_end / ceiling:.2f} x ceiling" if ceiling else ""
        out.append(f"{runtime:<9} /logs3 end to end {sat.end_to_end:>8,.0f} spans/s{ratio}")
        if half is not None:
            out.append(
                f"{runtime:<9} at half load: ack p50/p95/p99 ms {half.pct_ms(half.ack_ms, 0.5)}/"
                f"{half.pct_ms(half.ack_ms, 0.95)}/{half.pct_ms(half.ack_ms, 0.99)}, "
                f"freshness p95 ms {half.pct_ms(half.fresh_ms, 0.95)}"
            )
    if phoenix is not None:
        out.append(phoenix.line())
        ours = next((r for r in results if "embedded OTLP" in r.name), None)
        if ours and phoenix.spans:
            ratio = (ours.spans / ours.seconds) / (phoenix.spans / phoenix.seconds)
            out.append(f"OTLP acked spans/s, Loopline embedded vs Phoenix: {ratio:.2f}x")
    for r in results:
        if r.components and r.spans:
            out.append(f"{r.name}: the server's CPU by thread, us/span (thread_cpu.py)")
            for k, v in sorted(r.components.items(), key=lambda kv: -kv[1]):
                out.append(f"  {k:<36}{v * 1e6 / r.spans:>8.1f}")
    if costs is not None:
        sat = next((r for r in results if r.name == "loopline embedded /logs3 (saturated)"), None)
        merges = sat.components.get(MERGES) if sat is not None else None
        out.append(f"per-stage CPU ({costs.spans} spans, stages alone in the bench process):")
        out += [
            "  " + line
            for line in stage_table(
                costs,
                sat.server_us_per_span if sat else None,
                merges * 1e6 / sat.spans if sat is not None and merges is not None and sat.spans else None,
            )
        ]
    return out


async def run(args: argparse.Namespace) -> None:
    results: list[Result] = []
    base = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    costs = None
    if not args.no_stages:
        pid = uuid.uuid4().hex
        bodies = [
            orjson.dumps({"rows": make_batch(pid, i * ROWS_PER_REQUEST)})
            for i in range(args.stage_spans // ROWS_PER_REQUEST)
        ]
        costs = await measure_stages(base / "stages", bodies)
        print(f"ceiling and stages measured ({costs.spans} spans)", flush=True)
    ll = RunningLoopline(base / "embedded", free_port(), extra_env={"LOOPLINE_LOG_LEVEL": "WARNING"}).start()
    try:
        results += await bench_loopline(ll, "embedded", args.seconds, args.concurrency)
    finally:
        ll.terminate()
    print("embedded runtime measured", flush=True)
    kafka = os.environ.get("LOOPLINE_TEST_KAFKA")
    local = None
    if not args.no_kafka and not kafka:
        sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
        try:
            from broker import LocalKafka  # type: ignore[import-not-found]

            local = LocalKafka(port=free_port(), data_dir=base / "kafka")
            local.start()
            kafka = local.bootstrap
        except Exception as exc:  # no Java / Maven here
            print(f"skipping the Kafka run: {exc}")
    if kafka and not args.no_kafka:
        llk = RunningLoopline(
            base / "kafka-ll",
            free_port(),
            bus=f"kafka://{kafka}",
            extra_env={
                "LOOPLINE_LOG_LEVEL": "WARNING",
                "LOOPLINE_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:6]}.",
            },
        ).start()
        try:
            results += await bench_loopline(llk, "kafka", args.seconds, args.concurrency)
        finally:
            llk.terminate()
            if local is not None:
                local.stop()
        print("kafka runtime measured", flush=True)
    phoenix = None if args.no_phoenix else await bench_phoenix(args.seconds, args.concurrency)
    print()
    for line in summary(costs, results, phoenix):
        print(line)
    shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--no-phoenix", action="store_true")
    p.add_argument("--no-kafka", action="store_true")
    p.add_argument("--no-stages", action="store_true", help="skip the ceiling and the stage table")
    p.add_argument("--stage-spans", type=int, default=10_000)
    args = p.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
