"""The sandbox's settings: the `sandbox` settings section.

Read with `settings.section(SandboxSettings)`: `LOOPLINE_SANDBOX__WALL_SECONDS` or
`LOOPLINE_SANDBOX_WALL_SECONDS`, `[loopline.sandbox] wall_seconds` in the config file, or the default.
"""

from __future__ import annotations

import os
from typing import ClassVar, Literal

from loopline.common.settings import SettingsSection
from loopline.evaluator.sandbox.limits import MiB, SandboxLimits
from pydantic import Field

UID_BLOCK = 256  # uids per supervisor: 2 x concurrency slots
UID_BLOCKS = 1 << 14
MAX_CONCURRENCY = UID_BLOCK // 2
IsolationMode = Literal["auto", "namespaces", "basic"]


class SandboxSettings(SettingsSection):
    """Sandbox configuration; the defaults suit a 2-core machine."""

    SECTION: ClassVar[str] = "sandbox"

    wall_seconds: float = Field(default=10.0, gt=0)
    cpu_seconds: int = Field(default=5, gt=0)
    memory_mb: int = Field(default=512, gt=0)
    output_bytes: int = Field(default=1 * MiB, gt=0)
    log_bytes: int = Field(default=64 * 1024, gt=0)
    max_processes: int = Field(default=16, gt=0)
    max_open_files: int = Field(default=64, gt=0)
    file_mb: int = Field(default=16, gt=0)

    concurrency: int = Field(
        default=max(2, 2 * (os.cpu_count() or 1)), gt=0, le=MAX_CONCURRENCY, description="calls at once"
    )
    max_batch: int = Field(
        default=64, gt=0, le=1024, description="rows one sandboxed process runs at most (run_*_batch)"
    )
    warm: bool = Field(
        default=True, description="fork calls from a warm supervisor instead of a new interpreter"
    )
    isolation: IsolationMode = Field(
        default="auto", description="namespaces (needs root), basic (rlimits only) or auto"
    )
    uid_base: int = Field(
        default=2_100_000,
        gt=0,
        le=(1 << 31) - UID_BLOCKS * UID_BLOCK,
        description="calls run as uid_base + block * 256 + slot, block drawn per supervisor (namespaces)",
    )
    preload: list[str] = Field(
        # autoevals (when installed): code scorers often use its scorers; importing it in every
        # call costs ~0.9 s, preloaded a call costs ~5 ms more (a larger process to fork)
        default_factory=lambda: ["json", "math", "re", "statistics", "difflib", "datetime", "autoevals"],
        description="modules imported once by the warm supervisor, before the filesystem is narrowed",
    )
    read_paths: list[str] = Field(
        default_factory=list, description="extra host paths made visible read-only to user code"
    )
    start_timeout_seconds: float = Field(default=30.0, gt=0)
    packages_dir: str = Field(
        default="",
        description="where pushed bundles' package environments are installed (default <data_dir>/sandbox-packages)",
    )
    installer: str = Field(
        default="", description="the uv binary that installs bundles' requirements (default: uv on PATH)"
    )
    install_seconds: float = Field(
        default=300.0, gt=0, description="time limit of installing one bundle's requirements"
    )
    package_index_url: str = Field(
        default="", description="package index to install from (default: uv's, PyPI)"
    )

    def limits(self) -> SandboxLimits:
        return SandboxLimits(
            wall_seconds=self.wall_seconds,
            cpu_seconds=self.cpu_seconds,
            memory_bytes=self.memory_mb * MiB,
            output_bytes=self.output_bytes,
            log_bytes=self.log_bytes,
            max_processes=self.max_processes,
            max_open_files=self.max_open_files,
            file_bytes=self.file_mb * MiB,
        )
