"""Each built-in dashboard on N seeded spans (the embedded engine): every chart composed with a
one-week view (`2026-10-08` to `2026-10-15`, the dashboard's own granularity), compiled as the
query service does, run best of `--repeat`; prints each chart's time and each dashboard's (its
charts one after another, and all at once the way `/dashboards/{id}/data` runs them).

Then the same with the project's hours pre-aggregated (btql `rollup.py`): how long rolling up
every hour takes, how many rollup rows that makes, and each chart's time with the compiler
reading the rolled-up hours (the ratio raw / rollup). The answers must be equal (checked).

Uses `bench_btql_exec`'s seeded table (cached in .cache/bench-btql): spans over 30 days, a
quarter of them roots, 1 in 50 failing, four models. It has no tool spans or intent labels, so
those charts filter to few rows but still scan the week: what they cost is the scan.

    python -m tests.bench.bench_dashboards [--spans 10000000] [--repeat 3] [--data DIR]
        [--skip-raw] [--reuse-rollup]

`--data` keeps the seeded engine elsewhere (100M spans take about 13 GB); `--skip-raw` leaves out
the first table (the second one times every chart raw as well); `--reuse-rollup` keeps rollup
tables an earlier run computed over the same seed (seed and roll up once, measure when the machine
is quiet).
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
from loopline.btql import rollup
from loopline.query.dashboards.builtin import BUILTIN
from loopline.query.dashboards.compose import compose, parse_chart
from loopline.query.dashboards.models import View
from loopline.query.dashboards.run import CONCURRENCY

from loopline import btql
from tests.bench.bench_btql_exec import DB, ORG, PROJECT, ROOT, seed

WEEK = {"start": "2026-10-08T00:00:00Z", "end": "2026-10-15T00:00:00Z"}


def clean_hours(client: Any) -> tuple[rollup.CleanHour, ...]:
    res = client.query(rollup.clean_hours_sql(DB), parameters={"org": ORG, "project": PROJECT, "margin": 0})
    return rollup.hours_from_rows(res.result_rows)


def roll_up(client: Any, reuse: bool = False) -> tuple[rollup.CleanHour, ...]:
    """Create the rollup tables afresh and compute every hour; the project's clean hours. With
    `reuse`, the hours an earlier run rolled up are kept when there are any."""
    if reuse and client.query(f"EXISTS TABLE {DB}.{rollup.HOURS_TABLE}").result_rows[0][0]:
        hours = clean_hours(client)
        if hours:
            rows = client.query(f"SELECT count() FROM {DB}.{rollup.ROLLUP_TABLE}").result_rows[0][0]
            print(f"reusing {len(hours)} clean hours rolled up earlier; {rows:,} rollup rows")
            return hours
    for t in (f"{rollup.CHANGES_TABLE}_mv", rollup.CHANGES_TABLE, rollup.HOURS_TABLE, rollup.ROLLUP_TABLE):
        client.command(f"DROP TABLE IF EXISTS {DB}.{t}")
    for stmt in rollup.migration_statements():
        if not stmt.lstrip().startswith("INSERT"):
            client.command(stmt.replace("{db}", DB))
    have = client.query(f"SELECT count() FROM {DB}.{rollup.CHANGES_TABLE}").result_rows[0][0]
    if not have:  # the hours written before the view existed
        fill = next(x for x in rollup.migration_statements() if x.lstrip().startswith("INSERT"))
        client.command(fill.replace("{db}", DB))
    groups, mark = rollup.refresh_sql(DB)
    t, n = time.perf_counter(), 0
    while True:
        dirty = client.query(rollup.dirty_hours_sql(DB), parameters={"margin": 0, "n": 500}).result_rows
        for (org, project, otype, oid), hours in rollup.refresh_batches(dirty):
            at = int(client.query("SELECT toUnixTimestamp64Micro(now64(6, 'UTC'))").result_rows[0][0])
            p = {"org": org, "project": project, "otype": otype, "oid": oid, "hours": hours, "at": at}
            client.command(groups, parameters=p)
            client.command(mark, parameters=p)
        n += len(dirty)
        if len(dirty) < 500:
            break
    took = time.perf_counter() - t
    rows = client.query(f"SELECT count() FROM {DB}.{rollup.ROLLUP_TABLE}").result_rows[0][0]
    hours = clean_hours(client)
    print(f"rolled up {n} hours in {took:.1f} s; {rows:,} rollup rows; {len(hours)} clean hours")
    return hours


def _best(client: Any, cq: Any, repeat: int) -> tuple[float, list[Any]]:
    # a raw scan of 100M spans on a busy machine can pass the service's 30 s limit: the baseline
    # is measured to its end
    settings = {**cq.settings, "max_execution_time": 600}
    best, rows = float("inf"), []
    for _ in range(repeat):
        t = time.perf_counter()
        rows = list(client.query(cq.sql, parameters=cq.params, settings=settings).result_rows)
        best = min(best, time.perf_counter() - t)
    return best, rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=ROOT / ".cache" / "bench-btql")
    ap.add_argument("--skip-raw", action="store_true", help="leave out the table without pre-aggregation")
    ap.add_argument("--reuse-rollup", action="store_true", help="keep an earlier run's rolled-up hours")
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    client = clickhouse_connect.get_client(dsn=f"chdb://{args.data.resolve()}")
    seed(client, args.spans)
    if not args.skip_raw:
        raw_dashboards(client, args.repeat)
    count = client.query(f"SELECT count() FROM {DB}.spans").result_rows[0][0]
    print(f"(table holds {count:,} spans)")
    pre_aggregated(client, args.repeat, roll_up(client, args.reuse_rollup))


def raw_dashboards(client: Any, repeat: int) -> None:
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
            for _ in range(repeat):
                t = time.perf_counter()
                r = client.query(cq.sql, parameters=cq.params, settings=cq.settings)
                best, n = min(best, time.perf_counter() - t), len(r.result_rows)
            total += best
            print(f"  {did + ' / ' + cid:<42} {best * 1000:>9.1f} {n:>6}")

        def run(cq: Any) -> int:
            return len(client.query(cq.sql, parameters=cq.params, settings=cq.settings).result_rows)

        best_all = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(run, [cq for _, cq in compiled]))
            best_all = min(best_all, time.perf_counter() - t)
        print(f"{did:<44} {total * 1000:>9.1f} serial, {best_all * 1000:.1f} ms concurrent")


def pre_aggregated(client: Any, repeat: int, hours: tuple[rollup.CleanHour, ...]) -> None:
    scope = btql.Scope.project_logs(ORG, PROJECT)
    now = datetime(2026, 10, 15, tzinfo=UTC)
    print(f"\n{'dashboard / chart (pre-aggregated)':<44} {'raw ms':>9} {'rollup ms':>10} {'ratio':>7}")
    worst = 0.0
    for did, d in BUILTIN.items():
        view = View(**WEEK, granularity=d.view.granularity)
        for c in d.charts:
            q = compose(c, parse_chart(c), PROJECT, view, now)
            raw_cq = btql.compile_query(q, scope, db=DB)
            fast_cq = btql.compile_query(q, scope, db=DB, rollup_hours=hours)
            raw_s, raw_rows = _best(client, raw_cq, repeat)
            if not fast_cq.rollup_used:
                print(f"  {did + ' / ' + c.id:<42} {raw_s * 1000:>9.1f} {'(raw)':>10}")
                worst = max(worst, raw_s)
                continue
            fast_s, fast_rows = _best(client, fast_cq, repeat)
            same = _same(raw_rows, fast_rows)
            # `quantile` samples 8,192 values per group: past that both reads are approximate
            note = "  (approximate percentiles)" if "percentile(" in c.query else "  ANSWERS DIFFER"
            worst = max(worst, fast_s)
            print(
                f"  {did + ' / ' + c.id:<42} {raw_s * 1000:>9.1f} {fast_s * 1000:>10.1f} "
                f"{raw_s / fast_s:>6.1f}x{'' if same else note}"
            )
    print(f"slowest chart with pre-aggregation: {worst * 1000:.0f} ms")


def _same(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if abs(u - v) > 1e-9 * max(1.0, abs(u)):
                    return False
            elif u != v:
                return False
    return True


if __name__ == "__main__":
    main()
