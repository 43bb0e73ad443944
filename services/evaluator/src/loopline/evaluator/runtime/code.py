"""Code functions and code scorers, run in the sandbox (`evaluator/sandbox/`, see its README).

`CodeRunner.bind(principal, fn)` picks the code of a function — inline code (`function_data.data
.type = "inline"`) or a pushed bundle (`"bundle"`, fetched through the `BundleStore`; its own
modules — every `.py` no installed distribution of the bundle owns — are sent with the call and
imported from memory; the distributions the bundle carries that the evaluator's environment does
not have (its `braintrust push --requirements`) are installed once into a package environment
shared by every bundle with the same requirements (`sandbox/packages.py`) and put first on the
call's `sys.path`; the rest — pydantic, braintrust, autoevals, requests, openai, what `push`
bundles by default — is the evaluator environment's) — and returns a `BoundCode` whose
`function(input)` / `scorer(kwargs, name)` run it. Whatever the code does ends as a value
(`CodeOutcome` / `ScorerOutcome` with an error and the status an invoke answers), never as an
exception in the evaluator.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import io
import json
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from loopline.common.auth import Principal
from loopline.common.logging import get_logger
from loopline.evaluator.runtime.types import FunctionDef, Score
from loopline.evaluator.sandbox.code import InlineCode, UnsupportedCode, inline_code
from loopline.evaluator.sandbox.packages import PackageInstallError, normalize
from loopline.evaluator.sandbox.results import SandboxError, ScoreResult
from loopline.evaluator.sandbox.runner import Sandbox

log = get_logger(__name__)

#: sandbox error kinds that are the code's own doing (the caller's function failed: 422)
_STATUS = {"unavailable": 503, "invalid_request": 400, "cancelled": 499}
MAX_SOURCE_BYTES = 4 * 1024 * 1024  # the bundle's own modules, sent with each call
BUNDLE_CACHE = 64  # bundles whose modules are kept in memory


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

    def _bundle(self) -> dict[str, Any] | None:
        inner = (self.fn.function_data or {}).get("data")
        return inner if isinstance(inner, dict) and inner.get("type") == "bundle" else None

    async def prepare(self) -> None:
        """Fetch a pushed bundle and install its requirements, before the call's time limit
        starts (bounded by the install's own limit); a failure shows again when the code runs."""
        bundle = self._bundle()
        if bundle is not None:
            with contextlib.suppress(CodeUnavailable):
                await self.runner.bundle_code(self.principal.org_id, bundle)

    async def _code(self) -> InlineCode:
        data = self.fn.function_data or {}
        bundle = self._bundle()
        if bundle is not None:
            return await self.runner.bundle_code(self.principal.org_id, bundle)
        try:
            return inline_code(data)
        except UnsupportedCode as exc:
            raise CodeUnavailable(str(exc)) from exc

    async def function(self, input: Any, parameters: dict[str, Any] | None = None) -> CodeOutcome:
        """Run the code on `input`; with an eval's `parameters`, a handler that declares a
        `parameters` argument (or `**kwargs`) gets them there."""
        try:
            code = await self._code()
        except CodeUnavailable as exc:
            return CodeOutcome(error=str(exc), status=exc.status)
        if parameters:
            code = with_parameters(code)
            input = {"input": input, "parameters": parameters}
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
    def __init__(self, sandbox: Sandbox, bundles: BundleSource | None = None) -> None:
        self.sandbox = sandbox
        self.bundles = bundles
        self._sources: OrderedDict[tuple[str, str], Bundle] = OrderedDict()
        self._loading: dict[tuple[str, str], asyncio.Lock] = {}

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
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise CodeUnavailable("bundle location.index must be a non-negative integer")
        bundle = await self._modules(org_id, bundle_id)
        path = await self._packages(bundle.requirements)
        return InlineCode(code=_bundle_entry(bundle.modules, index, path))

    async def _packages(self, requirements: tuple[str, ...]) -> str | None:
        """Where the call finds the bundle's extra requirements (None: it has none)."""
        if not requirements:
            return None
        envs = self.sandbox.packages
        if envs is None:
            raise CodeUnavailable(
                f"the bundle needs {', '.join(requirements)}, and this evaluator installs no packages", 503
            )
        try:
            name = await envs.ensure(list(requirements))
        except PackageInstallError as exc:
            raise CodeUnavailable(str(exc), 422) from exc
        return self.sandbox.package_path(name)

    async def _modules(self, org_id: str, bundle_id: str) -> Bundle:
        """The bundle's own Python modules and its extra requirements, cached per bundle."""
        if self.bundles is None:
            raise CodeUnavailable("pushed code bundles cannot run here: no bundle store in this process", 503)
        key = (org_id, bundle_id)
        found = self._sources.get(key)
        if found is not None:
            self._sources.move_to_end(key)
            return found
        async with self._loading.setdefault(key, asyncio.Lock()):
            found = self._sources.get(key)
            if found is not None:
                return found
            try:
                blob = await self.bundles.get(org_id, bundle_id)
            except Exception as exc:  # NotFound, or the storage failed: the function cannot run
                raise CodeUnavailable(f"code bundle {bundle_id!r} cannot be read: {exc}", 404) from exc
            found = await asyncio.to_thread(read_bundle, blob)
            self._sources[key] = found
            while len(self._sources) > BUNDLE_CACHE:
                self._sources.popitem(last=False)
        self._loading.pop(key, None)
        return found


PARAMETERS_ENTRY = "__loopline_with_parameters__"
#: wraps the entrypoint: called with {input, parameters}, it calls the user's handler as the sandbox
#: would have called it with `input` alone (an object's fields as keyword arguments, the fields
#: it does not declare dropped), adding `parameters=` when the handler takes it
_PARAMETERS_SHIM = """
import inspect as _inspect


def __loopline_with_parameters__(input, parameters):
    fn = globals().get({entry!r})
    if not callable(fn):
        raise LookupError("the code defines no function " + repr({entry!r}))
    try:
        declared = _inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(input)
    any_keyword = any(p.kind is p.VAR_KEYWORD for p in declared.values())
    named = {{n for n, p in declared.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}}
    extra = {{"parameters": parameters}} if any_keyword or "parameters" in named else {{}}
    if not isinstance(input, dict):
        return fn(input, **extra)
    kwargs = dict(input) if any_keyword else {{k: v for k, v in input.items() if k in named}}
    if not kwargs and input and len(named - set(extra)) == 1 and not any_keyword:
        return fn(input, **extra)
    return fn(**{{**kwargs, **extra}})
"""


def with_parameters(code: InlineCode) -> InlineCode:
    """The code with an entrypoint that also hands the eval's parameters to the handler; the
    wrapper is compiled under its own file name, so tracebacks show the user's frames only."""
    shim = _PARAMETERS_SHIM.format(entry=code.entrypoint)
    source = f"{code.code}\n\nexec(compile({shim!r}, '<loopline parameters>', 'exec'), globals())\n"
    return InlineCode(code=source, entrypoint=PARAMETERS_ENTRY, runtime_version=code.runtime_version)


@dataclass(frozen=True)
class Bundle:
    modules: dict[str, tuple[str, str]]  # the user's own: name → (file, source)
    requirements: tuple[str, ...]  # `name==version` of what the evaluator's environment lacks


def read_bundle(blob: bytes) -> Bundle:
    return Bundle(bundle_modules(blob), bundle_requirements(blob))


@functools.cache
def _environment() -> frozenset[str]:
    """The distributions of the evaluator's own environment (normalized names)."""
    return frozenset(normalize(d.metadata["Name"] or "") for d in importlib.metadata.distributions())


def bundle_requirements(blob: bytes, provided: frozenset[str] | None = None) -> tuple[str, ...]:
    """`name==version` of every distribution the bundle carries (`*.dist-info/METADATA`) that the
    evaluator's environment (`provided`) does not: what `braintrust push --requirements` added.
    Those the environment has are used as the environment has them."""
    have = _environment() if provided is None else provided
    found: set[str] = set()
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            for name in zf.namelist():
                parts = name.split("/")
                if len(parts) != 2 or not parts[0].endswith(".dist-info") or parts[1] != "METADATA":
                    continue
                meta = zf.read(name)[: 64 * 1024].decode("utf-8", errors="replace")
                fields = dict(
                    line.split(": ", 1) for line in meta.split("\n\n", 1)[0].splitlines() if ": " in line
                )
                dist, version = fields.get("Name", "").strip(), fields.get("Version", "").strip()
                if dist and version and normalize(dist) not in have:
                    found.add(f"{normalize(dist)}=={version}")
    except zipfile.BadZipFile as exc:
        raise CodeUnavailable(f"code bundle is not a zip file: {exc}") from exc
    return tuple(sorted(found))


def _installed(zf: zipfile.ZipFile) -> set[str]:
    """Top-level names (first path parts) the bundle's installed distributions own, from their
    `*.dist-info/RECORD`: `braintrust push` installs the dependencies beside the user's files."""
    owned: set[str] = set()
    for name in zf.namelist():
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "RECORD":
            for line in zf.read(name).decode("utf-8", errors="replace").splitlines():
                path = line.split(",", 1)[0]
                if path and not path.startswith(".."):
                    owned.add(path.split("/", 1)[0])
    return owned


def bundle_modules(blob: bytes) -> dict[str, tuple[str, str]]:
    """The user's own modules of a `braintrust push` zip — every `.py` file no installed
    distribution owns — by module name (`a/b.py` → `a.b`, `a/__init__.py` → `a`)."""
    out: dict[str, tuple[str, str]] = {}
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            owned = _installed(zf)
            for info in zf.infolist():
                name = info.filename
                top = name.split("/", 1)[0]
                if (
                    info.is_dir()
                    or not name.endswith(".py")
                    or top in owned
                    or top in ("pkg", "")
                    or ".." in name
                ):
                    continue
                total += info.file_size
                if total > MAX_SOURCE_BYTES:
                    raise CodeUnavailable(
                        f"the bundle's own modules exceed {MAX_SOURCE_BYTES} bytes of source"
                    )
                parts = name[:-3].split("/")
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                if not parts or not all(p.isidentifier() for p in parts):
                    continue
                out[".".join(parts)] = (name, zf.read(info).decode("utf-8", errors="replace"))
    except zipfile.BadZipFile as exc:
        raise CodeUnavailable(f"code bundle is not a zip file: {exc}") from exc
    if "register" not in out:
        raise CodeUnavailable("the code bundle has no register.py (was it made by braintrust push?)")
    return out


def _bundle_entry(modules: dict[str, tuple[str, str]], index: int, packages_path: str | None = None) -> str:
    """Sandbox code that serves the bundle's modules from memory, imports its `register` module
    (which imports the user's modules, registering their functions with the braintrust SDK) and
    calls the `index`-th registered function. Dependencies come from the bundle's package
    environment (`packages_path`, first on `sys.path`), then the evaluator's environment."""
    packages = sorted(n for n, (f, _) in modules.items() if f.endswith("__init__.py"))
    return f"""
import sys

if {packages_path!r} is not None and {packages_path!r} not in sys.path:
    sys.path.insert(0, {packages_path!r})

import importlib
import importlib.abc
import importlib.util
import inspect
import linecache
import sys

_MODULES = {json.dumps(modules)}
_PACKAGES = set({json.dumps(packages)})


class _BundleModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in _MODULES:
            return importlib.util.spec_from_loader(name, self, is_package=name in _PACKAGES)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        filename, source = _MODULES[module.__name__]
        shown = "<user code: " + filename + ">"  # the sandbox shows these frames in tracebacks
        linecache.cache[shown] = (len(source), None, source.splitlines(True), shown)
        exec(compile(source, shown, "exec"), module.__dict__)


sys.meta_path.insert(0, _BundleModules())


def handler(*args, **kwargs):
    from braintrust.framework import _set_lazy_load
    from braintrust.framework2 import global_

    if not global_.functions:
        with _set_lazy_load(True):  # as `braintrust push` loads it: register, do not run Evals
            importlib.import_module("register")
    fns = global_.functions
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
