"""Keeping the process's memory bounded: glibc malloc tuning and a periodic `malloc_trim`.

Measured (issue 10, defect 7): after a burst of large request bodies and many queries, glibc
held ~2.5 GiB of *freed* memory inside its heaps (mallinfo2 `fordblks`) while Python and the
embedded ClickHouse (which allocates through its own jemalloc) used ~150 MiB and ~85 MiB;
`malloc_trim(0)` alone took RSS from 2.6 GiB to 0.8 GiB. Two causes: glibc's dynamic mmap
threshold rises to the largest freed block (up to 32 MiB), so after the first big body every
later body/row buffer is carved from a heap instead of being mmapped and returned on free; and
each store/event-loop thread gets its own arena holding its own free memory.

So, at start-up (before threads exist): a fixed mmap threshold (big buffers are mmapped and
given back to the OS on free) and a cap on the number of arenas; then, every
`malloc_trim_interval_s`, `malloc_trim(0)` off the event loop returns free heap pages.
All of it is a no-op where glibc is not the allocator (musl, macOS).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
from collections.abc import AsyncIterator

from loopline.common.logging import get_logger

log = get_logger("loopline.memory")

# mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


_LIBC = _glibc()


def configure_malloc(*, mmap_threshold_bytes: int, arena_max: int) -> dict[str, int]:
    """Apply glibc malloc limits (0 leaves a parameter at glibc's default); returns what was set.

    Call before worker threads start: the arena cap only limits arenas created afterwards."""
    applied: dict[str, int] = {}
    if _LIBC is None:
        return applied
    if mmap_threshold_bytes > 0:
        # setting it fixes it (disables the dynamic rise); trim when 2x that is free at the top
        if _LIBC.mallopt(_M_MMAP_THRESHOLD, mmap_threshold_bytes) == 1:
            applied["mmap_threshold_bytes"] = mmap_threshold_bytes
        if _LIBC.mallopt(_M_TRIM_THRESHOLD, 2 * mmap_threshold_bytes) == 1:
            applied["trim_threshold_bytes"] = 2 * mmap_threshold_bytes
    if arena_max > 0 and _LIBC.mallopt(_M_ARENA_MAX, arena_max) == 1:
        applied["arena_max"] = arena_max
    return applied


def malloc_trim() -> bool:
    """Give free heap memory back to the OS (all arenas); False where unavailable."""
    return _LIBC is not None and _LIBC.malloc_trim(0) == 1


async def _trim_forever(interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(malloc_trim)
        except Exception:  # trimming is best effort; never take the server down
            log.exception("malloc_trim failed")


@contextlib.asynccontextmanager
async def periodic_trim(interval_s: float) -> AsyncIterator[None]:
    """Run `malloc_trim` every `interval_s` seconds while the context is open (0: never)."""
    if interval_s <= 0 or _LIBC is None:
        yield
        return
    task = asyncio.create_task(_trim_forever(interval_s), name="malloc-trim")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
