"""`python -m tests.soak [--minutes N] [--bus memory://|kafka|kafka://host:port] [--out report.json]`

Duration: --minutes/--seconds, else SOAK_MINUTES, else 30 minutes. Prints progress every minute
and one summary line at the end; exits 1 on any wrong answer, 5xx, lost row or refused valid
request.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tests.soak.harness import Soak, SoakConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=None, help="duration (default: $SOAK_MINUTES or 30)")
    ap.add_argument("--seconds", type=float, default=None, help="duration in seconds (overrides --minutes)")
    ap.add_argument(
        "--bus",
        default=os.environ.get("SOAK_BUS", "memory://"),
        help="memory://, kafka (start a local broker) or kafka://host:port",
    )
    ap.add_argument(
        "--out", type=Path, default=None, help="JSON report (default: .cache/soak/soak-<time>.json)"
    )
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--data-dir", type=Path, default=None, help="server data directory (default: a temp dir)")
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--pause", type=float, default=0.05, help="seconds between a worker's requests")
    ap.add_argument("--big-batch-share", type=float, default=0.02)
    ap.add_argument("--memory-interval", type=float, default=3.0)
    ap.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server (repeatable)",
    )
    ap.add_argument(
        "--allow-503",
        action="store_true",
        help="do not fail on 'retry shortly' 503s (overload); they are still counted",
    )
    ap.add_argument("--url", default="", help="soak an already running server instead of starting one")
    ap.add_argument("--api-key", default=os.environ.get("LOOPLINE_API_KEY", ""))
    ap.add_argument("--server-pid", type=int, default=0, help="pid of --url's process, for memory figures")
    a = ap.parse_args(argv)
    if a.seconds is not None:
        duration = a.seconds
    elif a.minutes is not None:
        duration = a.minutes * 60
    else:
        duration = float(os.environ.get("SOAK_MINUTES") or 30) * 60
    env = {}
    for kv in a.server_env:
        k, sep, v = kv.partition("=")
        if not sep:
            ap.error(f"--server-env wants KEY=VALUE, got {kv!r}")
        env[k] = v
    out = a.out or Path(".cache") / "soak" / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    cfg = SoakConfig(
        duration_s=duration,
        bus=a.bus,
        out=out,
        seed=a.seed,
        data_dir=a.data_dir,
        writers=a.writers,
        pause_s=a.pause,
        big_batch_p=a.big_batch_share,
        memory_interval_s=a.memory_interval,
        server_env=env,
        allow_503=a.allow_503,
        url=a.url,
        api_key=a.api_key,
        server_pid=a.server_pid,
    )
    result = Soak(cfg).run()
    print(f"soak report: {out}", file=sys.stderr)
    print(result.line, flush=True)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
