"""CPU of a process by thread, read from /proc: where a server's CPU goes beyond the stage table.

The embedded engine (chdb) runs in the server's process, so its insert, reads and background part
merges are the server's CPU; its threads carry ClickHouse's names (`MergeMutate`, `BgSchPool`,
`QueryPipelineEx`, ...), Python's threads the names Loopline gives them (`ll-store`,
`ll-offload`, ...), the event loop is the main thread (its id is the process id). `components`
sums the threads into the rows the ingest bench prints; a child process (the writer's worker)
is one row of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
#: the component of the store's background part merges
MERGES = "store: background merges"


def threads(pid: int) -> dict[int, tuple[str, float]]:
    """Thread id → (name, CPU seconds so far) for every live thread of `pid`."""
    out: dict[int, tuple[str, float]] = {}
    task = Path(f"/proc/{pid}/task")
    try:
        tids = os.listdir(task)
    except OSError:
        return out
    for t in tids:
        try:
            stat = (task / t / "stat").read_text()
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[int(t)] = (name, (int(fields[11]) + int(fields[12])) / _TICK)
    return out


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def component(pid: int, tid: int, name: str) -> str:
    """The row of the bench's table a thread's CPU goes to."""
    if tid == pid:
        return "event loop (main thread)"
    if name.startswith("ll-store"):
        return "store calls (insert, reads)"
    if name.startswith("ll-offload"):
        return "hand-off threads"
    if name.startswith(("MergeMutate", "MergeTree", "BgMBSchPool", "BgMBSch", "Merge")):
        return MERGES
    if name.startswith(("QueryPipelineEx", "QueryPullPipeEx", "ParallelParser", "ParallelFormatter")):
        return "store: query/insert pipelines"
    if name.startswith(("BgSchPool", "BgDistSchPool", "BgBufSchPool", "BgMBSchPool", "SystemLogFlush")):
        return "store: background schedule"
    if name.startswith(("python", "loopline", "pytest")):
        return "other python threads"
    return f"store: other ({name})"


class Sampler:
    """Per-component CPU between `start` and `stop` (threads and children that came and went in
    between are missed: the writer's are long-lived)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._t0: dict[tuple[int, int], tuple[str, float]] = {}
        self.seconds: dict[str, float] = {}
        self.names: dict[str, float] = {}

    def _snap(self) -> dict[tuple[int, int], tuple[str, float]]:
        snap = {(self.pid, tid): v for tid, v in threads(self.pid).items()}
        for child in children(self.pid):
            for tid, (name, cpu) in threads(child).items():
                snap[(child, tid)] = (f"child:{name}", cpu)
        return snap

    def start(self) -> None:
        self._t0 = self._snap()

    def stop(self) -> dict[str, float]:
        t1 = self._snap()
        out: dict[str, float] = {}
        names: dict[str, float] = {}
        for (proc, tid), (name, cpu) in t1.items():
            used = cpu - self._t0.get((proc, tid), (name, 0.0))[1]
            row = "writer worker process" if proc != self.pid else component(self.pid, tid, name)
            out[row] = out.get(row, 0.0) + used
            names[name] = names.get(name, 0.0) + used
        self.seconds = out
        self.names = names
        return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK
