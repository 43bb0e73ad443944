"""Hostile user code in the sandbox: every case ends as a clean, descriptive error for that call,
the evaluator process is untouched, and the same sandbox serves the next call normally.

The cases that depend on namespaces (network, filesystem, process sweep) run when the tests run as
root, which is how the evaluator runs on this machine; elsewhere they are skipped and the README
lists what basic mode lacks.
"""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from loopline.evaluator.sandbox import isolation
from loopline.evaluator.sandbox.limits import MiB, SandboxLimits
from loopline.evaluator.sandbox.results import FunctionResult, SandboxError, ScoreResult
from loopline.evaluator.sandbox.runner import Sandbox
from loopline.evaluator.sandbox.settings import SandboxSettings

from .test_sandbox import in_private_tmp

pytestmark = pytest.mark.timeout(60)

needs_root = pytest.mark.skipif(not isolation.namespaces_available(), reason="namespaces need root")
# cases that basic mode (no namespaces) contains as well; the others are unsafe or meaningless there
# (`kill(-1)` as the server's own user, reading the server's /proc entries, the host filesystem)
both_modes = pytest.mark.parametrize("sandbox", ["auto", "basic"], indirect=True)

UID_BASE = 2_300_000
THIS_FILE = os.path.abspath(__file__)
SETTINGS = SandboxSettings(
    wall_seconds=3.0,
    cpu_seconds=1,
    memory_mb=256,
    output_bytes=256 * 1024,
    log_bytes=16 * 1024,
    max_processes=8,
    concurrency=2,
    uid_base=UID_BASE,
)

HEALTHY = "def handler(output, expected):\n    return 1.0 if output == expected else 0.0\n"


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    box = Sandbox(SETTINGS.model_copy(update={"isolation": getattr(request, "param", "auto")}))
    await box.start()
    try:
        yield box
    finally:
        await box.close()


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


async def run(box: Sandbox, source: str, args: object = None) -> FunctionResult | SandboxError:
    return await box.run_function(code(source), {} if args is None else args)


async def still_serves(box: Sandbox) -> None:
    result = await box.run_scorer(HEALTHY, {"output": "a", "expected": "a"})
    assert isinstance(result, ScoreResult), result
    assert result.scores[0].score == 1.0


def call_pids(box: Sandbox, uids: range | None = None) -> list[int]:
    """Host pids of processes running as one of the sandbox's call uids."""
    return isolation.pids_of_uids(box.call_uids if uids is None else uids)


async def no_call_processes_left(box: Sandbox, uids: range | None = None, within: float = 3.0) -> list[int]:
    """Call processes still alive after waiting up to `within` seconds for them to go."""
    uids = box.call_uids if uids is None else uids
    assert len(uids) > 0
    deadline = time.monotonic() + within
    left = call_pids(box, uids)
    for _ in range(1000):
        if not left or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
        left = call_pids(box, uids)
    return left


def error(result: object, kind: str) -> SandboxError:
    assert isinstance(result, SandboxError), result
    assert result.kind == kind, result
    return result


@pytest.mark.parametrize("mode", ["auto", "basic"])
async def test_infinite_loop_hits_the_cpu_limit(mode: str) -> None:
    # a wall limit far above the CPU limit, so a loaded machine cannot turn this into a timeout
    async with Sandbox(SETTINGS.model_copy(update={"wall_seconds": 60.0, "isolation": mode})) as box:
        result = await run(box, "def handler():\n    while True:\n        pass\n")
        assert error(result, "cpu_limit").message == "function used more than 1 s of CPU time"
        await still_serves(box)


@both_modes
async def test_sleeping_forever_hits_the_wall_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import time\ndef handler():\n    time.sleep(3600)\n")
    assert "3 s (wall time)" in error(result, "timeout").message
    await still_serves(sandbox)


@needs_root
async def test_fork_bomb_is_capped_and_swept(sandbox: Sandbox) -> None:
    result = await run(
        sandbox,
        """
        import os, time
        def handler():
            forked = 0
            try:
                while forked < 1000:
                    if os.fork() == 0:
                        time.sleep(3600)
                        os._exit(0)
                    forked += 1
            except OSError as exc:
                return {"forked": forked, "error": exc.strerror}
            return {"forked": forked}
        """,
    )
    assert isinstance(result, FunctionResult), result
    assert result.output["forked"] < SETTINGS.max_processes
    assert result.output["error"] == "Resource temporarily unavailable"
    assert await no_call_processes_left(sandbox) == []
    await still_serves(sandbox)


@needs_root
async def test_runaway_fork_bomb_ends_cleanly(sandbox: Sandbox) -> None:
    result = await run(
        sandbox,
        """
        import os
        def handler():
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        """,
    )
    assert isinstance(result, SandboxError) and result.kind in {"cpu_limit", "timeout"}, result
    assert await no_call_processes_left(sandbox) == []
    await still_serves(sandbox)


@both_modes
async def test_memory_bomb_hits_the_memory_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "def handler():\n    return len(bytearray(4 * 1024 ** 3))\n")
    assert "256 MiB" in error(result, "memory_limit").message
    result = await run(
        sandbox, "def handler():\n    hog = []\n    while True:\n        hog.append(' ' * 10 ** 6)\n"
    )
    error(result, "memory_limit")
    await still_serves(sandbox)


@needs_root
async def test_environment_is_empty_and_server_secrets_are_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOOPLINE_TEST_SECRET", "s3cr3t-value")
    async with Sandbox(SETTINGS) as box:
        result = await run(
            box,
            """
            import os
            def handler(evaluator_pid):
                seen = {"environ": dict(os.environ), "found": []}
                for pid in [evaluator_pid, os.getppid(), 1] + [p for p in os.listdir("/proc") if p.isdigit()]:
                    try:
                        with open(f"/proc/{pid}/environ", "rb") as fh:
                            if b"s3cr3t" in fh.read():
                                seen["found"].append(pid)
                    except OSError:
                        pass
                return seen
            """,
            {"evaluator_pid": os.getpid()},
        )
    assert isinstance(result, FunctionResult), result
    assert result.output == {"environ": {}, "found": []}


@needs_root
async def test_server_files_and_data_dir_are_not_visible(sandbox: Sandbox, tmp_path: object) -> None:
    here = THIS_FILE
    result = await run(
        sandbox,
        """
        import os
        def handler(paths):
            seen = {}
            for path in paths:
                try:
                    with open(path, "rb") as fh:
                        seen[path] = "read %d bytes" % len(fh.read())
                except OSError as exc:
                    seen[path] = type(exc).__name__
            seen["/"] = sorted(os.listdir("/"))
            return seen
        """,
        {"paths": [here, "/root/.bashrc", "/etc/shadow", f"{tmp_path}", "/work/main/pyproject.toml"]},
    )
    assert isinstance(result, FunctionResult), result
    for path in (here, "/root/.bashrc", "/etc/shadow", str(tmp_path), "/work/main/pyproject.toml"):
        assert result.output[path] in {"FileNotFoundError", "PermissionError"}, (path, result.output)
    assert "home" not in result.output["/"] and "run" not in result.output["/"]


@needs_root
async def test_the_filesystem_is_read_only_except_a_private_tmp(sandbox: Sandbox) -> None:
    result = await run(
        sandbox,
        """
        import os
        def handler():
            out = {}
            for path in ("/usr/evil", "/etc/evil", "/tmp/ok"):
                try:
                    with open(path, "w") as fh:
                        fh.write("x")
                    out[path] = "written"
                except OSError as exc:
                    out[path] = type(exc).__name__
            try:
                with open("/tmp/big", "wb") as fh:
                    fh.write(b"x" * (64 * 1024 * 1024))
                out["big"] = "written"
            except OSError as exc:
                out["big"] = exc.strerror
            return out
        """,
    )
    assert isinstance(result, FunctionResult), result
    assert result.output["/tmp/ok"] == "written"
    assert result.output["/usr/evil"] in {"OSError", "PermissionError"}
    assert result.output["/etc/evil"] in {"OSError", "PermissionError"}
    assert result.output["big"] in {"File too large", "No space left on device"}
    leftover = await run(sandbox, "import os\ndef handler():\n    return os.listdir('/tmp')\n")
    assert isinstance(leftover, FunctionResult) and leftover.output == in_private_tmp()


@needs_root
async def test_sockets_reach_nothing(sandbox: Sandbox) -> None:
    connections = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run(
            sandbox,
            """
            import socket
            def handler(port):
                out = {}
                for host in ("127.0.0.1", "8.8.8.8"):
                    try:
                        socket.create_connection((host, port), timeout=1).close()
                        out[host] = "connected"
                    except OSError as exc:
                        out[host] = exc.strerror or type(exc).__name__
                try:
                    socket.getaddrinfo("example.com", 80)
                    out["dns"] = "resolved"
                except OSError as exc:
                    out["dns"] = type(exc).__name__
                return out
            """,
            {"port": port},
        )
    finally:
        server.close()
        await server.wait_closed()
    assert isinstance(result, FunctionResult), result
    assert result.output["127.0.0.1"] != "connected" and result.output["8.8.8.8"] != "connected"
    assert result.output["dns"] != "resolved"
    assert connections == 0


@both_modes
async def test_huge_return_value_is_an_output_error(sandbox: Sandbox) -> None:
    result = await run(sandbox, "def handler():\n    return 'x' * (50 * 1024 * 1024)\n")
    assert "over the limit" in error(result, "output_limit").message
    await still_serves(sandbox)


@both_modes
async def test_printing_without_end_is_an_output_error(sandbox: Sandbox) -> None:
    result = await run(sandbox, "def handler():\n    while True:\n        print('spam' * 100)\n")
    assert "stdout/stderr" in error(result, "output_limit").message
    await still_serves(sandbox)


@both_modes
async def test_prints_are_captured_as_logs_not_protocol(sandbox: Sandbox) -> None:
    result = await sandbox.run_scorer(
        code(
            """
            import os, sys
            def handler(output):
                print("to stdout")
                print("to stderr", file=sys.stderr)
                os.write(1, b"raw fd 1\\n")
                return 0.5
            """
        ),
        {"output": 1},
    )
    assert isinstance(result, ScoreResult), result
    assert result.scores[0].score == 0.5
    assert "to stdout" in result.logs and "to stderr" in result.logs and "raw fd 1" in result.logs


@needs_root
async def test_killing_the_parent_or_the_group_hurts_only_the_call(sandbox: Sandbox) -> None:
    evaluator = os.getpid()
    result = await run(
        sandbox,
        """
        import os, signal
        def handler(evaluator_pid):
            out = {}
            for name, target in (("ppid", os.getppid()), ("evaluator", evaluator_pid), ("init", 1)):
                try:
                    os.kill(target, signal.SIGKILL)
                    out[name] = "sent"
                except OSError as exc:
                    out[name] = type(exc).__name__
            return out
        """,
        {"evaluator_pid": evaluator},
    )
    assert isinstance(result, FunctionResult), result
    assert result.output["evaluator"] in {"ProcessLookupError", "PermissionError"}
    # the call may kill its own group, never anyone else's: everything after is a clean error
    for hostile in (
        "import os, signal\ndef handler():\n    os.killpg(os.getpgrp(), signal.SIGKILL)\n",
        "import os, signal\ndef handler():\n    os.kill(-1, signal.SIGKILL)\n    return 'survived'\n",
        "import os, signal\ndef handler():\n    os.kill(0, signal.SIGKILL)\n",
    ):
        result = await run(sandbox, hostile)
        if isinstance(result, SandboxError):  # killed itself, or had no one else to signal
            assert result.kind in {"crashed", "user_error"}, result
            assert "SIGKILL" in result.message or "ProcessLookupError" in result.message, result
    os.kill(evaluator, 0)  # still alive
    await still_serves(sandbox)


@both_modes
async def test_closing_the_result_channel_is_a_crash_report(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import os\ndef handler():\n    os.closerange(0, 1024)\n    return 1\n")
    assert "without returning a result" in error(result, "crashed").message
    await still_serves(sandbox)


@both_modes
async def test_corrupting_the_result_channel_is_a_protocol_error(sandbox: Sandbox) -> None:
    result = await run(
        sandbox, "import os\ndef handler():\n    os.write(3, b'garbage that is no frame')\n    return 1\n"
    )
    assert "corrupted its result channel" in error(result, "protocol").message
    result = await run(
        sandbox, "import os\ndef handler():\n    os.write(3, b'\\x00\\x00\\x00\\x05{{{{{')\n    os._exit(0)\n"
    )
    error(result, "protocol")
    await still_serves(sandbox)


@both_modes
async def test_sys_exit_and_os_exit_are_errors(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import sys\ndef handler():\n    sys.exit(3)\n")
    assert error(result, "user_error").message == "function called sys.exit(3)"
    result = await run(sandbox, "import os\ndef handler():\n    os._exit(0)\n")
    assert "exited with code 0 without returning a result" in error(result, "crashed").message
    await still_serves(sandbox)


@both_modes
async def test_base_exceptions_are_user_errors(sandbox: Sandbox) -> None:
    for raised, shown in (
        ("KeyboardInterrupt()", "raised KeyboardInterrupt"),
        ("type('Weird', (BaseException,), {})('odd')", "raised Weird: odd"),
        ("GeneratorExit()", "raised GeneratorExit"),
    ):
        result = await run(sandbox, f"def handler():\n    raise {raised}\n")
        assert error(result, "user_error").message == f"function {shown}"
    result = await run(
        sandbox,
        "class Bad(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n"
        "def handler():\n    raise Bad()\n",
    )
    assert "Bad" in error(result, "user_error").message
    await still_serves(sandbox)


@pytest.mark.parametrize("mode", ["auto", "basic"])
async def test_deep_recursion_is_an_error_not_a_dead_evaluator(mode: str) -> None:
    # generous wall and CPU limits: building the nested list must not time out on a loaded machine
    settings = SETTINGS.model_copy(update={"wall_seconds": 60.0, "cpu_seconds": 30, "isolation": mode})
    async with Sandbox(settings) as box:
        result = await run(box, "def handler():\n    def f(n):\n        return f(n + 1)\n    return f(0)\n")
        assert "RecursionError" in error(result, "user_error").message
        # recursion through C code (repr of a deeply nested list) past the C stack: SIGSEGV
        result = await run(
            box,
            "import sys\nsys.setrecursionlimit(10 ** 7)\n"
            "def handler():\n    x = []\n    for _ in range(300_000):\n        x = [x]\n    return repr(x)\n",
        )
        assert "SIGSEGV" in error(result, "crashed").message
        await still_serves(box)


@needs_root
async def test_a_daemon_that_leaves_the_session_is_killed_with_the_call(sandbox: Sandbox) -> None:
    result = await run(
        sandbox,
        """
        import os, time
        def handler():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(3600)
                os._exit(0)
            return "left a daemon behind"
        """,
    )
    assert isinstance(result, FunctionResult), result
    assert await no_call_processes_left(sandbox) == []
    await still_serves(sandbox)


@needs_root
async def test_cancelling_a_call_kills_it(sandbox: Sandbox) -> None:
    task = asyncio.create_task(run(sandbox, "import time\ndef handler():\n    time.sleep(3600)\n"))
    for _ in range(100):
        if call_pids(sandbox):
            break
        await asyncio.sleep(0.05)
    assert call_pids(sandbox), "the call never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await no_call_processes_left(sandbox) == []
    await still_serves(sandbox)


@needs_root
async def test_user_code_cannot_regain_privileges(sandbox: Sandbox) -> None:
    result = await run(
        sandbox,
        """
        import os
        def handler():
            out = {"uid": os.getuid(), "groups": os.getgroups()}
            for name, attempt in (("setuid", lambda: os.setuid(0)), ("chroot", lambda: os.chroot("/tmp"))):
                try:
                    attempt()
                    out[name] = "allowed"
                except OSError as exc:
                    out[name] = type(exc).__name__
            with open("/proc/self/stat") as fh:
                out["session"] = fh.read().split(")")[1].split()[3] == str(os.getpid())
            with open("/proc/keys") as fh:
                out["keys"] = [line.split()[-2] for line in fh]
            with open("/proc/self/status") as fh:
                out["caps"] = [l.split()[1] for l in fh if l.startswith(("CapEff", "CapPrm", "NoNewPrivs"))]
            return out
        """,
    )
    assert isinstance(result, FunctionResult), result
    assert result.output["uid"] in sandbox.call_uids and result.output["groups"] == []
    assert result.output["setuid"] == "PermissionError" and result.output["chroot"] == "PermissionError"
    assert result.output["caps"] == ["0000000000000000", "0000000000000000", "1"]
    assert result.output["session"] is True  # its own session
    assert result.output["keys"] == ["_ses:"]  # a fresh session keyring, not root's


@both_modes
async def test_supervisor_death_fails_the_calls_in_flight_then_restarts(sandbox: Sandbox) -> None:
    pending = asyncio.create_task(run(sandbox, "import time\ndef handler():\n    time.sleep(30)\n"))
    await asyncio.sleep(0.3)
    assert sandbox._warm is not None
    old_uids = sandbox.call_uids
    os.kill(sandbox._warm.proc.pid, signal.SIGKILL)
    result = await asyncio.wait_for(pending, 10)
    assert "supervisor exited" in error(result, "unavailable").message
    await still_serves(sandbox)
    if old_uids:  # namespaces: the pid namespace died with its supervisor (basic mode: see below)
        assert await no_call_processes_left(sandbox, old_uids) == []


@needs_root
async def test_memory_spread_over_processes_counts_for_the_call() -> None:
    # each process stays under its own RLIMIT_AS (256 MiB); together they hold 4 x 150 MiB
    source = """
        import os, time
        def handler():
            for _ in range(4):
                if os.fork() == 0:
                    hog = b"x" * (150 * 1024 * 1024)
                    time.sleep(3600)
            time.sleep(3600)
        """
    async with Sandbox(SETTINGS.model_copy(update={"wall_seconds": 60.0})) as box:
        result = await run(box, source)
        message = error(result, "memory_limit").message
        assert "in its processes together, over the limit of 256 MiB" in message
        assert await no_call_processes_left(box) == []
        await still_serves(box)


@needs_root
async def test_processes_sharing_their_parents_pages_are_not_counted_twice(sandbox: Sandbox) -> None:
    # 7 processes sharing the parent's 100 MiB (copy-on-write): resident sizes would add up to
    # 700 MiB, past the 256 MiB limit; proportional sizes stay near 100 MiB
    source = """
        import os, time
        def handler():
            ballast = b"x" * (100 * 1024 * 1024)
            children = []
            for _ in range(6):
                pid = os.fork()
                if pid == 0:
                    time.sleep(1.0)
                    os._exit(0)
                children.append(pid)
            for pid in children:
                os.waitpid(pid, 0)
            return "all done" if len(ballast) else "?"
        """
    result = await run(sandbox, source)
    assert isinstance(result, FunctionResult) and result.output == "all done", result


@pytest.mark.parametrize("sandbox", ["basic"], indirect=True)
async def test_basic_mode_calls_die_with_their_supervisor(sandbox: Sandbox, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    pending = asyncio.create_task(
        run(
            sandbox,
            "import os, time\ndef handler(path):\n    open(path, 'w').write(str(os.getpid()))\n    time.sleep(60)\n",
            {"path": str(pid_file)},
        )
    )
    for _ in range(500):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.02)
    call_pid = int(pid_file.read_text())
    assert sandbox._warm is not None
    os.kill(sandbox._warm.proc.pid, signal.SIGKILL)
    error(await asyncio.wait_for(pending, 10), "unavailable")
    for _ in range(100):
        try:
            os.kill(call_pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.03)
    with pytest.raises(ProcessLookupError):
        os.kill(call_pid, 0)


@both_modes
async def test_many_hostile_calls_at_once_leave_healthy_calls_correct(sandbox: Sandbox) -> None:
    hostile = [
        "def handler():\n    while True:\n        pass\n",
        "def handler():\n    return bytearray(4 * 1024 ** 3)\n",
        "import os\ndef handler():\n    os.closerange(0, 1024)\n",
        "import sys\ndef handler():\n    sys.exit(1)\n",
    ]
    calls = [run(sandbox, source) for source in hostile] + [
        sandbox.run_scorer(HEALTHY, {"output": i, "expected": i % 2}) for i in range(8)
    ]
    results = await asyncio.gather(*calls)
    assert all(isinstance(r, SandboxError) for r in results[: len(hostile)])
    healthy = results[len(hostile) :]
    assert [r.scores[0].score for r in healthy if isinstance(r, ScoreResult)] == [
        1.0 if i == i % 2 else 0.0 for i in range(8)
    ]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="memory_bytes"):
        SandboxLimits(memory_bytes=0)
    assert SandboxLimits().memory_bytes == 512 * MiB
