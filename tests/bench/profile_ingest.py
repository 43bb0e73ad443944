"""Where the saturated embedded server's CPU goes: a sampling profile (py-spy) of `loopline up`
under `bench_ingest`'s load, grouped by component, as µs of CPU per span.

    ./dev python -m tests.bench.profile_ingest [--seconds 20] [--rate 200] [--otlp] [--native]
    ./dev python -m tests.bench.profile_ingest --aggregate /tmp/profile-ingest/profile.raw

It starts an embedded server (as `bench_ingest` does), sends SDK-shaped `/logs3` batches (or
OTLP requests with `--otlp`) from `--concurrency` senders (saturating, or `--pace` spans/s), warms
up and waits for the writer to catch up, then sends for `--seconds` and waits again until the
writer has written every acknowledged row, while `py-spy record --threads --subprocesses` samples
the server and its worker processes; every thread's CPU time is read from /proc before and after
(so the CPU per span is that of spans acknowledged and written, as in `bench_ingest`). py-spy is looked for on PATH, then in
/tmp/pyspy/bin (`python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy`); it is not a
dependency of the project.

How a sample becomes a component: its stack is read from the leaf up, and the first (deepest)
frame that a rule of `RULES` names decides (a frame no rule names, e.g. `typing`, passes the
sample on to its caller). A thread's CPU (from /proc, not from the sample count) is split among
its components in proportion to their samples; µs per span divides by the spans acknowledged in
the window. Threads py-spy cannot see (the embedded store's own threads) are listed by their
name, from /proc. Without `--native`, time in C code (orjson, httptools, chdb) shows as the
Python frame that called it; `--native` pauses the process for every sample (heavier).

Files (in `--out`): `profile.raw` (py-spy's collapsed stacks) and `profile.json` (the per-thread
CPU and spans of the window), so `--aggregate` can group them again after a rule changes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from tests.bench import machine_speed
from tests.bench.bench_ingest import ROWS_PER_REQUEST, Logs3Bodies, OtlpBodies
from tests.bench.thread_cpu import children, process_cpu_s
from tests.bench.thread_cpu import threads as threads_of
from tests.support.running import RunningLoopline, free_port

#: (component, path fragment, function name or None): the first rule naming a frame's file (and
#: function) gives it its component. Fragments match py-spy's full file names and its short ones
#: (`/package/module.py`, a slash put in front).
RULES: tuple[tuple[str, str, str | None], ...] = (
    # --- the ingest route's own work
    ("body read (stream, join, gzip)", "/ingest/body.py", "read_body"),
    ("body read (stream, join, gzip)", "/ingest/body.py", "_inflate"),
    ("JSON parse (orjson)", "/ingest/body.py", "parse_json"),
    ("validate (validate_row)", "/common/rows.py", None),
    ("validate (validate_row)", "/ingest/write_api.py", "validate"),
    ("validate (validate_row)", "/ingest/write_api.py", "check_row_sizes"),
    ("OTLP decode + map", "/ingest/otlp/", None),
    ("OTLP decode + map", "/google/protobuf/", None),
    ("publish: envelopes (encode)", "/ingest/write_api.py", "_encode"),
    ("publish: envelopes (encode)", "/common/messages/rows.py", None),
    ("publish: ownership, xact ids", "/ingest/write_api.py", None),
    ("publish: ownership, xact ids", "/common/xact.py", None),
    ("publish: ownership, xact ids", "/gateway/control_plane.py", None),
    ("publish: bus journal", "/common/bus/journal.py", None),
    ("publish: in-process bus", "/common/bus/", None),
    ("route handler (logs3, otlp)", "/ingest/routes.py", None),
    ("route handler (logs3, otlp)", "/ingest/otlp_routes.py", None),
    ("route handler (logs3, otlp)", "/ingest/overflow.py", None),
    # --- the writer's side (the main process's part, and its worker process)
    ("writer: announcements", "/common/messages/committed.py", None),
    ("writer: worker hand-off (pickle, pipes)", "/ingest/writer/offload.py", None),
    ("writer: worker hand-off (pickle, pipes)", "/concurrent/futures/process.py", None),
    ("writer: worker hand-off (pickle, pipes)", "/multiprocessing/", None),
    ("writer: worker hand-off (pickle, pipes)", "/pickle.py", None),
    ("writer: decode/merge/encode", "/ingest/merge.py", None),
    ("writer: decode/merge/encode", "/common/stored_row.py", None),
    ("writer: decode/merge/encode", "/ingest/writer/steps.py", "merge_group"),
    ("writer: steps, sink, insert call", "/ingest/writer/", None),
    ("writer: steps, sink, insert call", "/ingest/writer_service.py", None),
    ("writer: steps, sink, insert call", "/common/pipeline/", None),
    ("store call (chdb, clickhouse_connect)", "/common/store/", None),
    ("store call (chdb, clickhouse_connect)", "/clickhouse_connect/", None),
    ("store call (chdb, clickhouse_connect)", "/chdb/", None),
    # --- the HTTP stack
    ("auth (middleware, keys)", "/gateway/auth_middleware.py", None),
    ("auth (middleware, keys)", "/gateway/keys.py", None),
    ("auth (middleware, keys)", "/gateway/policy.py", None),
    ("auth (middleware, keys)", "/common/auth.py", None),
    ("web-app middleware", "/gateway/web.py", None),
    ("logging (structlog)", "/structlog/", None),
    ("logging (structlog)", "/common/logging.py", None),
    ("logging (structlog)", "/logging/", None),
    ("metrics", "/common/metrics.py", None),
    ("metrics", "/prometheus_client/", None),
    ("access-log middleware", "/common/http.py", "__call__"),
    ("access-log middleware", "/common/http.py", "send_with_id"),
    ("response (render, send)", "/common/http.py", None),
    ("response (render, send)", "/starlette/responses.py", None),
    ("fastapi dependencies", "/fastapi/dependencies/", None),
    ("fastapi dependencies", "/common/deps.py", None),
    ("fastapi dependencies", "/common/service.py", None),
    ("fastapi dependencies", "/ingest/deps.py", None),
    ("starlette middleware (errors, exceptions)", "/starlette/middleware/", None),
    ("starlette middleware (errors, exceptions)", "/starlette/_exception_handler.py", None),
    ("routing (starlette, fastapi)", "/starlette/routing.py", None),
    ("routing (starlette, fastapi)", "/fastapi/routing.py", None),
    ("routing (starlette, fastapi)", "/starlette/applications.py", None),
    ("routing (starlette, fastapi)", "/fastapi/applications.py", None),
    ("request object (starlette)", "/starlette/requests.py", None),
    ("request object (starlette)", "/starlette/datastructures.py", None),
    ("uvicorn + httptools", "/uvicorn/", None),
    ("uvicorn + httptools", "/runtime/http_protocol.py", None),
    ("uvicorn + httptools", "/httptools/", None),
    # --- the event loop and threads
    ("thread hand-off (to_thread, executor)", "/asyncio/threads.py", None),
    ("thread hand-off (to_thread, executor)", "/concurrent/futures/", None),
    ("thread hand-off (to_thread, executor)", "/threading.py", None),
    ("thread hand-off (to_thread, executor)", "/queue.py", None),
    ("asyncio: socket I/O", "/asyncio/selector_events.py", None),
    ("asyncio: socket I/O", "/selectors.py", None),
    ("asyncio: scheduling (tasks, futures, handles)", "/asyncio/", None),
    ("memory trim", "/runtime/memory.py", None),
)

#: Leaf frames where a thread waits (a queue, a lock, epoll, a pipe) or takes the GIL back after
#: one: py-spy (sampling without pausing) sees some of these waits as running.
WAITING: tuple[tuple[str, str], ...] = (
    ("/concurrent/futures/thread.py", "_worker"),
    ("/threading.py", "wait"),
    ("/queue.py", "get"),
    ("/selectors.py", "select"),
    ("/multiprocessing/connection.py", "_recv"),
    ("/multiprocessing/connection.py", "_poll"),
    ("/multiprocessing/queues.py", "get"),
)
WAIT: Final = "waiting (queue, lock, epoll) or taking the GIL back"

#: frames that py-spy adds at a stack's root
_PROCESS = re.compile(r"^process (\d+):")
_THREAD = re.compile(r"^thread \((0x[0-9a-fA-F]+|\d+)\)(?::\s*(.*))?$")
_FRAME = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")


def classify(frames: list[str]) -> str:
    """The component of a stack (root first): the deepest frame a rule names."""
    if frames:
        m = _FRAME.match(frames[-1])
        if m is not None:
            path = m.group(2) if m.group(2).startswith("/") else "/" + m.group(2)
            if any(fragment in path and fn == m.group(1) for fragment, fn in WAITING):
                return WAIT
    for frame in reversed(frames):
        m = _FRAME.match(frame)
        func, path = (m.group(1), m.group(2)) if m else (frame, "")
        if not path.startswith("/"):
            path = "/" + path  # py-spy's short form (`asyncio/events.py`)
        for component, fragment, fn in RULES:
            if fragment in path and (fn is None or fn == func):
                return component
    leaf = frames[-1] if frames else "?"
    m = _FRAME.match(leaf)
    return f"other: {'/'.join(m.group(2).split('/')[-2:]) if m else leaf}"


@dataclass
class Stack:
    pid: int | None
    tid: int | None
    thread: str
    frames: list[str]
    count: int


def parse_raw(text: str) -> list[Stack]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        pid = tid = None
        name = ""
        while frames:
            pm = _PROCESS.match(frames[0])
            tm = _THREAD.match(frames[0])
            if pm:
                pid = int(pm.group(1))
            elif tm:
                tid = int(tm.group(1), 0)
                name = tm.group(2) or ""
            else:
                break
            frames = frames[1:]
        out.append(Stack(pid, tid, name, frames, int(count)))
    return out


# -- /proc ------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [c for p in frontier for c in children(p)]
        tree += frontier
    return tree


def thread_cpu(pid: int) -> dict[str, Any]:
    """Every thread of the tree under `pid`: {"pid/tid": [comm, cpu_s]}, and each process's total
    (dead threads included)."""
    threads: dict[str, Any] = {}
    procs: dict[str, float] = {}
    for p in process_tree(pid):
        with contextlib.suppress(OSError):  # the process ended
            procs[str(p)] = process_cpu_s(p)
        for t, (name, cpu_s) in threads_of(p).items():
            threads[f"{p}/{t}"] = [name, cpu_s]
    return {"threads": threads, "processes": procs}


# -- the load -----------------------------------------------------------------------------------


@dataclass
class Load:
    spans: int = 0
    errors: int = 0
    stop: bool = False
    error_kinds: list[str] = field(default_factory=list)


async def run_load(
    load: Load, send: Callable[[int], Awaitable[int]], concurrency: int, pace: float = 0.0
) -> None:
    """Senders until `load.stop`; `pace` (spans/s) spaces their requests when given."""
    counter = 0
    interval = concurrency * ROWS_PER_REQUEST / pace if pace else 0.0

    async def worker() -> None:
        nonlocal counter
        while not load.stop:
            start = counter
            counter += ROWS_PER_REQUEST
            t0 = time.perf_counter()
            try:
                n = await send(start)  # (not `load.spans += await ...`: that reads before it waits)
                load.spans += n
            except Exception as exc:
                load.errors += 1
                if len(load.error_kinds) < 3:
                    load.error_kinds.append(repr(exc)[:300])
                await asyncio.sleep(0.1)
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - t0)))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def find_py_spy(given: str | None) -> str:
    for candidate in (given, shutil.which("py-spy"), "/tmp/pyspy/bin/py-spy"):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit(
        "py-spy not found: python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy (or --py-spy PATH)"
    )


async def record(args: argparse.Namespace, out: Path) -> None:
    py_spy = "" if args.no_spy else find_py_spy(args.py_spy)
    (out / "profile.raw").unlink(missing_ok=True)
    base = Path(tempfile.mkdtemp(prefix="profile-ingest-"))
    ll = RunningLoopline(base / "embedded", free_port(), extra_env={"LOOPLINE_LOG_LEVEL": "WARNING"}).start()
    assert ll.proc is not None
    server = ll.proc.pid
    try:
        async with httpx.AsyncClient(base_url=ll.url, headers=ll.headers, timeout=120) as c:
            project = (await c.post("/v1/project", json={"name": f"prof-{uuid.uuid4().hex[:6]}"})).json()[
                "id"
            ]
            if args.otlp:
                otlp_bodies = OtlpBodies()

                async def send(start: int) -> int:
                    r = await c.post(
                        "/otel/v1/traces",
                        content=otlp_bodies.body(start),
                        headers={
                            "Content-Type": "application/x-protobuf",
                            "x-bt-parent": f"project_id:{project}",
                        },
                    )
                    r.raise_for_status()
                    return ROWS_PER_REQUEST

            else:
                bodies = Logs3Bodies(project)

                async def send(start: int) -> int:
                    r = await c.post("/logs3", content=bodies.body(start))
                    r.raise_for_status()
                    return ROWS_PER_REQUEST

            async def drain() -> float:
                """Seconds until the writer caught up with every acknowledged row (a fetch waits
                for it, or answers 503 after its read-your-writes timeout)."""
                t = time.perf_counter()
                while time.perf_counter() - t < 300:
                    r = await c.get(f"/v1/project_logs/{project}/fetch", params={"limit": 1})
                    if r.status_code != 503:
                        r.raise_for_status()
                        break
                return time.perf_counter() - t

            warm = Load()
            driving = asyncio.create_task(run_load(warm, send, args.concurrency, args.pace))
            await asyncio.sleep(args.warmup)
            warm.stop = True
            await driving
            await drain()
            cmd = [py_spy, "record", "-p", str(server), "-r", str(args.rate), "-f", "raw"]
            cmd += ["-o", str(out / "profile.raw"), "--threads", "--subprocesses", "--full-filenames"]
            cmd += ["--native"] if args.native else ["--nonblocking"]
            load = Load()
            before, t0 = thread_cpu(server), time.perf_counter()
            spy = (
                None
                if args.no_spy
                else await asyncio.create_subprocess_exec(
                    *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
                )
            )
            driving = asyncio.create_task(run_load(load, send, args.concurrency, args.pace))
            await asyncio.sleep(args.seconds)
            load.stop = True
            await driving
            t1 = time.perf_counter()
            drained_s = await drain()
            after = thread_cpu(server)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
                _, err = await spy.communicate()
                if not (out / "profile.raw").exists():
                    raise SystemExit(
                        f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-2000:]}"
                    )
    finally:
        ll.terminate()
        shutil.rmtree(base, ignore_errors=True)
    window = {
        "server_pid": server,
        "spans": load.spans,
        "seconds": t1 - t0,
        "drain_s": drained_s,
        "errors": load.errors,
        "error_kinds": load.error_kinds,
        "before": before,
        "after": after,
        "load": os.getloadavg(),
        "machine_speed": machine_speed(),
        "otlp": args.otlp,
        "no_spy": args.no_spy,
        "pace": args.pace,
    }
    (out / "profile.json").write_text(json.dumps(window, indent=1))


# -- aggregation ------------------------------------------------------------------------------


def _thread_group(comm: str) -> str:
    """A store thread's name without its number (`QueryPipelineEx3` → `QueryPipelineEx`)."""
    return re.sub(r"[\d_-]+$", "", comm) or comm


def aggregate(out: Path, top: int) -> list[str]:
    window = json.loads((out / "profile.json").read_text())
    raw = out / "profile.raw"
    stacks = parse_raw(raw.read_text()) if raw.exists() and not window.get("no_spy") else []
    server = int(window["server_pid"])
    spans = max(int(window["spans"]), 1)
    before, after = window["before"], window["after"]

    def cpu(key: str) -> float:
        b = before["threads"].get(key, [None, 0.0])[1]
        return float(after["threads"][key][1]) - float(b)

    # samples per (pid, tid) and per component
    samples: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    names: dict[tuple[int, int], str] = {}
    for s in stacks:
        pid = s.pid if s.pid is not None else server
        tid = s.tid if s.tid is not None else pid
        samples[(pid, tid)][classify(s.frames)] += s.count
        names[(pid, tid)] = s.thread
    lines = [
        window["machine_speed"],
        f"{window['spans']} spans acknowledged in {window['seconds']:.1f} s "
        f"({window['spans'] / window['seconds']:,.0f}/s, errors {window['errors']}), written "
        f"{window.get('drain_s', 0):.1f} s later: end to end "
        f"{window['spans'] / (window['seconds'] + window.get('drain_s', 0)):,.0f} spans/s; load average "
        f"{' '.join(f'{x:.2f}' for x in window['load'])}"
        + (" — OTLP" if window.get("otlp") else " — /logs3"),
    ]
    lines += [f"    error: {e}" for e in window.get("error_kinds", [])] + [""]

    # 1. threads: CPU per span, by thread group
    groups: dict[str, float] = defaultdict(float)
    for key, (comm, _) in after["threads"].items():
        pid, tid = (int(x) for x in key.split("/"))
        role = "server" if pid == server else f"worker process {pid}"
        if tid == pid:
            label = f"{role}: main thread" + (" (event loop)" if pid == server else "")
        elif (pid, tid) in names:
            label = f"{role}: Python thread {_thread_group(names[(pid, tid)])}"
        else:
            label = f"{role}: native thread {_thread_group(comm)}"
        groups[label] += cpu(key)
    total = 0.0
    for pid_s, cpu_after in after["processes"].items():
        total += cpu_after - before["processes"].get(pid_s, 0.0)
    seen = sum(groups.values())
    if total - seen > 0.005:
        groups["threads that ended in the window"] += total - seen
    lines += ["| thread | CPU s | % of server CPU | µs/span |", "| --- | ---: | ---: | ---: |"]
    for label, s in sorted(groups.items(), key=lambda kv: -kv[1]):
        if s * 1e6 / spans >= 0.05:
            lines.append(f"| {label} | {s:.2f} | {100 * s / max(total, 1e-9):.1f} | {s * 1e6 / spans:.1f} |")
    lines.append(
        f"| **all (server + worker processes)** | {total:.2f} | 100 | **{total * 1e6 / spans:.1f}** |"
    )
    lines.append("")

    # 2. components, per sampled thread group (CPU of the group split by its samples)
    by_group: dict[str, tuple[float, Counter[str]]] = {}
    for (pid, tid), counter in samples.items():
        key = f"{pid}/{tid}"
        if key not in after["threads"]:
            continue
        role = "server" if pid == server else "worker process"
        label = (
            f"{role} main thread"
            if tid == pid
            else f"{role} Python threads {_thread_group(names[(pid, tid)])}"
        )
        thread_s = cpu(key)
        n = sum(counter.values())
        prev_s, prev_c = by_group.get(label, (0.0, Counter()))
        for comp, c in counter.items():
            prev_c[comp] += thread_s * c / n  # CPU seconds, not samples
        by_group[label] = (prev_s + thread_s, prev_c)
    for label, (group_s, comps) in sorted(by_group.items(), key=lambda kv: -kv[1][0]):
        if group_s * 1e6 / spans < 0.5:
            continue
        lines += [
            f"**{label}** ({group_s * 1e6 / spans:.1f} µs/span)",
            "",
            "| component | % of the thread(s) | µs/span |",
            "| --- | ---: | ---: |",
        ]
        for comp, s in comps.most_common(top):
            lines.append(f"| {comp} | {100 * s / max(group_s, 1e-9):.1f} | {s * 1e6 / spans:.1f} |")
        lines.append("")
    return lines


def unclassified(out: Path, n: int) -> list[str]:
    """The leaf frames of the samples no rule named (to write rules for)."""
    leaves: Counter[str] = Counter()
    raw = out / "profile.raw"
    for s in parse_raw(raw.read_text()) if raw.exists() else []:
        if classify(s.frames).startswith("other") and s.frames:
            leaves[s.frames[-1]] += s.count
    return [f"{c:>6}  {f}" for f, c in leaves.most_common(n)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--warmup", type=float, default=8)
    p.add_argument("--rate", type=int, default=200, help="samples per second")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="send this many spans/s instead of saturating (A/B runs on a busy machine: the same "
        "spans in the same time, so CPU that accrues with time weighs the same in both)",
    )
    p.add_argument("--otlp", action="store_true", help="OTLP/protobuf requests instead of /logs3")
    p.add_argument("--native", action="store_true", help="native frames too (pauses the server per sample)")
    p.add_argument("--py-spy", help="the py-spy executable")
    p.add_argument("--no-spy", action="store_true", help="only the threads' CPU per span (no sampling)")
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "profile-ingest")
    p.add_argument("--aggregate", type=Path, help="only group an earlier run's profile.raw (its folder)")
    p.add_argument("--top", type=int, default=30, help="components listed per thread group")
    p.add_argument(
        "--unclassified", type=int, default=0, help="also list the N commonest unnamed leaf frames"
    )
    args = p.parse_args()
    out: Path = (
        args.aggregate.parent if args.aggregate and args.aggregate.is_file() else (args.aggregate or args.out)
    )
    if not args.aggregate:
        out.mkdir(parents=True, exist_ok=True)
        asyncio.run(record(args, out))
    for line in aggregate(out, args.top):
        print(line)
    if args.unclassified:
        print("leaf frames no rule names:")
        for line in unclassified(out, args.unclassified):
            print(line)
    print(f"(files: {out}/profile.raw, {out}/profile.json)")


if __name__ == "__main__":
    main()
