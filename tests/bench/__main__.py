"""Run every benchmark module in tests/bench (or the ones named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    from tests.bench import machine_speed

    print(machine_speed(), flush=True)
    names = argv or sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    for name in names:
        mod = importlib.import_module(f"tests.bench.{name if name.startswith('bench_') else 'bench_' + name}")
        print(f"\n=== {name} ===", flush=True)
        mod.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
