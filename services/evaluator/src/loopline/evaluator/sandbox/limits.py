"""Limits of one sandboxed call (plain data: the sandbox child imports this module)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MiB = 1 << 20


@dataclass(frozen=True)
class SandboxLimits:
    """What one call of user code may use. Every limit is enforced by the kernel or the supervisor."""

    wall_seconds: float = 10.0  # supervisor kills the call's whole process tree after this
    cpu_seconds: int = 5  # RLIMIT_CPU per process (SIGXCPU, then SIGKILL a second later)
    memory_bytes: int = 512 * MiB  # RLIMIT_AS per process
    output_bytes: int = 1 * MiB  # size of the returned value, as JSON
    log_bytes: int = 64 * 1024  # stdout + stderr together
    max_processes: int = 16  # RLIMIT_NPROC for the call's own uid (namespaces mode)
    max_open_files: int = 64  # RLIMIT_NOFILE
    file_bytes: int = 16 * MiB  # RLIMIT_FSIZE and the size of the call's private /tmp

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value <= 0:
                raise ValueError(f"sandbox limit {name} must be positive, got {value}")

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SandboxLimits:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
