"""Memory bounds of a Loopline process (issue 10, defect 7): glibc malloc tuning, the periodic
malloc_trim, and the embedded store's cache sizes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from loopline.common.settings import load_settings

from loopline.runtime import memory


def test_malloc_parameters_are_applied_on_glibc() -> None:
    if memory._LIBC is None:
        pytest.skip("glibc is not the allocator here")
    applied = memory.configure_malloc(mmap_threshold_bytes=1 << 20, arena_max=2)
    assert applied == {"mmap_threshold_bytes": 1 << 20, "trim_threshold_bytes": 2 << 20, "arena_max": 2}
    assert memory.configure_malloc(mmap_threshold_bytes=0, arena_max=0) == {}
    assert memory.malloc_trim() in (True, False)


async def test_periodic_trim_runs_until_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    if memory._LIBC is None:
        pytest.skip("glibc is not the allocator here")
    calls: list[int] = []
    monkeypatch.setattr(memory, "malloc_trim", lambda: calls.append(1) or True)
    async with memory.periodic_trim(0.01):
        for _ in range(500):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.01)
    n = len(calls)
    assert n >= 2
    await asyncio.sleep(0.05)
    assert len(calls) == n  # stopped with the context


async def test_periodic_trim_off_at_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "malloc_trim", lambda: pytest.fail("trimmed although disabled"))
    async with memory.periodic_trim(0):
        await asyncio.sleep(0.02)


def test_settings_name_the_engine_cache_bounds() -> None:
    s = load_settings(chdb_mark_cache_bytes=1 << 20, chdb_max_server_memory_bytes=0)
    assert s.chdb_engine_options["mark_cache_size"] == 1 << 20
    assert "max_server_memory_usage" not in s.chdb_engine_options
    assert (
        load_settings(chdb_max_server_memory_bytes=3 << 30).chdb_engine_options["max_server_memory_usage"]
        == 3 << 30
    )


_PROBE = """
import asyncio, sys
from loopline.common.store import Store
async def main():
    s = Store("chdb://" + sys.argv[1], "probe", chdb_options={"mark_cache_size": 7340032, "primary_index_cache_size": 3145728})
    await s.open()
    _, rows = await s.query("SELECT name, value FROM system.server_settings WHERE name IN ('mark_cache_size', 'primary_index_cache_size') ORDER BY name")
    print(dict(rows))
    await s.close()
asyncio.run(main())
"""


def test_the_embedded_store_starts_with_the_cache_bounds(tmp_path: Path) -> None:
    # a fresh process: the options apply only to the connection that starts the engine
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path / "ch")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(
        {"mark_cache_size": "7340032", "primary_index_cache_size": "3145728"}
    )
