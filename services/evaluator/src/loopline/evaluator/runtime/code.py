"""Code functions and code scorers, run in the sandbox (`evaluator/sandbox/`, see its README).

`CodeRunner.bind(principal, fn)` picks the code of a function — inline code (`function_data.data
.type = "inline"`) or a pushed bundle (`"bundle"`, fetched through the `BundleStore`, unpacked
once under `bundle_dir` which the sandbox sees read-only) — and returns a `BoundCode` whose
`function(input)` / `scorer(kwargs, name)` run it. Whatever the code does ends as a value
(`CodeOutcome` / `ScorerOutcome` with an error and the status an invoke answers), never as an
exception in the evaluator.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loopline.common.auth import Principal
from loopline.common.logging import get_logger
from loopline.evaluator.runtime.types import FunctionDef, Score
from loopline.evaluator.sandbox.code import InlineCode, UnsupportedCode, inline_code
from loopline.evaluator.sandbox.results import SandboxError, ScoreResult
from loopline.evaluator.sandbox.runner import Sandbox

log = get_logger(__name__)

#: sandbox error kinds that are the code's own doing (the caller's function failed: 422)
_STATUS = {"unavailable": 503, "invalid_request": 400, "cancelled": 499}
MAX_BUNDLE_BYTES = 256 * 1024 * 1024


class CodeUnavailable(Exception):
    """The function's code cannot be run here (unsupported runtime, missing bundle)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class BundleSource(Protocol):
    """fn-store's `BundleStore`: the zip `braintrust push` uploaded."""

    async def get(self, org_id: str, bundle_id: str) -> bytes: ...


@dataclass(frozen=True)
class CodeOutcome:
    output: Any = None
    logs: str = ""
    error: str | None = None
    status: int = 200


@dataclass(frozen=True)
class ScorerOutcome:
    scores: list[Score] = field(default_factory=list)
    logs: str = ""
    error: str | None = None


def _describe(err: SandboxError) -> str:
    text = str(err)
    if err.traceback:
        text += "\n" + err.traceback.strip()[-2000:]
    return text


class BoundCode:
    def __init__(self, runner: CodeRunner, principal: Principal, fn: FunctionDef) -> None:
        self.runner = runner
        self.principal = principal
        self.fn = fn

    async def _code(self) -> InlineCode:
        data = self.fn.function_data or {}
        inner = data.get("data")
        if isinstance(inner, dict) and inner.get("type") == "bundle":
            return await self.runner.bundle_code(self.principal.org_id, inner)
        try:
            return inline_code(data)
        except UnsupportedCode as exc:
            raise CodeUnavailable(str(exc)) from exc

    async def function(self, input: Any) -> CodeOutcome:
        try:
            code = await self._code()
        except CodeUnavailable as exc:
            return CodeOutcome(error=str(exc), status=exc.status)
        out = await self.runner.sandbox.run_function(code.code, input, entrypoint=code.entrypoint)
        if isinstance(out, SandboxError):
            return CodeOutcome(logs=out.logs, error=_describe(out), status=_STATUS.get(out.kind, 422))
        return CodeOutcome(out.output, out.logs)

    async def scorer(self, kwargs: dict[str, Any], name: str) -> ScorerOutcome:
        try:
            code = await self._code()
        except CodeUnavailable as exc:
            return ScorerOutcome(error=str(exc))
        out = await self.runner.sandbox.run_scorer(code.code, kwargs, entrypoint=code.entrypoint, name=name)
        if isinstance(out, SandboxError):
            return ScorerOutcome(logs=out.logs, error=_describe(out))
        assert isinstance(out, ScoreResult)
        return ScorerOutcome([Score(s.name, s.score, dict(s.metadata)) for s in out.scores], out.logs)


class CodeRunner:
    def __init__(
        self, sandbox: Sandbox, bundles: BundleSource | None = None, bundle_dir: Path | None = None
    ) -> None:
        self.sandbox = sandbox
        self.bundles = bundles
        self.bundle_dir = bundle_dir
        self._unpacking: dict[str, asyncio.Lock] = {}

    def bind(self, principal: Principal, fn: FunctionDef) -> BoundCode:
        return BoundCode(self, principal, fn)

    async def bundle_code(self, org_id: str, data: dict[str, Any]) -> InlineCode:
        """The code that runs the function a pushed bundle registered at `location`."""
        bundle_id = data.get("bundle_id")
        if not isinstance(bundle_id, str) or not bundle_id:
            raise CodeUnavailable("function_data.data.bundle_id must be a non-empty string")
        runtime = (data.get("runtime_context") or {}).get("runtime")
        if runtime != "python":
            raise CodeUnavailable(
                f"bundle runtime {runtime!r} is not supported: Loopline runs python bundles"
            )
        location = data.get("location") or {}
        if not isinstance(location, dict) or location.get("type") != "function":
            raise CodeUnavailable(
                f"bundle location {location!r} is not supported: Loopline runs the functions a bundle "
                "registers ({type: function, index}); evaluators pushed as sandboxes are not run"
            )
        index = location.get("index")
        if not isinstance(index, int) or index < 0:
            raise CodeUnavailable("bundle location.index must be a non-negative integer")
        folder = await self._unpacked(org_id, bundle_id)
        return InlineCode(code=_bundle_entry(folder, index))

    async def _unpacked(self, org_id: str, bundle_id: str) -> Path:
        if self.bundles is None or self.bundle_dir is None:
            raise CodeUnavailable("pushed code bundles cannot run here: no bundle store in this process", 503)
        name = hashlib.sha256(f"{org_id}/{bundle_id}".encode()).hexdigest()[:32]
        folder = self.bundle_dir / name
        if (folder / ".complete").exists():
            return folder
        async with self._unpacking.setdefault(name, asyncio.Lock()):
            if (folder / ".complete").exists():
                return folder
            try:
                blob = await self.bundles.get(org_id, bundle_id)
            except Exception as exc:  # NotFound or a storage failure: the function cannot run
                raise CodeUnavailable(f"code bundle {bundle_id!r} cannot be read: {exc}", 404) from exc
            await asyncio.to_thread(_extract, blob, folder)
        return folder


def _extract(blob: bytes, folder: Path) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            total = 0
            for info in zf.infolist():
                total += info.file_size
                if total > MAX_BUNDLE_BYTES:
                    raise CodeUnavailable(f"code bundle unpacks to more than {MAX_BUNDLE_BYTES} bytes")
                target = (tmp / info.filename).resolve()
                if not str(target).startswith(str(tmp.resolve()) + os.sep) and target != tmp.resolve():
                    raise CodeUnavailable(f"code bundle entry {info.filename!r} points outside the bundle")
            zf.extractall(tmp)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CodeUnavailable(f"code bundle is not a zip file: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for path in [tmp, *tmp.rglob("*")]:  # readable by the sandbox's call uids
        path.chmod(0o755 if path.is_dir() else 0o644)
    (tmp / ".complete").write_text("")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _bundle_entry(folder: Path, index: int) -> str:
    """Sandbox code that imports a bundle's `register` module (which imports the user's modules,
    registering their functions with the braintrust SDK) and calls the `index`-th one."""
    return f"""
import sys as _sys
_root = {json.dumps(str(folder))}
for _p in (_root + "/pkg", _root):
    if _p not in _sys.path:
        _sys.path.insert(0, _p)

def _registered():
    import importlib
    from braintrust.framework2 import global_
    if not global_.functions:
        importlib.import_module("register")
    return global_.functions

def handler(*args, **kwargs):
    import inspect
    fns = _registered()
    if {index} >= len(fns):
        raise LookupError("the bundle registers " + str(len(fns)) + " functions; index {index} does not exist")
    fn = fns[{index}].handler
    if args:
        return fn(*args)
    params = inspect.signature(fn).parameters.values()
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        names = {{p.name for p in params}}
        kwargs = {{k: v for k, v in kwargs.items() if k in names}}
    return fn(**kwargs)
"""
