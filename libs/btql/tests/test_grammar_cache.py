"""The parser's grammar analysis is cached in the user's cache directory between processes; a
cache file that does not load is rebuilt, and the cache can be turned off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PARSE = (
    "from loopline import btql; from loopline.btql import parser as p; p.warm_up(); "
    "print(p._fast is not None, type(btql.parse('select: id | from: project_logs(\\'x\\') | limit: 1')).__name__)"
)


def _run(cache_home: Path, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PARSE],
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.strip()


def test_the_grammar_cache_is_written_reused_and_rebuilt_when_corrupt(tmp_path: Path) -> None:
    first = _run(tmp_path)
    (cached,) = (tmp_path / "loopline").glob("btql-grammar-*.pickle")
    assert cached.stat().st_size > 10_000
    assert _run(tmp_path) == first  # loaded from the cache: the same parser
    cached.write_bytes(cached.read_bytes()[:500])  # a torn write
    assert _run(tmp_path) == first
    assert cached.stat().st_size > 10_000  # rebuilt and saved again


def test_the_grammar_cache_can_be_turned_off(tmp_path: Path) -> None:
    first = _run(tmp_path, LOOPLINE_BTQL_GRAMMAR_CACHE="0")
    assert not (tmp_path / "loopline").exists()
    assert first.startswith("True")
