"""The loop agent's pre-canned analyses on 1M seeded spans (issue 14 target: <= 1 s each).

Run: `python -m tests.bench.bench_loop_analyses [--spans 1000000] [--repeat 3]` (or `./dev bench
loop_analyses`). An in-process Loopline (gateway, query, loop-agent) on an embedded store kept in
.cache/bench-loop (seeded once, again when the seed is a day old); the spans are written straight
into the span table with SQL, shaped like loopline.loop_agent.evaluation.seed: traces of four spans (a
classified root, an LLM call with model/provider/tokens/latency and 1 in 8 failing, two tool calls
with their own failure rates) over the last 14 days. Each analysis runs the real path
(`POST /v1/loop/analyze/{name}` → BTQL through the query service as the caller), best of
`--repeat`, with each of its queries timed alone (best of `--repeat`) and the rows the engine
plans to read (EXPLAIN ESTIMATE of the compiled SQL). Compare runs by the machine-speed line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from loopline.common.store import Store

from loopline import btql
from tests.support.app import InProcess, in_process

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".cache" / "bench-loop"
DB = "benchloop"
KEY = "sk-ll-bench-loop-analyses-000000000000"
PROJECT = "bench-loop-project"
SERVICES = ("gateway", "query", "loop-agent")
TARGET_S = 1.0
ANALYSES = ("top_errors", "tool_success", "context_overflow", "provider_errors", "outliers", "intents")
INTENTS = "['refund','password_reset','billing','shipping','cancel','upgrade','login','invoice']"
LLM_ERRORS = (
    "['Error code: 429 - Rate limit reached for gpt-4o',"
    "'Error code: 429 - You exceeded your current quota (insufficient_quota)',"
    "'Error code: 529 - Overloaded',"
    "'Error code: 500 - The server had an error',"
    "'Error code: 400 - maximum context length is 128000 tokens (context_length_exceeded)']"
)


async def ensure_project(store: Store, org_id: str) -> None:
    rows = await store.query(
        store.sql("SELECT count() FROM {db}.projects WHERE id = {p:String}"), {"p": PROJECT}
    )
    if not rows[1][0][0]:
        from datetime import UTC, datetime

        await store.insert(
            "projects",
            [[org_id, PROJECT, "bench-loop", datetime.now(UTC), 1]],
            ["org_id", "id", "name", "created", "_version"],
        )


async def seed(store: Store, org_id: str, n: int) -> None:
    have, newest_age_h = (
        await store.query(
            store.sql(
                "SELECT count(), dateDiff('hour', max(created), now64(6)) FROM {db}.spans "
                "WHERE org_id = {o:String} AND project_id = {p:String}"
            ),
            {"o": org_id, "p": PROJECT},
        )
    )[1][0]
    if have >= n and newest_age_h is not None and newest_age_h < 24:
        print(f"using {have:,} seeded spans (newest {newest_age_h} h old)", flush=True)
        return
    await store.command(store.sql("TRUNCATE TABLE {db}.spans"))
    t0 = time.perf_counter()
    step = 500_000
    for start in range(0, n, step):
        cnt = min(step, n - start)
        # number → trace t = number / 4, kind k = number % 4: 0 root, 1 llm, 2 and 3 tools
        await store.command(
            store.sql(
                f"""INSERT INTO {{db}}.spans (org_id, project_id, object_type, object_id, id, _xact_id, created,
                span_id, root_span_id, span_parents, is_root, span_attributes, span_name, span_type,
                input, output, error, metadata, metrics, metrics_map, start_time, end_time, duration, extra)
            SELECT {{o:String}}, {{p:String}}, 'project_logs', 'g', concat('s', toString(number)) AS rid,
                1000000000000000000 + number,
                now64(6) - toIntervalMillisecond(intDiv(intDiv(number, 4) * 4 * 14 * 86400000, {n})) AS ts,
                rid, concat('s', toString(intDiv(number, 4) * 4)) AS root,
                if(k = 0, [], [root]), k = 0,
                concat('{{"name":"', nm, '","type":"', tp, '"}}'), nm, tp,
                if(k = 0, concat('{{"question":"q', toString(t), '"}}'), ''), '',
                multiIf(k = 1 AND t % 8 = 3, {LLM_ERRORS}[1 + (intDiv(t, 8) % 5)],
                        k >= 2 AND cityHash64(t, k) % fail_every = 0, concat(nm, ' failed: upstream timeout'), ''),
                if(k = 1, concat('{{"model":"', if(t % 2 = 1, 'gpt-4o', 'claude-3-5-sonnet'),
                                 '","provider":"', if(t % 2 = 1, 'openai', 'anthropic'), '"}}'), ''),
                '',
                if(k = 1, map('start', toUnixTimestamp64Micro(ts) / 1e6,
                              'end', toUnixTimestamp64Micro(ts) / 1e6 + if(t % 37 = 5, 40., 0.5 + (cityHash64(t) % 1500) / 1000),
                              'tokens', toFloat64(if(t % 41 = 3, 50000, 300 + cityHash64(t, 1) % 600)),
                              'prompt_tokens', toFloat64(if(t % 41 = 3, 49900, 200 + cityHash64(t, 1) % 600))),
                   map('start', toUnixTimestamp64Micro(ts) / 1e6, 'end', toUnixTimestamp64Micro(ts) / 1e6 + 0.1)),
                ts, ts, 0.1,
                if(k = 0 AND t % 10 != 9,
                   concat('{{"classifications":{{"Intent":[{{"id":"', it, '","label":"', it, '","confidence":0.9}}]}}}}'), '')
            FROM (
                SELECT number, number % 4 AS k, intDiv(number, 4) AS t,
                    {INTENTS}[1 + t % 8] AS it,
                    multiIf(k = 0, 'support_bot', k = 1, 'llm.chat', ['lookup_order','search_docs','send_email'][1 + (t + k) % 3]) AS nm,
                    multiIf(k = 0, 'task', k = 1, 'llm', 'tool') AS tp,
                    multiIf(nm = 'lookup_order', 6, nm = 'search_docs', 20, 1000) AS fail_every
                FROM numbers({start}, {cnt}))"""
            ),
            {"o": org_id, "p": PROJECT},
        )
        print(f"  seeded {start + cnt:,} spans ({time.perf_counter() - t0:.0f} s)", flush=True)
    await store.command(store.sql("OPTIMIZE TABLE {db}.spans FINAL"))
    print(f"seeded {n:,} spans in {time.perf_counter() - t0:.0f} s", flush=True)


async def best(repeat: int, fn: Any) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = await fn()
        times.append(time.perf_counter() - t)
    return min(times), out


async def planned_rows(store: Store, org_id: str, query: str) -> int:
    cq = btql.compile_query(query, btql.Scope.project_logs(org_id, PROJECT), db=store.database)
    cols, rows = await store.query("EXPLAIN ESTIMATE " + cq.sql, cq.params)
    return sum(int(r[cols.index("rows")]) for r in rows)


async def bench(ll: InProcess, spans: int, repeat: int) -> None:
    store = ll.ctx.require_store()
    await ensure_project(store, ll.org_id)
    await seed(store, ll.org_id, spans)
    over = []
    print(f"\n{'analysis':<18} {'total ms':>9}   its queries: best ms / rows planned")
    for name in ANALYSES:

        async def analyze(name: str = name) -> dict[str, Any]:
            r = await ll.client.post(
                f"/v1/loop/analyze/{name}", json={"project_id": PROJECT, "days": 7}, headers=ll.headers
            )
            assert r.status_code == 200, r.text
            return dict(r.json())

        await analyze()  # warm (compile caches, marks)
        total, body = await best(repeat, analyze)
        parts = []
        for q in body["queries"]:

            async def run(q: str = q) -> None:
                r = await ll.client.post("/btql", json={"query": q}, headers=ll.headers)
                assert r.status_code == 200, r.text

            t, _ = await best(repeat, run)
            parts.append(f"{t * 1000:.0f}/{await planned_rows(store, ll.org_id, q):,}")
        flag = "" if total <= TARGET_S else "  OVER"
        if total > TARGET_S:
            over.append(name)
        print(f"{name:<18} {total * 1000:>9.0f}   {'  '.join(parts)}{flag}", flush=True)
    print(f"target <= {TARGET_S * 1000:.0f} ms each: {'met' if not over else 'over: ' + ', '.join(over)}")


async def amain(spans: int, repeat: int) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    async with in_process(
        f"chdb://{DATA / 'ch'}",
        DATA,
        SERVICES,
        database=DB,
        bootstrap_api_key=KEY,
        loop_agent={"docs_index_at_start": False},
    ) as ll:
        await bench(ll, spans, repeat)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    asyncio.run(amain(args.spans, args.repeat))


if __name__ == "__main__":
    main()
