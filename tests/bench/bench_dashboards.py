"""Each built-in dashboard on N seeded spans (the embedded engine): every chart composed with a
one-week view (`2026-10-08` to `2026-10-15`, the dashboard's own granularity), compiled as the
query service does, run best of `--repeat`; prints each chart's time and each dashboard's (its
charts one after another, and all at once the way `/dashboards/{id}/data` runs them).

Uses `bench_btql_exec`'s seeded table (cached in .cache/bench-btql): spans over 30 days, a
quarter of them roots, 1 in 50 failing, four models. It has no tool spans or intent labels, so
those charts filter to few rows but still scan the week: what they cost is the scan.

    python -m tests.bench.bench_dashboards [--spans 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
from loopline.query.dashboards.builtin import BUILTIN
from loopline.query.dashboards.compose import compose, parse_chart
from loopline.query.dashboards.models import View
from loopline.query.dashboards.run import CONCURRENCY

from loopline import btql
from tests.bench.bench_btql_exec import DB, ORG, PROJECT, ROOT, seed

WEEK = {"start": "2026-10-08T00:00:00Z", "end": "2026-10-15T00:00:00Z"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    data: Path = ROOT / ".cache" / "bench-btql"
    client = clickhouse_connect.get_client(dsn=f"chdb://{data}")
    seed(client, args.spans)
    scope = btql.Scope.project_logs(ORG, PROJECT)
    now = datetime(2026, 10, 15, tzinfo=UTC)
    print(f"\n{'dashboard / chart':<44} {'best ms':>9} {'rows':>6}")
    for did, d in BUILTIN.items():
        view = View(**WEEK, granularity=d.view.granularity)
        compiled = [
            (c.id, btql.compile_query(compose(c, parse_chart(c), PROJECT, view, now), scope, db=DB))
            for c in d.charts
        ]
        total = 0.0
        for cid, cq in compiled:
            best, n = float("inf"), 0
            for _ in range(args.repeat):
                t = time.perf_counter()
                r = client.query(cq.sql, parameters=cq.params, settings=cq.settings)
                best, n = min(best, time.perf_counter() - t), len(r.result_rows)
            total += best
            print(f"  {did + ' / ' + cid:<42} {best * 1000:>9.1f} {n:>6}")

        def run(cq: Any) -> int:
            return len(client.query(cq.sql, parameters=cq.params, settings=cq.settings).result_rows)

        best_all = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(run, [cq for _, cq in compiled]))
            best_all = min(best_all, time.perf_counter() - t)
        print(f"{did:<44} {total * 1000:>9.1f} serial, {best_all * 1000:.1f} ms concurrent")
    count = client.query(f"SELECT count() FROM {DB}.spans").result_rows[0][0]
    print(f"(table holds {count:,} spans; no pre-aggregation)")


if __name__ == "__main__":
    main()
