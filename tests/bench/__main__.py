"""Run every benchmark module in tests/bench (or the ones named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import runpy
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """`./dev bench [name ...]`, or `./dev bench name --option ...`: one benchmark with its own
    options (everything from the first `-` on goes to it, as if run with `python -m`)."""
    here = Path(__file__).parent
    from tests.bench import machine_speed

    print(machine_speed(), flush=True)
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:first_option], argv[first_option:]
    if options and len(names) != 1:
        print("options go to one benchmark: ./dev bench <name> --option ...", file=sys.stderr)
        return 2
    names = names or sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    for name in names:
        module = f"tests.bench.{name if name.startswith('bench_') else 'bench_' + name}"
        print(f"\n=== {name} ===", flush=True)
        if options:
            sys.argv = [module, *options]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            importlib.import_module(module).main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
