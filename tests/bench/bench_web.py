"""Web app: time to first render of the logs page and of a 20,000-span trace, in headless Chromium.

Run: `python -m tests.bench.bench_web [--rows N]` (or `./dev bench web`). Builds the app if needed (`./dev web`),
starts `loopline up`, seeds a project through `/logs3` (2,000 three-span traces and one trace of
20,000 spans: 200 children of the root with 99 grandchildren each... and a 100-deep chain), then,
signed in through sessionStorage, loads each page five times with a cold browser cache and five
times warm (reload) and prints the medians. "First render" is the time from navigation start
(`performance.now()` in the page) until the first data row is in the DOM: the first table row for
the logs page; the span tree's rows and the root span's input for the trace.

`--rows N` (e.g. 1000000) adds a project of N one-span traces (seeded through `/logs3`) and
times, on its logs page: the page's first BTQL read from Python, the first table row (cold and
warm), and paging by scrolling (each scroll to the table's end reads the next 100 traces by
cursor), with the number of rows in the DOM after paging (virtual scrolling keeps it small).

`--compare` then restarts the server on the same data without the query service's newest-first
reads (`LOOPLINE_QUERY__NEWEST_FIRST=false`, libs/btql newest.py) and times the same pages again:
before and after in one run, under the same load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.bench import machine_speed
from tests.support.browser import ensure_chromium, launch_args
from tests.support.running import RunningLoopline, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".cache" / "web-artifacts"
TRACES = 2_000
BIG_TRACE_SPANS = 20_000
RUNS = 5


def _span(pid: str, root: str, span_id: str, parent: str | None, t: float, i: int) -> dict[str, Any]:
    return {
        "id": f"{span_id}-row",
        "project_id": pid,
        "log_id": "g",
        "span_id": span_id,
        "root_span_id": root,
        "span_parents": [parent] if parent else None,
        "is_root": parent is None,
        "input": {"question": f"question {i}", "context": "lorem ipsum " * 8},
        "output": {"answer": f"answer {i}"},
        "metadata": {"intent": ["billing", "support", "account"][i % 3], "model": "gpt-4o-mini"},
        "scores": {"helpfulness": (i % 10) / 10} if parent is None else None,
        "metrics": {"start": t, "end": t + 0.5 + (i % 7) / 10, "tokens": 10 + i % 50},
        "span_attributes": {
            "name": "chat-turn" if parent is None else f"step-{i % 20}",
            "type": "llm" if i % 3 else "tool",
        },
    }


def seed(server: RunningLoopline) -> tuple[str, str]:
    client = httpx.Client(base_url=server.url, headers=server.headers, timeout=300)
    pid = client.post("/v1/project", json={"name": f"bench-web-{uuid.uuid4().hex[:6]}"}).json()["id"]
    t0 = time.time() - 3600
    rows: list[dict[str, Any]] = []
    for i in range(TRACES):
        root = f"t{i:05d}"
        rows.append(_span(pid, root, root, None, t0 + i, i))
        rows.append(_span(pid, root, f"{root}a", root, t0 + i + 0.1, i))
        rows.append(_span(pid, root, f"{root}b", f"{root}a", t0 + i + 0.2, i))
    big = "big-trace"
    rows.append(_span(pid, big, big, None, t0 + TRACES + 10, 0))
    n = 1
    chain_parent = big
    for c in range(100):  # a 100-deep chain
        sid = f"chain{c}"
        rows.append(_span(pid, big, sid, chain_parent, t0 + TRACES + 10 + c / 100, n))
        chain_parent, n = sid, n + 1
    c = 0
    while n < BIG_TRACE_SPANS:
        child = f"c{c}"
        rows.append(_span(pid, big, child, big, t0 + TRACES + 11 + c, n))
        n += 1
        for g in range(99):
            if n >= BIG_TRACE_SPANS:
                break
            rows.append(_span(pid, big, f"{child}g{g}", child, t0 + TRACES + 11 + c + g / 100, n))
            n += 1
        c += 1
    for i in range(0, len(rows), 5000):
        r = client.post("/logs3", content=json.dumps({"rows": rows[i : i + 5000]}))
        r.raise_for_status()
    return pid, big


def seed_rows(server: RunningLoopline, n: int) -> str:
    """A project of `n` one-span traces, a second apart (newest now), in batches of 10,000."""
    from concurrent.futures import ThreadPoolExecutor

    client = httpx.Client(base_url=server.url, headers=server.headers, timeout=600)
    pid = client.post("/v1/project", json={"name": f"bench-web-1m-{uuid.uuid4().hex[:6]}"}).json()["id"]
    t0 = time.time() - n
    batch = 10_000

    def send(start: int) -> None:
        rows = [
            {
                "id": f"r{i:07d}",
                "project_id": pid,
                "log_id": "g",
                "span_id": f"r{i:07d}",
                "root_span_id": f"r{i:07d}",
                "is_root": True,
                "input": {"question": f"question {i}"},
                "output": {"answer": f"answer {i}"},
                "metadata": {"intent": ["billing", "support", "account"][i % 3]},
                "scores": {"helpfulness": (i % 10) / 10},
                "metrics": {"start": t0 + i, "end": t0 + i + 0.5, "tokens": 10 + i % 50},
                "span_attributes": {"name": "chat-turn", "type": "llm"},
            }
            for i in range(start, min(n, start + batch))
        ]
        body = json.dumps({"rows": rows})
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=600) as c:
            for _ in range(120):  # the writer pushes back (503/429 with Retry-After) when behind
                r = c.post("/logs3", content=body)
                if r.status_code not in (429, 503):
                    break
                time.sleep(float(r.headers.get("retry-after", "1")))
            r.raise_for_status()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(send, range(0, n, batch)))
    return str(pid)


def logs_query_ms(server: RunningLoopline, pid: str) -> float:
    """The logs page's first read (web/src/lib/btql.ts tracesQuery, no filters), from Python."""
    q = f"select: * | from: project_logs('{pid}') summary | sort: created desc | limit: 100"
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        r = httpx.post(server.url + "/btql", headers=server.headers, json={"query": q}, timeout=300)
        r.raise_for_status()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def scroll_pages(
    browser: Any, server: RunningLoopline, session: dict[str, Any], url: str, pages: int
) -> None:
    """Scroll the logs table to its end `pages` times: each loads the next 100 traces."""
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
    ctx.add_init_script(f"sessionStorage.setItem('loopline.session', {json.dumps(json.dumps(session))})")
    page = ctx.new_page()
    page.goto(url)
    table = "[role=table][aria-label=Traces]"
    page.wait_for_selector(f"{table} [role=row][data-row-id]", timeout=300_000)
    times = []
    for i in range(pages):
        loaded = 100 * (i + 1)
        t = time.perf_counter()
        page.eval_on_selector(f"{table} .dt-scroll", "el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_function(
            f"document.querySelector('{table}').getAttribute('aria-rowcount') >= {loaded + 100}",
            timeout=300_000,
        )
        page.eval_on_selector(f"{table} .dt-scroll", "el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_function(
            f"[...document.querySelectorAll('{table} [role=row][data-row-id]')].some(r => r.textContent.includes('question'))"
        )
        times.append((time.perf_counter() - t) * 1000)
    in_dom = page.eval_on_selector_all(f"{table} [role=row][data-row-id]", "rows => rows.length")
    total = page.get_attribute(table, "aria-rowcount")
    page.screenshot(path=str(ARTIFACTS / "bench-logs-1m-scrolled.png"))
    ctx.close()
    print(
        f"  paging by scroll: {pages} pages of 100, median {statistics.median(times):.0f} ms, max {max(times):.0f} ms a page; "
        f"{total} traces loaded, {in_dom} rows in the DOM"
    )


def big_logs(
    browser: Any, server: RunningLoopline, session: dict[str, Any], org: str, n: int
) -> tuple[str, str]:
    """Seed a project of `n` one-span traces and time its logs page; (project id, page URL)."""
    t = time.perf_counter()
    pid = seed_rows(server, n)
    print(f"seeded {n:,} one-span traces in {time.perf_counter() - t:.0f} s", flush=True)
    project = httpx.get(server.url + f"/v1/project/{pid}", headers=server.headers).json()["name"]
    url = f"/app/{org}/p/{project}/logs"
    time_big_logs(browser, server, session, pid, url, n, 20)
    return pid, url


def time_big_logs(
    browser: Any, server: RunningLoopline, session: dict[str, Any], pid: str, url: str, n: int, pages: int
) -> None:
    print(
        f"  the logs page's first read (100 newest traces of {n:,}): {logs_query_ms(server, pid):.0f} ms (median of {RUNS})",
        flush=True,
    )
    cold, warm = measure(browser, server, session, url, ["[role=table] [role=row][data-row-id]"])
    print(
        f"logs page ({n:,} traces), first table row: cold cache {cold:.0f} ms, warm {warm:.0f} ms (median of {RUNS})",
        flush=True,
    )
    scroll_pages(browser, server, session, url, pages)


def time_big_trace(
    browser: Any, server: RunningLoopline, session: dict[str, Any], url: str, pid: str, big: str
) -> None:
    cold, warm = measure(
        browser,
        server,
        session,
        url,
        [".span-tree [role=treeitem]", ".span-detail section[aria-label=Input]"],
    )
    print(
        f"trace of {BIG_TRACE_SPANS:,} spans, span tree + root span: cold cache {cold:.0f} ms, warm {warm:.0f} ms (median of {RUNS})"
    )
    print(
        f"  of which the API: {api_ms(server, pid, big):.0f} ms for the span pages (median of {RUNS})",
        flush=True,
    )


def first_render(page: Any, url: str, selectors: list[str], reload: bool = False) -> float:
    if reload:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
    for sel in selectors:
        page.wait_for_selector(sel, timeout=120_000)
    return float(page.evaluate("performance.now()"))


def measure(
    browser: Any, server: RunningLoopline, session: dict[str, Any], url: str, selectors: list[str]
) -> tuple[float, float]:
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(RUNS):
        ctx = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
        ctx.add_init_script(f"sessionStorage.setItem('loopline.session', {json.dumps(json.dumps(session))})")
        page = ctx.new_page()
        cold.append(first_render(page, url, selectors))
        warm.append(first_render(page, url, selectors, reload=True))
        ctx.close()
    return statistics.median(cold), statistics.median(warm)


def screenshot_big_trace(browser: Any, server: RunningLoopline, session: dict[str, Any], url: str) -> None:
    """What the 20,000-span trace looks like, at the top of its tree and scrolled to the end."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
    ctx.add_init_script(f"sessionStorage.setItem('loopline.session', {json.dumps(json.dumps(session))})")
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_selector(".span-detail section[aria-label=Input]", timeout=120_000)
    # the tree shows from its first page; the rest of the spans load after it
    page.wait_for_function(
        "!document.querySelector('.trace-head').textContent.includes('loading more')", timeout=120_000
    )
    page.screenshot(path=str(ARTIFACTS / "bench-trace-20k-top.png"))
    t = time.perf_counter()
    page.eval_on_selector(".span-tree", "el => { el.scrollTop = el.scrollHeight; }")
    # the virtual list renders the rows at the end once it sees the scroll: wait for them
    page.wait_for_function(
        "(() => { const t = document.querySelector('.span-tree'); const items = t.querySelectorAll('[role=treeitem]');"
        " const last = items[items.length - 1]; return last && last.getBoundingClientRect().bottom <= t.getBoundingClientRect().bottom + 40"
        " && last.getBoundingClientRect().bottom >= t.getBoundingClientRect().top; })()"
    )
    span_id = (
        page.get_by_role("tree", name="Span tree").get_by_role("treeitem").last.get_attribute("data-span-id")
    )
    page.locator(f".span-tree [data-span-id='{span_id}']").click()
    page.wait_for_selector(f".span-detail[data-span-id='{span_id}'] section[aria-label=Input]")
    print(f"  scroll to the tree's end and open its last span: {(time.perf_counter() - t) * 1000:.0f} ms")
    page.screenshot(path=str(ARTIFACTS / "bench-trace-20k-end.png"))
    ctx.close()


def api_ms(server: RunningLoopline, pid: str, root: str) -> float:
    """The trace view's own BTQL calls (10,000 spans a page), timed from Python."""
    cols = (  # web/src/lib/btql.ts traceSpansQuery
        "id, span_id, span_parents, span_attributes.name as name, span_attributes.type as type, "
        "span_attributes.exec_counter as exec, metrics.start as start, metrics.end as end, "
        "error IS NOT NULL as has_error"
    )
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        cursor = None
        while True:
            q = f"select: {cols} | from: project_logs('{pid}') spans | filter: root_span_id = '{root}' | sort: created asc | limit: 10000"
            if cursor:
                q += f" | cursor: '{cursor}'"
            body = httpx.post(
                server.url + "/btql", headers=server.headers, json={"query": q}, timeout=120
            ).json()
            cursor = body.get("cursor") if body["data"] else None
            if not cursor:
                break
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(rows: int = 0, rows_only: bool = False, compare: bool = False) -> None:
    subprocess.run([str(ROOT / "dev"), "web"], check=True, timeout=900)
    chromium = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        web_env = {"LOOPLINE_WEB_DIR": str(ROOT / "web" / "dist")}
        server = RunningLoopline(Path(tmp) / "data", free_port(), extra_env=web_env).start()
        try:
            t = time.perf_counter()
            pid, big = seed(server)
            print(
                f"seeded {TRACES * 3 + BIG_TRACE_SPANS:,} spans in {time.perf_counter() - t:.1f} s",
                flush=True,
            )
            me = httpx.get(server.url + "/ping", headers=server.headers).json()
            project = httpx.get(server.url + f"/v1/project/{pid}", headers=server.headers).json()["name"]
            session = {
                "kind": "api-key",
                "apiKey": server.api_key,
                "identity": {
                    "orgId": me["org_id"],
                    "orgName": me["org_name"],
                    "userId": me["id"],
                    "role": "owner",
                    "email": None,
                },
            }
            logs = f"/app/{me['org_name']}/p/{project}/logs"
            # the same query the page runs, first call (warms the server's caches like a first visitor)
            httpx.post(
                server.url + "/btql",
                headers=server.headers,
                json={"query": f"select: id | from: project_logs('{pid}') summary | limit: 1"},
                timeout=120,
            )
            big_pid = big_url = ""
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=launch_args())
                if not rows_only:
                    cold, warm = measure(
                        browser, server, session, logs, ["[role=table] [role=row][data-row-id]"]
                    )
                    print(
                        f"logs page ({TRACES:,} traces), first table row: cold cache {cold:.0f} ms, warm {warm:.0f} ms (median of {RUNS})"
                    )
                    time_big_trace(browser, server, session, f"{logs}?r={big}", pid, big)
                    screenshot_big_trace(browser, server, session, f"{logs}?r={big}")
                if rows:
                    big_pid, big_url = big_logs(browser, server, session, me["org_name"], rows)
                if compare and rows:
                    # again after a restart (the seeding's merges and rollups settled), as below
                    server.terminate()
                    server = RunningLoopline(
                        Path(tmp) / "data", free_port(), extra_env=web_env, api_key=server.api_key
                    ).start(timeout_s=300)
                    print("-- after a restart, with the newest-first reads:")
                    time_big_logs(browser, server, session, big_pid, big_url, rows, 5)
                if compare:
                    # the same data, served without the newest-first reads (btql newest.py): before
                    server.terminate()
                    off = {**web_env, "LOOPLINE_QUERY__NEWEST_FIRST": "false"}
                    server = RunningLoopline(
                        Path(tmp) / "data", free_port(), extra_env=off, api_key=server.api_key
                    ).start(timeout_s=300)
                    print(
                        "-- the same data without the newest-first reads (LOOPLINE_QUERY__NEWEST_FIRST=false):"
                    )
                    if not rows_only:
                        time_big_trace(browser, server, session, f"{logs}?r={big}", pid, big)
                    if rows:
                        time_big_logs(browser, server, session, big_pid, big_url, rows, 5)
                browser.close()
        finally:
            server.terminate()


if __name__ == "__main__":
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument(
        "--rows", type=int, default=0, help="also a logs page of this many traces (e.g. 1000000)"
    )
    args.add_argument("--rows-only", action="store_true", help="only the --rows part")
    args.add_argument(
        "--compare",
        action="store_true",
        help="then again on the same data without the newest-first reads (the plain queries)",
    )
    print(machine_speed())
    a = args.parse_args()
    main(a.rows, a.rows_only, a.compare)
