"""Package environments for pushed bundles: the distributions a bundle needs beyond the evaluator's
own environment, installed once from the package index into a directory keyed by the hash of the
requirements, and made visible (read-only) to that bundle's calls in the sandbox.

`PackageEnvs.ensure(["inflection==0.5.1"])` returns the environment's name (`py311-<hash>`): the
first call installs it with `uv pip install --target` (wheels only: no package's build code ever
runs, in the evaluator or elsewhere), later calls and other bundles with the same requirements
reuse it. Building is safe across tasks and processes: a lock file per environment (`flock`), the
install goes to a private directory that is renamed into place when complete, so a reader sees a
whole environment or none. A failed install raises `PackageInstallError` naming the requirement
and what the installer said; it is remembered for `retry_seconds`, so a bad requirement does not
re-run the installer on every row.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from loopline.common.logging import get_logger

log = get_logger(__name__)

READY = ".loopline-ready"
#: variables the installer may need (where the index is, proxies, certificates, its cache); the
#: evaluator's other variables (its secrets) never reach it
INSTALLER_ENV = re.compile(
    r"^(PATH|HOME|LANG|LC_ALL|TMPDIR|(HTTPS?|NO|ALL)_PROXY|SSL_CERT_(FILE|DIR)|UV_.*|PIP_.*)$", re.I
)


class PackageInstallError(Exception):
    """The bundle's requirements could not be installed; the message names the requirement."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_name(requirements: Iterable[str]) -> str:
    """The environment's directory name: the interpreter's version and the hash of the sorted
    requirements (two bundles needing the same packages share one environment)."""
    text = "\n".join(sorted(set(requirements)))
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return f"py{sys.version_info.major}{sys.version_info.minor}-{digest}"


def find_installer(configured: str) -> list[str] | None:
    """The installer command: the configured uv binary, else `uv` on PATH or beside the interpreter."""
    if configured:
        return [configured, "pip", "install"]
    for candidate in (shutil.which("uv"), str(Path(sys.executable).parent / "uv")):
        if candidate and os.access(candidate, os.X_OK):
            return [candidate, "pip", "install"]
    return None


def _failed_requirement(requirements: list[str], output: str) -> str | None:
    """The requirement the installer's output names (uv names the one it cannot resolve)."""
    text = normalize(output)
    named = [r for r in requirements if normalize(re.split(r"[=<>!~\[; ]", r, maxsplit=1)[0]) in text]
    return named[0] if len(named) == 1 else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class PackageEnvs:
    def __init__(
        self,
        root: Path,
        *,
        installer: str = "",
        install_seconds: float = 300.0,
        index_url: str = "",
        retry_seconds: float = 60.0,
    ) -> None:
        self.root = root
        self.installer = installer
        self.install_seconds = install_seconds
        self.index_url = index_url
        self.retry_seconds = retry_seconds
        self._building: dict[str, asyncio.Future[str]] = {}
        self._failed: dict[str, tuple[float, str]] = {}

    def path(self, name: str) -> Path:
        return self.root / name

    def ready(self, name: str) -> bool:
        return (self.root / name / READY).exists()

    async def ensure(self, requirements: list[str]) -> str:
        """The name of an environment holding `requirements` (installed now if none does)."""
        name = env_name(requirements)
        if self.ready(name):
            return name
        failed = self._failed.get(name)
        if failed is not None and time.monotonic() < failed[0]:
            raise PackageInstallError(failed[1])
        building = self._building.get(name)
        if building is None:
            # one build per environment in this process; it runs to its end even when the
            # request that started it is cancelled, so the next request finds it ready
            building = asyncio.ensure_future(self._build(name, sorted(set(requirements))))
            self._building[name] = building
            building.add_done_callback(lambda _: self._building.pop(name, None))
        return await asyncio.shield(building)

    async def _build(self, name: str, requirements: list[str]) -> str:
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
            lock = self.root / f".{name}.lock"
            # the flock is held in a thread: another process building the same environment waits
            await asyncio.to_thread(self._locked_build_sync, lock, name, requirements)
        except PackageInstallError as exc:
            self._failed[name] = (time.monotonic() + self.retry_seconds, str(exc))
            raise
        return name

    def _locked_build_sync(self, lock: Path, name: str, requirements: list[str]) -> None:
        with _locked(lock):
            if self.ready(name):  # another process built it while we waited
                return
            staging = self.root / f".build-{name}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            try:
                self._install_sync(staging, requirements)
                (staging / READY).write_text("\n".join(requirements) + "\n")
                os.chmod(staging, 0o755)
                shutil.rmtree(self.root / name, ignore_errors=True)  # a leftover without READY
                os.rename(staging, self.root / name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        log.info("sandbox.packages.installed", env=name, requirements=requirements)

    def _install_sync(self, target: Path, requirements: list[str]) -> None:
        import subprocess

        command = find_installer(self.installer)
        listed = ", ".join(requirements)
        if command is None:
            raise PackageInstallError(
                f"cannot install the bundle's requirements ({listed}): no installer found; "
                "set [loopline.sandbox] installer to a uv binary"
            )
        args = [
            *command,
            "--quiet",
            "--target",
            str(target),
            "--python",
            sys.executable,
            "--no-deps",  # the bundle lists its whole closure; what it shares with us is ours
            "--only-binary",
            ":all:",  # wheels only: installing never runs a package's build code
            *(["--index-url", self.index_url] if self.index_url else []),
            *requirements,
        ]
        env = {k: v for k, v in os.environ.items() if INSTALLER_ENV.match(k)}
        env["UV_PYTHON_DOWNLOADS"] = "never"
        try:
            proc = subprocess.run(
                args, capture_output=True, text=True, env=env, timeout=self.install_seconds, cwd=self.root
            )
        except subprocess.TimeoutExpired as exc:
            raise PackageInstallError(
                f"installing the bundle's requirements ({listed}) took longer than {self.install_seconds:g} s"
            ) from exc
        except OSError as exc:
            raise PackageInstallError(
                f"cannot install the bundle's requirements ({listed}): {command[0]}: {exc}"
            ) from exc
        if proc.returncode != 0:
            said = (proc.stderr or proc.stdout).strip()[-1500:]
            culprit = _failed_requirement(requirements, said)
            what = f"requirement {culprit!r}" if culprit else f"the bundle's requirements ({listed})"
            raise PackageInstallError(f"installing {what} failed: {said}")
