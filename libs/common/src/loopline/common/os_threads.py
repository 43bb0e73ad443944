"""OS-level names for Python threads, so `top -H`, `py-spy` and /proc/<pid>/task/*/comm tell the
store's call threads and the writer's hand-off thread from the embedded engine's own threads (which
carry ClickHouse's names) and from each other; `tests/bench/thread_cpu.py` sums CPU by them."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable

_PR_SET_NAME = 15
_libc: ctypes.CDLL | None = None
if sys.platform == "linux":
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        _libc = None


def set_os_thread_name(name: str) -> None:
    """Name the calling thread (Linux keeps 15 bytes); does nothing elsewhere or on failure."""
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def naming(name: str) -> Callable[[], None]:
    """A thread pool initializer that names each of its threads `name`."""
    return lambda: set_os_thread_name(name)
