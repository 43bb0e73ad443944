"""BTQL vs hand-written ClickHouse SQL on ≥ 10 million seeded spans (embedded engine).

Seeds one project with N spans over ~30 days (cached in .cache/bench-btql between runs), then
times each query as BTQL (compiled by loopline.btql, scoped like the query service does) and as
the best hand-written SQL for the same answer (run with the same ClickHouse settings),
interleaved, best of 5 each. Prints times, the
ratio BTQL/hand-written, and rows read by each (time-bounded queries should read only the parts
of the week they need).

    python -m tests.bench.bench_btql_exec [--spans 10000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import clickhouse_connect
from loopline.common.schema import ROW_TABLES

from loopline import btql

ROOT = Path(__file__).resolve().parents[2]
DB = "benchbtql2"
ORG = "org-bench"
PROJECT = "proj-bench"
T0 = "2026-10-01 00:00:00"
DAYS = 30


def seed(client: Any, n: int) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
    for m in ROW_TABLES:
        for stmt in m.statements:
            client.command(stmt.replace("{db}", DB))
    have = client.query(f"SELECT count() FROM {DB}.spans").result_rows[0][0]
    if have >= n:
        print(f"using {have:,} seeded spans")
        return
    client.command(f"TRUNCATE TABLE {DB}.spans")
    words = "['refund','order','password','reset','invoice','shipping','account','cancel','upgrade','help','billing','login','error','timeout','weather','flight','hotel','music','recipe','translate']"
    step = 1_000_000
    t = time.perf_counter()
    for start in range(0, n, step):
        cnt = min(step, n - start)
        client.command(
            f"""INSERT INTO {DB}.spans (org_id, project_id, object_type, object_id, id, _xact_id, created,
                span_id, root_span_id, span_parents, is_root, span_attributes, span_name, span_type,
                input, output, error, scores, scores_map, metadata, metrics, metrics_map, start_time, end_time, duration, tags)
            SELECT '{ORG}', '{PROJECT}', 'project_logs', 'g', toString(number) AS rid,
                1000000000000000000 + number,
                toDateTime64('{T0}', 6, 'UTC') + toIntervalMillisecond(intDiv(number * {DAYS * 86400 * 1000}, {n})) AS ts,
                lower(hex(cityHash64(number))) AS sid,
                lower(hex(cityHash64(intDiv(number, 4), 7))) AS rsid,
                if(number % 4 = 0, [], [lower(hex(cityHash64(intDiv(number, 4) * 4)))]),
                number % 4 = 0,
                concat('{{"name":"', if(number % 4 = 0, 'root', 'llm-call'), '","type":"', if(number % 4 = 0, 'task', 'llm'), '"}}'),
                if(number % 4 = 0, 'root', 'llm-call'), if(number % 4 = 0, 'task', 'llm'),
                concat('"', arrayStringConcat(arrayMap(i -> {words}[1 + (cityHash64(number, i) % 20)], range(12)), ' '), '"') AS inp,
                concat('"', arrayStringConcat(arrayMap(i -> {words}[1 + (cityHash64(number, i + 100) % 20)], range(12)), ' '), '"'),
                if(cityHash64(number, 3) % 50 = 0, concat('"', ['timeout','rate limit','bad request','context length'][1 + cityHash64(number, 4) % 4], '"'), ''),
                concat('{{"quality":', toString((cityHash64(number, 5) % 1000) / 1000), '}}'),
                map('quality', (cityHash64(number, 5) % 1000) / 1000),
                concat('{{"model":"', ['gpt-4o-mini','gpt-4o','claude-3-5-haiku','llama-3'][1 + cityHash64(number, 6) % 4], '","user":"u', toString(number % 1000), '"}}'),
                '', map('tokens', toFloat64(50 + cityHash64(number, 8) % 500),
                        'start', toUnixTimestamp64Micro(ts) / 1e6,
                        'end', toUnixTimestamp64Micro(ts) / 1e6 + (100 + cityHash64(number, 9) % 5000) / 1000),
                ts, ts + toIntervalMillisecond(100 + cityHash64(number, 9) % 5000),
                (100 + cityHash64(number, 9) % 5000) / 1000, []
            FROM numbers({start}, {cnt})"""
        )
        print(f"  seeded {start + cnt:,} spans ({time.perf_counter() - t:.0f}s)", flush=True)
    client.command(f"OPTIMIZE TABLE {DB}.spans FINAL")
    print(f"seeded {n:,} spans in {time.perf_counter() - t:.0f}s")


P = f"project_logs('{PROJECT}')"
SCOPE_SQL = (
    f"org_id = '{ORG}' AND project_id = '{PROJECT}' AND object_type = 'project_logs' AND object_id = 'g'"
)
WEEK = "created >= '2026-10-08 00:00:00' AND created < '2026-10-15 00:00:00'"

CASES: list[tuple[str, str, str]] = [
    (
        "count by hour over a week",
        f"dimensions: hour(created) as h | measures: count(1) as n | from: {P} | filter: created >= '2026-10-08T00:00:00Z' and created < '2026-10-15T00:00:00Z' | sort: h",
        f"SELECT toStartOfHour(created) AS h, count() AS n FROM {DB}.spans FINAL WHERE {SCOPE_SQL} AND {WEEK} GROUP BY h ORDER BY h",
    ),
    (
        "p95 latency per model (week)",
        f"dimensions: metadata.model as model | measures: percentile(metrics.end - metrics.start, 0.95) as p95 | from: {P} | filter: created >= '2026-10-08T00:00:00Z' and created < '2026-10-15T00:00:00Z'",
        f"SELECT metadata_json.model::String AS model, quantileIf(0.95)(metrics_map['end'] - metrics_map['start'], mapContains(metrics_map, 'end') AND mapContains(metrics_map, 'start')) AS p95 FROM {DB}.spans FINAL WHERE {SCOPE_SQL} AND {WEEK} GROUP BY model",
    ),
    (
        "full-text search on input (day)",
        f"measures: count(1) as n | from: {P} | filter: input MATCH 'refund' and created >= '2026-10-08T00:00:00Z' and created < '2026-10-09T00:00:00Z'",
        # MATCH is case-insensitive: the same answer needs the lower(input) token index
        f"SELECT count() AS n FROM {DB}.spans FINAL WHERE {SCOPE_SQL} AND hasAllTokens(lower(input), ['refund']) AND created >= '2026-10-08 00:00:00' AND created < '2026-10-09 00:00:00'",
    ),
    (
        "whole traces of failing spans (hour)",
        f"select: id, root_span_id, error | from: {P} traces | filter: error IS NOT NULL and created >= '2026-10-08T00:00:00Z' and created < '2026-10-08T01:00:00Z' | limit: 1000",
        # the same answer: the spans within a day of the matching spans, of the newest 1000 traces
        f"SELECT id, root_span_id, error FROM {DB}.spans FINAL WHERE {SCOPE_SQL} AND created >= '2026-10-07 00:00:00' AND created <= '2026-10-09 01:00:00' AND root_span_id IN (SELECT root_span_id FROM {DB}.spans FINAL WHERE {SCOPE_SQL} AND error != '' AND created >= '2026-10-08 00:00:00' AND created < '2026-10-08 01:00:00' GROUP BY root_span_id ORDER BY max(created) DESC LIMIT 1000)",
    ),
    (
        "average scores by day (month)",
        f"dimensions: day(created) as d | measures: avg(scores.quality) as q | from: {P} | sort: d",
        f"SELECT toStartOfDay(created) AS d, avg(scores_map['quality']) AS q FROM {DB}.spans FINAL WHERE {SCOPE_SQL} AND mapContains(scores_map, 'quality') GROUP BY d ORDER BY d",
    ),
    (
        "top errors by blast radius (week)",
        f"dimensions: error as err | measures: count(1) as n | from: {P} | filter: error IS NOT NULL and created >= '2026-10-08T00:00:00Z' and created < '2026-10-15T00:00:00Z' | sort: n desc | limit: 10",
        f"SELECT error AS err, count() AS n FROM {DB}.spans FINAL WHERE {SCOPE_SQL} AND error != '' AND {WEEK} GROUP BY err ORDER BY n DESC LIMIT 10",
    ),
]


def timed(
    client: Any, sql: str, params: dict[str, Any] | None, settings: dict[str, Any] | None
) -> tuple[float, int, int]:
    t = time.perf_counter()
    r = client.query(sql, parameters=params, settings=settings)
    dt = time.perf_counter() - t
    return dt, 0, len(r.result_rows)


def rows_to_read(client: Any, sql: str, params: dict[str, Any] | None) -> int:
    """Rows the engine plans to read after partition and primary-key pruning (EXPLAIN ESTIMATE)."""
    r = client.query("EXPLAIN ESTIMATE " + sql, parameters=params)
    cols = list(r.column_names)
    return sum(int(row[cols.index("rows")]) for row in r.result_rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    data = ROOT / ".cache" / "bench-btql"
    client = clickhouse_connect.get_client(dsn=f"chdb://{data}")
    seed(client, args.spans)
    scope = btql.Scope.project_logs(ORG, PROJECT)
    print(
        f"\n{'query':<38} {'btql ms':>9} {'hand ms':>9} {'ratio':>6} {'btql read':>12} {'hand read':>12} {'compile ms':>10}"
    )
    for name, q, hand in CASES:
        t = time.perf_counter()
        try:
            cq = btql.compile_query(q, scope, db=DB)
        except btql.BtqlError as exc:
            print(f"{name:<38} BTQL error: {exc}")
            continue
        compile_ms = (time.perf_counter() - t) * 1000
        b_best = h_best = float("inf")
        b_read = h_read = 0
        b_rows = h_rows = 0
        for _ in range(args.repeat):
            bt, b_read, b_rows = timed(client, cq.sql, cq.params, cq.settings)
            # the same settings: `do_not_merge_across_partitions_select_final` is what an expert
            # would set by hand on this table too (every version of a row shares `created`)
            ht, h_read, h_rows = timed(client, hand, None, cq.settings)
            b_best, h_best = min(b_best, bt), min(h_best, ht)
        b_read, h_read = rows_to_read(client, cq.sql, cq.params), rows_to_read(client, hand, None)
        flag = "" if b_rows == h_rows else f"  (rows differ: {b_rows} vs {h_rows})"
        print(
            f"{name:<38} {b_best * 1000:>9.1f} {h_best * 1000:>9.1f} {b_best / h_best:>6.2f} {b_read:>12,} {h_read:>12,} {compile_ms:>10.2f}{flag}"
        )
    total = client.query(f"SELECT count() FROM {DB}.spans").result_rows[0][0]
    print(f"(table holds {total:,} spans)")


if __name__ == "__main__":
    main()
