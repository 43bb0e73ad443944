"""Memory of a process read from /proc: RSS, its high-water mark, USS (private) and PSS."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class MemorySample:
    t: float  # seconds since the soak started
    rss: int  # bytes
    hwm: int  # peak RSS the kernel saw (VmHWM), bytes
    uss: int  # private clean + private dirty, bytes
    pss: int
    threads: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kib_fields(path: Path, names: set[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            parts = rest.split()
            out[key] = int(parts[0]) * 1024 if parts and parts[0].isdigit() else 0
    return out


def read_memory(pid: int, t0: float) -> MemorySample | None:
    """One sample of process `pid`, or None when it is gone."""
    proc = Path(f"/proc/{pid}")
    try:
        status = _kib_fields(proc / "status", {"VmRSS", "VmHWM"})
        threads = 0
        for line in (proc / "status").read_text().splitlines():
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
        try:
            rollup = _kib_fields(proc / "smaps_rollup", {"Pss", "Private_Clean", "Private_Dirty"})
        except (PermissionError, FileNotFoundError):
            rollup = {}
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return MemorySample(
        t=round(time.monotonic() - t0, 1),
        rss=status.get("VmRSS", 0),
        hwm=status.get("VmHWM", 0),
        uss=rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0),
        pss=rollup.get("Pss", 0),
        threads=threads,
    )


def summarize(samples: list[MemorySample]) -> dict[str, Any]:
    """Start, peak, end and the steady level (median RSS of the last quarter of the run), in MiB."""
    if not samples:
        return {}
    rss = [s.rss for s in samples]
    tail = sorted(rss[len(rss) * 3 // 4 :]) or sorted(rss)
    return {
        "samples": len(samples),
        "rss_start_mib": round(rss[0] / MIB, 1),
        "rss_peak_mib": round(max(rss) / MIB, 1),
        "rss_end_mib": round(rss[-1] / MIB, 1),
        "rss_steady_mib": round(tail[len(tail) // 2] / MIB, 1),
        "hwm_mib": round(max(s.hwm for s in samples) / MIB, 1),
        "uss_peak_mib": round(max(s.uss for s in samples) / MIB, 1),
        "uss_end_mib": round(samples[-1].uss / MIB, 1),
        "threads_peak": max(s.threads for s in samples),
    }
