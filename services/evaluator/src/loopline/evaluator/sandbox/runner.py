"""Run user Python code (code scorers, code functions) in the sandbox, from asyncio.

    sandbox = Sandbox(SandboxSettings())
    await sandbox.start()
    result = await sandbox.run_scorer(code, {"input": ..., "output": ..., "expected": ..., "metadata": {}})
    if isinstance(result, SandboxError): ...   # a clean, descriptive error for that row
    await sandbox.close()

`run_scorer_batch` / `run_function_batch` run many rows of one code through `max_batch`-row call
processes (the rows of a batch share a process: batch rows of one organization only).

Every outcome of user code is a value (`ScoreResult`, `FunctionResult` or `SandboxError`); nothing
user code does raises here. Warm mode keeps one supervisor process (`child.py`) that forks a fresh,
isolated process per call; cold mode starts a new supervisor for every call. If the supervisor
itself dies, the calls in flight fail with `unavailable` and the next call starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import secrets
import sys
from dataclasses import dataclass
from typing import Any, Literal

from loopline.common.logging import get_logger
from loopline.evaluator.sandbox import isolation
from loopline.evaluator.sandbox.framing import (
    HEADER,
    FrameError,
    decode_payload,
    encode_frame,
    payload_length,
)
from loopline.evaluator.sandbox.limits import SandboxLimits
from loopline.evaluator.sandbox.packages import PackageEnvs
from loopline.evaluator.sandbox.results import (
    FunctionResult,
    InvalidScore,
    SandboxError,
    ScoreResult,
    normalize_scores,
)
from loopline.evaluator.sandbox.settings import UID_BLOCK, UID_BLOCKS, SandboxSettings

CallMode = Literal["scorer", "function"]
MAX_REQUEST_BYTES = 32 * 1024 * 1024
RESPONSE_OVERHEAD = 128 * 1024
BACKSTOP_SECONDS = 5.0  # on top of the wall limit, before the supervisor itself is presumed stuck
STDERR_TAIL = 8192

log = get_logger(__name__)


@dataclass(frozen=True)
class IsolationReport:
    mode: str
    enforced: tuple[str, ...]
    missing: tuple[str, ...]


class SandboxUnavailable(RuntimeError):
    """The sandbox supervisor could not be started."""


def clamp_limits(requested: SandboxLimits | None, ceiling: SandboxLimits) -> SandboxLimits:
    """A call may ask for less than the configured limits, never for more."""
    if requested is None:
        return ceiling
    fields = dataclasses.asdict(requested)
    return SandboxLimits(**{k: min(v, getattr(ceiling, k)) for k, v in fields.items()})


class _Supervisor:
    """One running `child.py` process and the calls waiting for its answers."""

    def __init__(self, proc: asyncio.subprocess.Process, max_response: int) -> None:
        self.proc = proc
        self.max_response = max_response
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.stderr_tail = bytearray()
        self.report: IsolationReport | None = None
        self.ready: asyncio.Future[IsolationReport] = asyncio.get_running_loop().create_future()
        self.tasks = [
            asyncio.create_task(self._read_responses(), name="sandbox-responses"),
            asyncio.create_task(self._read_stderr(), name="sandbox-stderr"),
        ]
        self.alive = True
        self.closing = False
        self.uids = range(0)  # the uids its calls run as (namespaces mode)

    async def _read_frame(self) -> Any:
        assert self.proc.stdout is not None
        header = await self.proc.stdout.readexactly(HEADER.size)
        return decode_payload(await self.proc.stdout.readexactly(payload_length(header, self.max_response)))

    async def _read_responses(self) -> None:
        problem = "exited"
        try:
            first = await self._read_frame()
            info = first.get("isolation", {}) if isinstance(first, dict) else {}
            self.report = IsolationReport(
                mode=str(info.get("mode", "?")),
                enforced=tuple(info.get("enforced", ())),
                missing=tuple(info.get("missing", ())),
            )
            self.ready.set_result(self.report)
            while True:
                frame = await self._read_frame()
                future = self.pending.pop(int(frame["id"]), None)
                if future is not None and not future.done():
                    future.set_result(frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (FrameError, KeyError, TypeError, ValueError) as exc:
            problem = f"sent a bad frame ({exc})"
        await self.kill()
        returncode = await self.proc.wait()
        tail = self.stderr_tail.decode("utf-8", errors="replace").strip()
        message = f"the sandbox supervisor {problem} (exit code {returncode})" + (f": {tail}" if tail else "")
        if not self.closing:
            log.warning("sandbox supervisor died", reason=message, calls_failed=len(self.pending))
        if not self.ready.done():
            self.ready.set_exception(SandboxUnavailable(message))
        for future in self.pending.values():
            if not future.done():
                future.set_result({"ok": False, "kind": "unavailable", "message": message})
        self.pending.clear()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self.stderr_tail += chunk
            del self.stderr_tail[:-STDERR_TAIL]

    async def send(self, frame: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        assert self.proc.stdin is not None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not self.alive:
            future.set_result(
                {"ok": False, "kind": "unavailable", "message": "the sandbox supervisor is gone"}
            )
            return future
        self.pending[int(frame["id"])] = future
        self.proc.stdin.write(encode_frame(frame))
        with contextlib.suppress(ConnectionError):  # a dead supervisor: the reader fails every pending call
            await self.proc.stdin.drain()
        return future

    def cancel(self, call_id: int) -> None:
        self.pending.pop(call_id, None)
        if self.alive and self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write(encode_frame({"op": "cancel", "id": call_id}))

    async def kill(self) -> None:
        self.alive = False
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def close(self) -> None:
        self.closing = True
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=5)
        except TimeoutError:
            await self.kill()
        await self.proc.wait()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Sandbox:
    """Runs code scorers and code functions; safe to share across tasks."""

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        *,
        python: str | None = None,
        packages: PackageEnvs | None = None,
    ) -> None:
        self.settings = settings or SandboxSettings()
        #: pushed bundles' package environments, visible read-only to calls (`package_path`)
        self.packages = packages
        self.ceiling = self.settings.limits()
        self.python = python or sys.executable
        mode = self.settings.isolation
        if mode == "auto":
            mode = "namespaces" if isolation.namespaces_available() else "basic"
        elif mode == "namespaces" and not isolation.namespaces_available():
            raise SandboxUnavailable("isolation=namespaces needs root on Linux; use auto or basic")
        self.mode = mode
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._ids = itertools.count(1)
        self._warm: _Supervisor | None = None
        self._start_lock = asyncio.Lock()
        per_item = self.ceiling.output_bytes + 6 * self.ceiling.log_bytes + RESPONSE_OVERHEAD
        self._max_response = self.settings.max_batch * per_item

    def package_path(self, name: str) -> str:
        """Where a call sees the package environment `name` (`PackageEnvs.ensure`)."""
        if self.packages is None:
            raise SandboxUnavailable("this sandbox has no package environments")
        if self.mode == "namespaces":
            return f"{isolation.PACKAGES_INSIDE}/{name}"
        return str(self.packages.path(name))

    # -- lifecycle

    async def _spawn(self, slots: int) -> _Supervisor:
        if self.packages is not None:  # bound into the new root at start: it must exist by then
            await asyncio.to_thread(self.packages.root.mkdir, parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            self.python,
            "-I",
            "-m",
            "loopline.evaluator.sandbox.child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={},
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        supervisor = _Supervisor(proc, self._max_response)
        # a uid block per supervisor: supervisors on one host (several evaluators, cold calls)
        # then rarely share RLIMIT_NPROC budgets, which the kernel counts per uid
        uid_base = self.settings.uid_base + secrets.randbelow(UID_BLOCKS) * UID_BLOCK
        supervisor.uids = range(uid_base, uid_base + slots)
        assert proc.stdin is not None
        proc.stdin.write(
            encode_frame(
                {
                    "isolation": self.mode,
                    "slots": slots,
                    "uid_base": uid_base,
                    # a cold supervisor serves one call: preloading would only slow it down
                    "preload": self.settings.preload if self.settings.warm else [],
                    "read_paths": self.settings.read_paths,
                    "packages": str(self.packages.root) if self.packages is not None else None,
                    "max_request_bytes": MAX_REQUEST_BYTES,
                }
            )
        )
        try:
            await asyncio.wait_for(asyncio.shield(supervisor.ready), self.settings.start_timeout_seconds)
        except BaseException:
            await supervisor.kill()
            await supervisor.close()
            raise
        return supervisor

    async def start(self) -> IsolationReport:
        """Start the warm supervisor (cold mode: start and stop one, to check it works)."""
        supervisor = await self._supervisor()
        assert supervisor.report is not None
        if not self.settings.warm:
            await supervisor.close()
        return supervisor.report

    async def _supervisor(self) -> _Supervisor:
        if not self.settings.warm:
            return await self._spawn(slots=1)
        async with self._start_lock:
            if self._warm is None or not self._warm.alive:
                if self._warm is not None:
                    await self._warm.close()
                # spare slots: a finished call's uid is reused only once all its processes are gone
                self._warm = await self._spawn(slots=2 * self.settings.concurrency)
                assert self._warm.report is not None
                log.info("sandbox supervisor started", mode=self._warm.report.mode, pid=self._warm.proc.pid)
            return self._warm

    async def close(self) -> None:
        if self._warm is not None:
            await self._warm.close()
            self._warm = None

    @property
    def call_uids(self) -> range:
        """The uids the warm supervisor's calls run as (empty before start or in basic mode)."""
        if self._warm is None or self.mode != "namespaces":
            return range(0)
        return self._warm.uids

    async def stop(self) -> None:
        """`close`, under the name the runtime calls on a service's workers at shutdown."""
        await self.close()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- calls

    async def run_scorer(
        self,
        code: str,
        args: dict[str, Any],
        *,
        entrypoint: str = "handler",
        name: str = "scorer",
        limits: SandboxLimits | None = None,
    ) -> ScoreResult | SandboxError:
        """Run a code scorer with `args` (input, output, expected, metadata, …) as keyword
        arguments; its return value becomes scores named after the scorer unless it names them."""
        [result] = await self.run_scorer_batch(code, [args], entrypoint=entrypoint, name=name, limits=limits)
        return result

    async def run_scorer_batch(
        self,
        code: str,
        rows: list[dict[str, Any]],
        *,
        entrypoint: str = "handler",
        name: str = "scorer",
        limits: SandboxLimits | None = None,
    ) -> list[ScoreResult | SandboxError]:
        """`run_scorer` on many rows, `max_batch` rows per sandboxed process: each row keeps its own
        wall and CPU limits and its own result or error. Rows of one batch share the process (and
        module state), so batch only rows of one organization."""
        outcomes = await self._call("scorer", code, entrypoint, rows, limits)
        return [self._scores(outcome, name) for outcome in outcomes]

    async def run_function(
        self,
        code: str,
        input: Any,
        *,
        entrypoint: str = "handler",
        limits: SandboxLimits | None = None,
    ) -> FunctionResult | SandboxError:
        """Run a code function on an invoke input (an object's fields become keyword arguments)."""
        [result] = await self.run_function_batch(code, [input], entrypoint=entrypoint, limits=limits)
        return result

    async def run_function_batch(
        self,
        code: str,
        inputs: list[Any],
        *,
        entrypoint: str = "handler",
        limits: SandboxLimits | None = None,
    ) -> list[FunctionResult | SandboxError]:
        """`run_function` on many inputs, batched like `run_scorer_batch`."""
        outcomes = await self._call("function", code, entrypoint, inputs, limits)
        return [
            outcome if isinstance(outcome, SandboxError) else FunctionResult(*outcome) for outcome in outcomes
        ]

    @staticmethod
    def _scores(outcome: tuple[Any, str, float] | SandboxError, name: str) -> ScoreResult | SandboxError:
        if isinstance(outcome, SandboxError):
            return outcome
        value, logs, duration_ms = outcome
        try:
            scores = normalize_scores(value, name)
        except InvalidScore as exc:
            return SandboxError(
                "invalid_result", f"scorer {name!r}: {exc}", logs=logs, duration_ms=duration_ms
            )
        return ScoreResult(scores=scores, logs=logs, duration_ms=duration_ms)

    async def _call(
        self, mode: CallMode, code: str, entrypoint: str, items: list[Any], limits: SandboxLimits | None
    ) -> list[tuple[Any, str, float] | SandboxError]:
        """Run `items` through the sandbox, `max_batch` per process; the items after one that
        killed its process are sent again in a fresh one."""
        effective = clamp_limits(limits, self.ceiling)
        outcomes: list[tuple[Any, str, float] | SandboxError] = []
        while len(outcomes) < len(items):
            chunk = items[len(outcomes) : len(outcomes) + self.settings.max_batch]
            answered = await self._call_once(mode, code, entrypoint, chunk, effective)
            outcomes.extend(self._outcome(mode, item) for item in answered)
        return outcomes

    @staticmethod
    def _outcome(mode: CallMode, item: dict[str, Any]) -> tuple[Any, str, float] | SandboxError:
        logs = str(item.get("logs", ""))
        duration_ms = float(item.get("duration_ms", 0.0))
        if item.get("ok"):
            return item.get("value"), logs, duration_ms
        kind = item.get("kind", "crashed")
        message = str(item.get("message", ""))
        return SandboxError(
            kind=kind,
            message=message if kind == "unavailable" else f"{mode} {message}",
            traceback=str(item.get("traceback", "")),
            logs=logs,
            duration_ms=duration_ms,
        )

    async def _call_once(
        self, mode: CallMode, code: str, entrypoint: str, items: list[Any], limits: SandboxLimits
    ) -> list[dict[str, Any]]:
        """One call process for `items`: the outcomes of the items it got through (at least one)."""

        def every(kind: str, message: str) -> list[dict[str, Any]]:
            return [{"ok": False, "kind": kind, "message": message}] * len(items)

        call_id = next(self._ids)
        frame = {
            "id": call_id,
            "mode": mode,
            "code": code,
            "entrypoint": entrypoint,
            "items": items,
            "limits": limits.to_wire(),
        }
        try:
            size = len(encode_frame(frame))
        except TypeError as exc:
            return every("invalid_request", f"was not run: its arguments are not JSON: {exc}")
        if size > MAX_REQUEST_BYTES:
            return every(
                "invalid_request",
                f"was not run: code and arguments are {size} bytes, over the limit of {MAX_REQUEST_BYTES}",
            )
        async with self._slots:
            try:
                supervisor = await self._supervisor()
            except (SandboxUnavailable, OSError, TimeoutError) as exc:
                return every("unavailable", f"the sandbox could not start: {exc}")
            try:
                try:
                    future = await supervisor.send(frame)
                    response = await asyncio.wait_for(
                        asyncio.shield(future), limits.wall_seconds * len(items) + BACKSTOP_SECONDS
                    )
                except TimeoutError:
                    log.error("sandbox supervisor stopped answering; restarting it", call_id=call_id)
                    await supervisor.kill()
                    return every(
                        "unavailable", "the sandbox supervisor did not answer in time and was restarted"
                    )
                except asyncio.CancelledError:
                    supervisor.cancel(call_id)
                    raise
            finally:
                if not self.settings.warm:
                    await supervisor.close()
        answered = response.get("items")
        if not isinstance(answered, list):  # the supervisor itself failed
            return every(str(response.get("kind", "unavailable")), str(response.get("message", "")))
        return answered[: len(items)] or every("unavailable", "the sandbox answered no item")
