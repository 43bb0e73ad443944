"""What runs inside the sandbox: a supervisor that forks one fresh process per call of user code.

`runner.py` starts this module as `python -I -m loopline.evaluator.sandbox.child` with an empty
environment, requests on stdin and responses on stdout (length-prefixed orjson frames, see
`framing.py`). The first frame is the configuration; the supervisor answers with a `ready` frame
describing the isolation it achieved.

Namespaces mode (root on Linux): the supervisor is pid 1 of a new pid namespace, in a new mount
namespace whose root is a tmpfs holding read-only binds of the interpreter and system directories
only (no /work, /root, data directory, /home, host /tmp). Every call is a fork that unshares its own
network (no interfaces), mount (private tmpfs /tmp), IPC and UTS namespaces, applies rlimits and
becomes uid `uid_base + slot` (`uid_base` is drawn per supervisor by the runner) with no groups, no capabilities and no_new_privs. When the call ends
or overruns, every process of that uid is killed before the slot is reused.

Basic mode (not root): rlimits, its own session (the whole process group is killed), an empty
environment, a throwaway working directory and closed descriptors; see the README for what is
missing.

A call process runs one or more items (rows) of the same code: it loads the module once, writes
one result frame per item on fd 3, and waits for a byte on fd 4 before the next item, so that the
prints on fds 1 and 2 (a pipe) can be attributed to the item that made them. Each item has its own
wall and CPU budget. The supervisor bounds results and prints and turns every way a call can end
into a response frame: the outcomes of the items done, the reason the current one failed, and the
rest left for the evaluator to send again.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import functools
import importlib
import inspect
import linecache
import os
import resource
import selectors
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import orjson
from loopline.evaluator.sandbox import isolation
from loopline.evaluator.sandbox.framing import FrameBuffer, FrameError, read_frame_fd, write_frame_fd
from loopline.evaluator.sandbox.limits import MiB, SandboxLimits
from loopline.evaluator.sandbox.results import has_non_finite_score

USER_FILENAME = "<user code>"
USER_MODULE_PREFIX = "<user code: "  # modules of the user's own (a pushed bundle's files)
RESULT_FD = 3
GO_FD = 4  # one byte per item from the supervisor: "your prints so far are attributed, go on"
MAX_CONFIG_BYTES = 1 * MiB
FRAME_OVERHEAD = 64 * 1024  # room for error messages and tracebacks around a value
EXIT_SETUP_FAILED = 70
EXIT_NO_RESULT_CHANNEL = 71
EXIT_OUT_OF_MEMORY = 72
DRAIN_GRACE_SECONDS = 0.2
MEMORY_CHECK_SECONDS = 0.05
TRACEBACK_CHARS = 8000
CALL_NAMESPACES = (
    isolation.CLONE_NEWNET | isolation.CLONE_NEWNS | isolation.CLONE_NEWIPC | isolation.CLONE_NEWUTS
)


# --------------------------------------------------------------------------------------------
# inside a call process


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    for method in ("as_dict", "model_dump", "to_dict"):
        fn = getattr(value, method, None)
        if callable(fn):
            return fn()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _json_size_floor(value: Any, limit: int) -> int:
    """A lower bound of `value`'s JSON size, computed without recursion and stopping once past
    `limit`: a huge return value is refused before serializing it could exhaust the memory limit."""
    size = 0
    stack = [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, dict):
            size += 2 + len(item)
            for key, child in item.items():
                size += len(key) + 2 if isinstance(key, str) else 1
                stack.append(child)
        elif isinstance(item, list | tuple | set | frozenset):
            size += 2 + len(item)
            stack.extend(item)
        else:
            size += 1
    return size


def _bind_arguments(fn: Any, args: Any) -> tuple[list[Any], dict[str, Any]]:
    """Braintrust calls handlers with the invoke input's fields as keyword arguments and drops the
    fields a handler does not declare (scorers often take only `output` and `expected`)."""
    if not isinstance(args, dict):
        return [args], {}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return [], dict(args)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return [], dict(args)
    named = {
        name
        for name, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    kwargs = {k: v for k, v in args.items() if k in named}
    if not kwargs and args and len(params) == 1:
        return [args], {}  # `def handler(input)` called with a whole object
    return [], kwargs


def _user_traceback(exc: BaseException) -> str:
    try:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if f.filename == USER_FILENAME or f.filename.startswith(USER_MODULE_PREFIX)
        ]
        lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    except BaseException:  # a hostile __str__ or __traceback__
        return ""
    return "".join(lines)[-TRACEBACK_CHARS:]


MESSAGE_CHARS = 2000


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)[:MESSAGE_CHARS]
    except BaseException:  # a hostile __str__
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _MissingEntrypoint(Exception):
    pass


def _load(request: dict[str, Any]) -> Callable[..., Any]:
    """Run the module's code once per call process; its entrypoint serves every item."""
    code = request["code"]
    entrypoint = request["entrypoint"]
    linecache.cache[USER_FILENAME] = (len(code), None, code.splitlines(True), USER_FILENAME)
    compiled = compile(code, USER_FILENAME, "exec", dont_inherit=True)
    namespace: dict[str, Any] = {"__name__": "__sandbox__", "__builtins__": builtins}
    exec(compiled, namespace)
    fn = namespace.get(entrypoint)
    if not callable(fn):
        defined = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_"))
        raise _MissingEntrypoint(
            f"defines no function {entrypoint!r} (functions defined: {defined or 'none'})"
        )
    return fn


def _run_item(fn: Callable[..., Any], args: Any, limits: SandboxLimits, scorer: bool) -> dict[str, Any]:
    positional, keywords = _bind_arguments(fn, args)
    value = fn(*positional, **keywords)
    if inspect.isawaitable(value):
        import asyncio

        async def _await() -> Any:
            return await value

        value = asyncio.run(_await())
    if scorer and has_non_finite_score(value):
        return {"ok": False, "kind": "invalid_result", "message": "returned a score that is NaN or infinite"}
    if (floor := _json_size_floor(value, limits.output_bytes)) > limits.output_bytes:
        return {
            "ok": False,
            "kind": "output_limit",
            "message": f"returned more than {floor - 1} bytes of JSON, over the limit of {limits.output_bytes}",
        }
    try:
        payload = orjson.dumps(
            value, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        )
    except TypeError as exc:
        return {"ok": False, "kind": "invalid_result", "message": f"returned a value that is not JSON: {exc}"}
    if len(payload) > limits.output_bytes:
        return {
            "ok": False,
            "kind": "output_limit",
            "message": f"returned {len(payload)} bytes of JSON, over the limit of {limits.output_bytes}",
        }
    return {"ok": True, "value": orjson.Fragment(payload)}


def _guarded(action: Callable[[], dict[str, Any]], limits: SandboxLimits) -> dict[str, Any]:
    """The result frame of running user code: whatever it raises becomes an error frame."""
    try:
        return action()
    except MemoryError:
        return {
            "ok": False,
            "kind": "memory_limit",
            "message": f"ran out of memory (limit {limits.memory_bytes // MiB} MiB per process)",
        }
    except _MissingEntrypoint as exc:
        return {"ok": False, "kind": "user_error", "message": str(exc)}
    except SystemExit as exc:
        return {"ok": False, "kind": "user_error", "message": f"called sys.exit({str(exc.code)[:200]})"}
    except SyntaxError as exc:
        return {
            "ok": False,
            "kind": "user_error",
            "message": f"has a syntax error: {exc.msg} (line {exc.lineno})",
            "traceback": _user_traceback(exc),
        }
    except BaseException as exc:  # user code may raise anything, KeyboardInterrupt and GeneratorExit included
        return {
            "ok": False,
            "kind": "user_error",
            "message": f"raised {_describe(exc)}",
            "traceback": _user_traceback(exc),
        }


def _cpu_hard_seconds(limits: SandboxLimits, items: int) -> int:
    return limits.cpu_seconds * (items + 1) + 1


def _renew_cpu_budget(cpu_seconds: int) -> None:
    """Each item gets `cpu_seconds` of CPU from now on (the hard limit bounds the whole batch)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + 1 + cpu_seconds
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))


def _enter_call_sandbox(call: PendingCall, namespaces: bool, uid: int) -> None:
    limits = call.limits
    supervisor_pid = os.getppid()
    os.setsid()
    if namespaces:
        isolation.unshare(CALL_NAMESPACES)
        _private_tmp(f"size={max(limits.file_bytes, 4096)},mode=0700,uid={uid},gid={uid}")
        os.chdir("/tmp")
    else:
        os.chdir(call.workdir)
    # move the pipes out of the way first: they may sit on the very numbers they are dup'ed to
    log_w = fcntl.fcntl(call.log_w, fcntl.F_DUPFD, 100)
    result_w = fcntl.fcntl(call.result_w, fcntl.F_DUPFD, 100)
    go_r = fcntl.fcntl(call.go_r, fcntl.F_DUPFD, 100)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(log_w, 1)
    os.dup2(log_w, 2)
    os.dup2(result_w, RESULT_FD)
    os.dup2(go_r, GO_FD)
    os.closerange(GO_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL if signum != signal.SIGPIPE else signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    isolation.set_limits(
        cpu_seconds=limits.cpu_seconds,
        cpu_hard_seconds=_cpu_hard_seconds(limits, len(call.request["items"])),
        memory_bytes=limits.memory_bytes,
        file_bytes=limits.file_bytes,
        max_open_files=limits.max_open_files,
        max_processes=limits.max_processes,
    )
    if namespaces:
        isolation.drop_privileges(uid)
    # die with the supervisor (set after the uid change, which clears it); in namespaces mode the
    # pid namespace takes care of the call's children too
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor_pid:
        raise RuntimeError("the supervisor is gone")
    os.environ.clear()
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)  # noqa: SIM115


def _call_process(call: PendingCall, namespaces: bool, uid: int) -> NoReturn:
    """Body of a forked call process; never returns."""
    try:
        _enter_call_sandbox(call, namespaces, uid)
    except BaseException as exc:
        frame = {"ok": False, "kind": "unavailable", "message": f"could not be set up in the sandbox: {exc}"}
        # the original descriptor until closerange, then its copy on RESULT_FD
        for fd in (call.result_w, RESULT_FD):
            with contextlib.suppress(BaseException):
                write_frame_fd(fd, frame)
                break
        os._exit(EXIT_SETUP_FAILED)
    limits = call.limits
    try:
        loaded: dict[str, Callable[..., Any]] = {}

        def load() -> dict[str, Any]:
            loaded["fn"] = _load(call.request)
            return {"ok": True}

        load_frame = _guarded(load, limits)
        scorer = call.request["mode"] == "scorer"
        for index, args in enumerate(call.request["items"]):
            if index and os.read(GO_FD, 1) != b"\x01":
                os._exit(EXIT_NO_RESULT_CHANNEL)  # the supervisor is gone, or the code ate its signal
            if "fn" in loaded:
                _renew_cpu_budget(limits.cpu_seconds)
                frame = _guarded(functools.partial(_run_item, loaded["fn"], args, limits, scorer), limits)
            else:
                frame = load_frame  # the module itself failed: every item says why
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(BaseException):
                    stream.flush()
            write_frame_fd(RESULT_FD, frame)
    except MemoryError:
        os._exit(EXIT_OUT_OF_MEMORY)
    except BaseException:
        os._exit(EXIT_NO_RESULT_CHANNEL)
    os._exit(0)


# --------------------------------------------------------------------------------------------
# the supervisor


@dataclass
class PendingCall:
    id: int
    request: dict[str, Any]
    limits: SandboxLimits
    slot: int
    result_r: int
    result_w: int
    log_r: int
    log_w: int
    go_r: int = -1
    go_w: int = -1
    workdir: str = ""
    pid: int = 0
    started: float = 0.0
    deadline: float = 0.0
    frames: FrameBuffer = field(default_factory=lambda: FrameBuffer(0))
    logs: bytearray = field(default_factory=bytearray)  # of the item running now
    items: list[dict[str, Any]] = field(default_factory=list)  # outcomes so far, in order
    item_started: float = 0.0
    open_fds: set[int] = field(default_factory=set)
    kill_reason: str = ""
    kill_message: str = ""
    status: int | None = None
    cpu_seconds: float = 0.0
    exited_at: float = 0.0
    responded: bool = False


def _frame_outcome(frame: dict[str, Any]) -> dict[str, Any]:
    if frame["ok"]:
        return {"ok": True, "value": frame.get("value")}
    return {
        "ok": False,
        "kind": str(frame.get("kind", "user_error")),
        "message": str(frame.get("message", "")),
        "traceback": str(frame.get("traceback", "")),
    }


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Supervisor:
    def __init__(self, config: dict[str, Any], namespaces: bool) -> None:
        self.namespaces = namespaces
        self.uid_base = int(config["uid_base"])
        self.slots = int(config["slots"])
        self.free_slots = list(range(self.slots))
        self.next_memory_check = 0.0
        self.waiting: deque[dict[str, Any]] = deque()
        self.draining_slots: set[int] = set()
        self.calls: dict[int, PendingCall] = {}  # by pid
        self.by_fd: dict[int, PendingCall] = {}
        self.selector = selectors.DefaultSelector()
        self.requests = FrameBuffer(int(config["max_request_bytes"]))
        self.stdin_open = True
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w, 0):
            os.set_blocking(fd, False)
        self.wake_r = wake_r
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(0, selectors.EVENT_READ)
        self.selector.register(wake_r, selectors.EVENT_READ)

    # -- responses

    def respond(self, frame: dict[str, Any]) -> None:
        write_frame_fd(1, frame)

    # -- main loop

    def serve(self) -> None:
        while self.stdin_open or self.calls:
            timeout = self._next_timeout()
            for key, _ in self.selector.select(timeout):
                fd = int(key.fd)
                if fd == 0:
                    self._read_requests()
                elif fd == self.wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(fd, 4096)
                else:
                    self._read_call_pipe(fd)
            self._reap()
            now = time.monotonic()
            if self.namespaces and now >= self.next_memory_check:
                self._check_memory()
                self.next_memory_check = now + MEMORY_CHECK_SECONDS
            for call in list(self.calls.values()):
                if call.status is None and not call.responded and now >= call.deadline:
                    self._kill(
                        call, "timeout", f"did not finish within {call.limits.wall_seconds:g} s (wall time)"
                    )
                if call.status is not None and (
                    not call.open_fds or now >= call.exited_at + DRAIN_GRACE_SECONDS
                ):
                    self._finish(call)
            self._sweep_slots()
            self._start_waiting()

    def _next_timeout(self) -> float:
        now = time.monotonic()
        timeout = 0.5
        for call in self.calls.values():
            if call.status is None:
                until = call.exited_at + 1.0 if call.responded else call.deadline
            else:
                until = call.exited_at + DRAIN_GRACE_SECONDS
            timeout = min(timeout, max(0.0, until - now))
        if self.draining_slots:
            timeout = min(timeout, 0.01)
        if self.namespaces and self.calls:
            timeout = min(timeout, max(0.0, self.next_memory_check - now))
        return timeout

    def _check_memory(self) -> None:
        """Kill a call whose processes together hold more than its memory limit: RLIMIT_AS bounds
        each process, this bounds the call (a fork of big processes, no cgroup needed). Checked
        every MEMORY_CHECK_SECONDS, so a call can overshoot for that long."""
        running = {
            self.uid_base + c.slot: c for c in self.calls.values() if c.status is None and not c.responded
        }
        if not running:
            return
        usage = isolation.memory_by_uid(range(self.uid_base, self.uid_base + self.slots))
        for uid, rss in usage.items():
            call = running.get(uid)
            if call is not None and rss > call.limits.memory_bytes:
                self._kill(
                    call,
                    "memory_limit",
                    f"held {rss // MiB} MiB in its processes together, over the limit of "
                    f"{call.limits.memory_bytes // MiB} MiB",
                )

    def _read_requests(self) -> None:
        while True:
            try:
                data = os.read(0, 1 << 20)
            except BlockingIOError:
                break
            if not data:  # the evaluator is gone or closing us: nobody wants the answers
                self.stdin_open = False
                self.selector.unregister(0)
                self.waiting.clear()
                for call in self.calls.values():
                    self._kill(call, "unavailable", "the sandbox is shutting down")
                return
            self.requests.feed(data)
        for request in self.requests.take():
            if request.get("op") == "cancel":
                self._cancel(int(request["id"]))
            else:
                self.waiting.append(request)
        self._start_waiting()

    def _cancel(self, call_id: int) -> None:
        """The evaluator gave up on a call (its job was cancelled): stop it, answer nothing."""
        self.waiting = deque(r for r in self.waiting if int(r["id"]) != call_id)
        for call in self.calls.values():
            if call.id == call_id and not call.responded:
                call.responded = True  # nobody waits for the answer any more
                call.exited_at = time.monotonic()
                self._kill(call, "cancelled", "was cancelled")

    def _start_waiting(self) -> None:
        while self.waiting and self.free_slots:
            self._start(self.waiting.popleft())

    # -- starting a call

    def _start(self, request: dict[str, Any]) -> None:
        call_id = int(request["id"])
        limits = SandboxLimits.from_wire(request["limits"])
        slot = self.free_slots.pop()
        result_r, result_w = os.pipe()
        log_r, log_w = os.pipe()
        call = PendingCall(call_id, request, limits, slot, result_r, result_w, log_r, log_w)
        call.go_r, call.go_w = os.pipe()
        call.frames = FrameBuffer(limits.output_bytes + FRAME_OVERHEAD)
        if not self.namespaces:
            call.workdir = tempfile.mkdtemp(prefix="loopline-sandbox-")
        call.started = call.item_started = time.monotonic()
        call.deadline = call.started + limits.wall_seconds
        pid = os.fork()
        if pid == 0:
            _call_process(call, self.namespaces, self.uid_base + slot)
        os.close(result_w)
        os.close(log_w)
        os.close(call.go_r)
        os.set_blocking(call.go_w, False)
        call.pid = pid
        self.calls[pid] = call
        for fd in (result_r, log_r):
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)
            self.by_fd[fd] = call
            call.open_fds.add(fd)

    # -- reading what a call sends

    def _close_fd(self, call: PendingCall, fd: int) -> None:
        if fd in call.open_fds:
            call.open_fds.discard(fd)
            self.selector.unregister(fd)
            self.by_fd.pop(fd, None)
            os.close(fd)

    def _read_call_pipe(self, fd: int) -> None:
        call = self.by_fd.get(fd)
        if call is None:
            return
        is_result = fd == call.result_r
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            if not data:
                self._close_fd(call, fd)
                break
            if call.kill_reason or call.responded:
                continue  # draining a call that is over: discard
            if is_result:
                try:
                    call.frames.feed(data)
                except FrameError as exc:
                    self._kill(call, "protocol", f"corrupted its result channel ({exc})")
            else:
                call.logs += data
                if len(call.logs) > call.limits.log_bytes:
                    del call.logs[call.limits.log_bytes :]
                    self._kill(
                        call,
                        "output_limit",
                        f"printed more than {call.limits.log_bytes} bytes to stdout/stderr",
                    )
        if is_result and not call.responded and not call.kill_reason:
            self._take_items(call)

    def _take_items(self, call: PendingCall) -> None:
        """Record each whole result frame as the outcome of the next item, with the prints that
        came before it (already in the log pipe: the call flushes them before writing its
        result), and answer once every item is in: tearing a process and its namespaces down
        takes longer than running a small scorer."""
        try:
            frames = call.frames.take()
        except FrameError as exc:
            self._kill(call, "protocol", f"corrupted its result channel ({exc})")
            return
        for frame in frames:
            if call.log_r in call.open_fds:
                self._read_call_pipe(call.log_r)
            if call.kill_reason:
                return
            if not isinstance(frame, dict) or not isinstance(frame.get("ok"), bool):
                self._kill(call, "protocol", "corrupted its result channel (not a result)")
                return
            self._record_item(call, _frame_outcome(frame))
            if len(call.items) == len(call.request["items"]):
                call.exited_at = time.monotonic()
                self._answer(call)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(call.pid, signal.SIGKILL)
                return
            with contextlib.suppress(
                OSError
            ):  # a full or closed pipe: the code meddled; its wall limit ends it
                os.write(call.go_w, b"\x01")

    def _record_item(self, call: PendingCall, outcome: dict[str, Any]) -> None:
        now = time.monotonic()
        outcome["logs"] = call.logs.decode("utf-8", errors="replace")
        outcome["duration_ms"] = round((now - call.item_started) * 1000, 3)
        call.items.append(outcome)
        call.logs.clear()
        call.item_started = now
        call.deadline = now + call.limits.wall_seconds

    # -- ending calls

    def _kill(self, call: PendingCall, reason: str, message: str) -> None:
        if not call.kill_reason:
            call.kill_reason, call.kill_message = reason, message
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(call.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(call.pid, signal.SIGKILL)
        if self.namespaces:
            self._kill_uid(self.uid_base + call.slot)

    def _reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            call = self.calls.get(pid)
            if call is None or call.status is not None:
                continue  # an orphan of some call, reparented to us (pid 1)
            call.status = status
            call.cpu_seconds = usage.ru_utime + usage.ru_stime
            if not call.responded:
                call.exited_at = time.monotonic()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # whatever it left behind in its session
            if self.namespaces:
                self._kill_uid(self.uid_base + call.slot)

    def _answer(self, call: PendingCall) -> None:
        """Send the outcomes of the items that ran; if the call died on an item, that item gets
        the reason and the items after it are left for the evaluator to send again."""
        call.responded = True
        if len(call.items) < len(call.request["items"]):
            self._record_item(call, self._failure(call))
        try:
            self.respond({"id": call.id, "items": call.items})
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            self.stdin_open = False

    def _finish(self, call: PendingCall) -> None:
        for fd in list(call.open_fds):
            self._close_fd(call, fd)
        os.close(call.go_w)
        del self.calls[call.pid]
        if call.workdir:
            shutil.rmtree(call.workdir, ignore_errors=True)
        if self.namespaces:
            self.draining_slots.add(call.slot)
        else:
            self.free_slots.append(call.slot)
        if not call.responded:
            self._answer(call)

    def _failure(self, call: PendingCall) -> dict[str, Any]:
        """Why the call stopped before its current item returned."""
        limits = call.limits
        if call.kill_reason:
            return {"ok": False, "kind": call.kill_reason, "message": call.kill_message}
        if call.frames.pending:
            return {
                "ok": False,
                "kind": "protocol",
                "message": "corrupted its result channel (truncated frame)",
            }
        status = call.status if call.status is not None else 0
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            hard = _cpu_hard_seconds(limits, len(call.request["items"]))
            if signum == signal.SIGXCPU or (signum == signal.SIGKILL and call.cpu_seconds >= hard):
                return {
                    "ok": False,
                    "kind": "cpu_limit",
                    "message": f"used more than {limits.cpu_seconds} s of CPU time",
                }
            if signum == signal.SIGSEGV:
                return {
                    "ok": False,
                    "kind": "crashed",
                    "message": "crashed with SIGSEGV (for example recursion deeper than the C stack)",
                }
            return {"ok": False, "kind": "crashed", "message": f"was killed by {_signal_name(signum)}"}
        code = os.WEXITSTATUS(status)
        if code == EXIT_SETUP_FAILED:
            return {"ok": False, "kind": "unavailable", "message": "could not be set up in the sandbox"}
        if code == EXIT_OUT_OF_MEMORY:
            return {
                "ok": False,
                "kind": "memory_limit",
                "message": f"ran out of memory (limit {limits.memory_bytes // MiB} MiB per process)",
            }
        return {
            "ok": False,
            "kind": "crashed",
            "message": f"exited with code {code} without returning a result "
            "(os._exit, or its result channel was closed)",
        }

    # -- uid slots (namespaces mode)

    def _kill_uid(self, uid: int) -> int:
        pids = isolation.pids_of_uids(range(uid, uid + 1))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def _sweep_slots(self) -> None:
        if not self.draining_slots:
            return
        self._reap()
        for slot in list(self.draining_slots):
            if self._kill_uid(self.uid_base + slot) == 0:
                self.draining_slots.discard(slot)
                self.free_slots.append(slot)


# --------------------------------------------------------------------------------------------
# start-up


#: read paths that live under /tmp, bound at their own paths in the new root (the supervisor's
#: and, since a call's private tmpfs /tmp hides them, again inside each call's)
_TMP_BINDS: list[str] = []


def _is_under_tmp(path: str) -> bool:
    return path == "/tmp" or path.startswith("/tmp/")


def _hold_under_tmp(read_paths: list[str]) -> list[tuple[str, int]]:
    """O_PATH descriptors of the existing directories among `read_paths` under /tmp (the deepest
    one of nested paths is covered by its ancestor's bind), before /tmp is hidden."""
    paths = sorted({os.path.normpath(p) for p in read_paths if _is_under_tmp(os.path.normpath(p))})
    held: list[tuple[str, int]] = []
    for p in paths:
        if p == "/tmp" or any(p.startswith(h + "/") for h, _ in held) or not os.path.isdir(p):
            continue
        held.append((p, os.open(p, os.O_PATH | os.O_DIRECTORY)))
    return held


def _private_tmp(options: str) -> None:
    """A call's private tmpfs on /tmp, with the read paths under /tmp (`_TMP_BINDS`) bound back
    read-only at their own paths (held open before the tmpfs covers them)."""
    held = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in _TMP_BINDS]
    isolation.mount("tmpfs", "/tmp", "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV, options)
    for path, fd in held:
        _bind_held(fd, path)


def _bind_held(fd: int, target: str) -> None:
    """Bind the directory held open as `fd` read-only at `target` (made if missing); closes `fd`."""
    os.makedirs(target, mode=0o755, exist_ok=True)
    isolation.bind_readonly(f"/proc/self/fd/{fd}", target)
    os.close(fd)


def _narrow_filesystem(read_paths: list[str], packages: str | None) -> list[str]:
    """New root: tmpfs on /tmp (private to our mount namespace) with read-only binds, then chroot.
    The bundles' package environments (`packages`, possibly under host /tmp, which the new root
    hides) are opened first and bound read-only at `isolation.PACKAGES_INSIDE`."""
    isolation.mount(None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
    held = os.open(packages, os.O_PATH | os.O_DIRECTORY) if packages and os.path.isdir(packages) else None
    # read paths under host /tmp (an interpreter or virtualenv installed there): held open now,
    # bound at their own paths below, and again inside each call's private /tmp
    under_tmp = _hold_under_tmp(read_paths)
    isolation.mount("tmpfs", "/tmp", "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV, "size=1m,mode=0755")
    bound = isolation.build_root("/tmp", [p for p in read_paths if not _is_under_tmp(p)])
    for path, fd in under_tmp:
        _bind_held(fd, "/tmp" + path)
        bound.append(path)
        _TMP_BINDS.append(path)
    if held is not None:
        _bind_held(held, "/tmp" + isolation.PACKAGES_INSIDE)
        bound.append(isolation.PACKAGES_INSIDE)
    isolation.mount(
        "proc", "/tmp/proc", "proc", isolation.MS_NOSUID | isolation.MS_NODEV | isolation.MS_NOEXEC
    )
    os.chroot("/tmp")
    os.chdir("/")
    return bound


def _report(namespaces: bool, bound: list[str], uids: tuple[int, int]) -> dict[str, Any]:
    enforced = [
        "RLIMIT_CPU",
        "RLIMIT_AS",
        "RLIMIT_FSIZE",
        "RLIMIT_NOFILE",
        "RLIMIT_NPROC",
        "RLIMIT_CORE=0",
        "wall-time kill",
        "bounded result and logs",
        "empty environment",
        "closed inherited descriptors",
        "own session",
    ]
    if namespaces:
        enforced += [
            "pid namespace (supervisor is pid 1)",
            "network namespace per call (no interfaces)",
            "mount namespace per call with a private tmpfs /tmp",
            "IPC and UTS namespaces per call",
            "read-only root with only: " + ", ".join(bound),
            f"uid per call slot ({uids[0]}-{uids[1]}), no groups, no capabilities, no_new_privs",
        ]
        enforced.append(
            f"memory of a call's processes together (PSS), checked every {MEMORY_CHECK_SECONDS * 1000:g} ms"
        )
        missing = [
            "no memory cgroup: between two checks a call's processes are bounded only one by one (RLIMIT_AS)",
        ]
    else:
        missing = [
            "network: no network namespace (not root); user code can open sockets",
            "filesystem: runs as the server's user and can read what that user can read",
            "processes: RLIMIT_NPROC counts every process of the server's user; a process that "
            "leaves the call's session survives the call",
            "memory is limited per process (RLIMIT_AS), not per call",
        ]
    return {"mode": "namespaces" if namespaces else "basic", "enforced": enforced, "missing": missing}


def _preload(modules: list[str]) -> None:
    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def main() -> None:
    # fds 0 and 1 are the protocol; nothing of ours may print to them by accident
    sys.stdout = sys.stderr
    config = read_frame_fd(0, MAX_CONFIG_BYTES)
    namespaces = config["isolation"] == "namespaces"
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    _preload(list(config.get("preload", [])))
    bound: list[str] = []
    if namespaces:
        isolation.unshare(
            isolation.CLONE_NEWPID | isolation.CLONE_NEWNS | isolation.CLONE_NEWNET | isolation.CLONE_NEWIPC
        )
        pid = os.fork()
        if pid:
            # outer process: the evaluator's child; lives exactly as long as the supervisor
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        read_paths = [*isolation.SYSTEM_PATHS, *isolation.python_paths(), *config.get("read_paths", [])]
        bound = _narrow_filesystem(read_paths, config.get("packages"))
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    supervisor = Supervisor(config, namespaces)
    supervisor.respond(
        {
            "ready": True,
            "pid": os.getpid(),
            "isolation": _report(
                namespaces, bound, (supervisor.uid_base, supervisor.uid_base + int(config["slots"]) - 1)
            ),
        }
    )
    supervisor.serve()


if __name__ == "__main__":
    main()
