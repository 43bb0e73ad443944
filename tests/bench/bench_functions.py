"""Prompts and functions: the reads the SDK and the runner make, on a project holding many
functions with several versions each (in-process app, embedded store, over ASGI — no socket).

- `load_prompt(project, slug)` = `GET /v1/prompt?project_name=&slug=`; `load_prompt(version=)`;
  `GET /v1/prompt/{id}`; the list of a project's prompts;
- `FunctionStore.resolve` (what each invoke / eval cell asks): from the store, and cached;
- a new version (`PUT /v1/prompt`), `/insert-functions` of 50 definitions;
- a 10 MB bundle: `POST /function/code` + `PUT <url>`, and `BundleStore.get` from the store and
  from its file cache.

    python -m tests.bench.bench_functions [--functions 300] [--versions 3] [--n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.common.service import ServiceStates
from loopline.evaluator.state import State

from tests.support.app import ALL, in_process

ROOT = Path(__file__).resolve().parents[2]


def prompt(project_id: str, slug: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "project_id": project_id,
        "name": slug,
        "slug": slug,
        "prompt_data": {
            "prompt": {
                "type": "chat",
                "messages": [{"role": "user", "content": "Q: {{input.question}}" * 20}],
            },
            "options": {"model": model, "params": {"temperature": 0.1}},
        },
    }


async def timed(label: str, n: int, call: Callable[[int], Awaitable[Any]]) -> None:
    times = []
    for i in range(n):
        t = time.perf_counter()
        await call(i)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"  {label:<52} p50 {statistics.median(times):7.2f} ms   p95 {p95:7.2f} ms   (n={n})", flush=True)


async def run(args: argparse.Namespace) -> None:
    work = ROOT / ".cache" / "bench-functions"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    async with in_process(f"chdb://{work / 'chdb'}", work, (*ALL, "evaluator")) as ll:
        c, h = ll.client, ll.headers
        pid = (await c.post("/v1/project", json={"name": "bench-fn"}, headers=h)).json()["id"]
        t = time.perf_counter()
        for start in range(0, args.functions, 50):
            defs = [
                {**prompt(pid, f"p{i}"), "function_data": {"type": "prompt"}, "if_exists": "replace"}
                for i in range(start, min(args.functions, start + 50))
            ]
            r = await c.post("/insert-functions", json={"functions": defs}, headers=h)
            assert r.status_code == 200, r.text
        per_50 = (time.perf_counter() - t) / max(1, args.functions / 50) * 1000
        print(f"  {'/insert-functions, 50 definitions':<52} {per_50:7.1f} ms per request", flush=True)
        first = (await c.get("/v1/prompt", params={"project_id": pid, "slug": "p0"}, headers=h)).json()[
            "objects"
        ][0]
        for v in range(1, args.versions):
            for i in range(args.functions):
                await c.put("/v1/prompt", json=prompt(pid, f"p{i}", f"model-v{v}"), headers=h)
        print(f"  ({args.functions} functions x {args.versions} versions in the project)", flush=True)
        n = args.n

        async def by_slug(i: int) -> None:
            r = await c.get(
                "/v1/prompt", params={"project_name": "bench-fn", "slug": f"p{i % args.functions}"}, headers=h
            )
            assert len(r.json()["objects"]) == 1

        async def by_version(i: int) -> None:
            params = {"project_name": "bench-fn", "slug": "p0", "version": first["_xact_id"]}
            r = await c.get("/v1/prompt", params=params, headers=h)
            assert r.json()["objects"][0]["prompt_data"]["options"]["model"] == "gpt-4o-mini"

        async def by_id(i: int) -> None:
            assert (await c.get(f"/v1/prompt/{first['id']}", headers=h)).status_code == 200

        async def listing(i: int) -> None:
            r = await c.get("/v1/prompt", params={"project_id": pid, "limit": 100}, headers=h)
            assert len(r.json()["objects"]) == min(100, args.functions)

        await timed("load_prompt(project, slug)  GET /v1/prompt?slug", n, by_slug)
        await timed("load_prompt(version=...)", n, by_version)
        await timed("load_prompt(id=...)  GET /v1/prompt/{id}", n, by_id)
        await timed("list 100 prompts of the project", max(20, n // 5), listing)
        states: ServiceStates = ll.app.state.services
        fs = states.get(State).functions
        me = Principal(org_id=ll.org_id)

        async def resolve_cold(i: int) -> None:
            fs._cache.clear()
            await fs.resolve(me, FunctionRef(project_name="bench-fn", slug=f"p{i % args.functions}"))

        async def resolve_warm(i: int) -> None:
            await fs.resolve(me, FunctionRef(project_name="bench-fn", slug="p1"))

        await timed("FunctionStore.resolve(project_name, slug), store", n, resolve_cold)
        await timed("FunctionStore.resolve, cached", n * 10, resolve_warm)
        await timed(
            "PUT /v1/prompt (a new version)",
            max(20, n // 5),
            lambda i: c.put("/v1/prompt", json=prompt(pid, "p0", f"m{i}"), headers=h),
        )
        blob = os.urandom(10 * 1024 * 1024)
        code = {"runtime_context": {"runtime": "python", "version": "3.11"}}
        t = time.perf_counter()
        up = (await c.post("/function/code", json=code, headers=h)).json()
        r = await c.put(up["url"], content=blob)
        assert r.status_code == 200, r.text
        took = time.perf_counter() - t
        print(f"  {'10 MB bundle: /function/code + PUT':<52} {took * 1000:7.1f} ms ({10 / took:.0f} MB/s)")
        bundles = states.get(State).bundles
        t = time.perf_counter()
        assert await bundles.get(ll.org_id, up["bundleId"]) == blob
        cold = time.perf_counter() - t
        t = time.perf_counter()
        assert await bundles.get(ll.org_id, up["bundleId"]) == blob
        warm = time.perf_counter() - t
        print(
            f"  {'10 MB bundle: BundleStore.get from the store / cached':<52} {cold * 1000:7.1f} ms / {warm * 1000:.1f} ms"
        )
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, default=300)
    ap.add_argument("--versions", type=int, default=3)
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
