"""General BTQL queries: authorize the source, compile with loopline.btql, run, shape the response.

The tenant and objects come from the caller's principal and the control plane, never from the
query: `source_of` says what the query asks for; each object must belong to the caller's org
(else 404), and the compiler injects that scope into every table read.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Response
from loopline.common.auth import Principal
from loopline.common.http import JSONResponse
from loopline.common.metrics import BTQL_COMPILE_SECONDS, BTQL_RUN_SECONDS
from loopline.common.objects import ObjectResolver
from loopline.common.service import ServiceContext
from loopline.common.store import Store, StoreError
from loopline.common.xact import xact_for_time

from loopline import btql

T = TypeVar("T")

# Parsing, binding and compiling a query, and shaping its rows, are pure CPU work (up to about a
# second for the largest queries the limits allow): they run here, off the event loop, so health
# checks and other requests keep being answered. Two threads: the machine's cores, not more.
_cpu = ThreadPoolExecutor(max_workers=2, thread_name_prefix="btql-cpu")


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on the BTQL worker threads."""
    return await asyncio.get_running_loop().run_in_executor(_cpu, functools.partial(fn, *args, **kwargs))


async def parse(query: Any) -> btql.Query:
    """`btql.parse`, off the event loop."""
    return await off_loop(btql.parse, query)


_RUNTIME_CODES = {
    "TIMEOUT_EXCEEDED": (
        408,
        "the query ran longer than its time limit; narrow it (e.g. a time range filter)",
    ),
    "MEMORY_LIMIT_EXCEEDED": (
        413,
        "the query needed more memory than its limit; narrow it or aggregate less",
    ),
    "TOO_MANY_ROWS_OR_BYTES": (413, "the query read more data than its limit; add filters"),
    "TOO_MANY_ROWS": (413, "the query returned more rows than its limit; add a limit or filters"),
    "TOO_MANY_BYTES": (413, "the query read more bytes than its limit; add filters"),
}


def runtime_error(exc: StoreError) -> Response:
    text = str(exc)
    status, message = 400, "the query failed in the store"
    for code, (st, msg) in _RUNTIME_CODES.items():
        if code in text:
            status, message = st, msg
            break
    detail = re.sub(r"\s+", " ", text)[:500]
    return JSONResponse(
        {
            "Message": f"RuntimeError: {message}",
            "error": {"class": "RuntimeError", "status": status, "message": message, "detail": detail},
        },
        status_code=status,
    )


def btql_error(exc: btql.BtqlError) -> Response:
    body = exc.to_json()
    err = body.get("error", {})
    body["Message"] = f"{err.get('class', 'Error')}: {err.get('message', str(exc))}"
    return JSONResponse(body, status_code=exc.http_status)


async def build_scope(
    objects: ObjectResolver, org_id: str, src: btql.SourceRef, version: int | None
) -> btql.Scope:
    projects: list[str] = []
    for oid in src.object_ids:
        pid = await objects.project_of(org_id, src.object_type, oid)
        if pid is None:
            raise btql.ScopeError(f"{src.object_type} {oid!r} does not exist in this organization")
        projects.append(pid)
    if src.object_type == "project_logs":
        if version is not None:
            raise btql.BindError("'version' is not supported for project_logs")
        return btql.Scope.project_logs(org_id, src.object_ids)
    if src.object_type == "experiment":
        return btql.Scope.experiment(org_id, src.object_ids, tuple(dict.fromkeys(projects)))
    return btql.Scope.dataset(org_id, src.object_ids, tuple(dict.fromkeys(projects)), version)


def _version(body: dict[str, Any]) -> int | None:
    v = body.get("version")
    if v is None or v == "":
        return None
    try:
        n = int(str(v))
    except ValueError:
        raise btql.BindError(f"'version' must be a transaction id, got {v!r}") from None
    if n < 0:
        raise btql.BindError("'version' must be >= 0")
    return n


async def compile_request(
    ctx: ServiceContext, principal: Principal, body: dict[str, Any], query: btql.Query | None = None
) -> btql.CompiledQuery:
    """Parse (unless `query` is given), authorize and compile a `/btql` request body."""
    store = ctx.require_store()
    objects: ObjectResolver = ctx.shared["objects"]
    t0 = time.perf_counter()
    q = query if query is not None else await parse(body["query"])
    parse_s = time.perf_counter() - t0
    scope = await build_scope(objects, principal.org_id, btql.source_of(q), _version(body))
    tz = body.get("tz_offset", 0)
    lint = "strict" if body.get("strict_lint_mode") or body.get("lint_mode") == "strict" else "default"
    audit_log = body.get("audit_log", False)
    if not isinstance(audit_log, bool):
        raise btql.BindError(f"'audit_log' must be true or false, got {audit_log!r}")
    t1 = time.perf_counter()
    cq = await off_loop(
        btql.compile_query,
        q,
        scope,
        db=store.database,
        tz_offset=tz if isinstance(tz, int) else 0,
        lint_mode=lint,
        audit_log=audit_log,
    )
    BTQL_COMPILE_SECONDS.observe(parse_s + time.perf_counter() - t1)  # not the scope look-ups
    return cq


# per store: which of btql.OPTIONAL_SETTINGS its engine knows (asked once, on first use)
_known_settings: weakref.WeakKeyDictionary[Store, frozenset[str]] = weakref.WeakKeyDictionary()


async def settings_for(store: Store, settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` without the optional ones the store's engine does not know (an older ClickHouse
    refuses unknown settings; each optional one turns off a feature such an engine lacks)."""
    if not any(k in btql.OPTIONAL_SETTINGS for k in settings):
        return settings
    known = _known_settings.get(store)
    if known is None:
        _, rows = await store.query(
            "SELECT name FROM system.settings WHERE name IN {names:Array(String)}",
            {"names": sorted(btql.OPTIONAL_SETTINGS)},
        )
        known = _known_settings[store] = frozenset(str(r[0]) for r in rows)
    return {k: v for k, v in settings.items() if k not in btql.OPTIONAL_SETTINGS or k in known}


async def execute(ctx: ServiceContext, cq: btql.CompiledQuery) -> btql.Page:
    store = ctx.require_store()
    t0 = time.perf_counter()
    cols, rows = await store.query(cq.sql, cq.params, await settings_for(store, cq.settings))
    page = await off_loop(cq.finish, cols, rows)
    BTQL_RUN_SECONDS.observe(time.perf_counter() - t0)
    return page


async def run_btql(ctx: ServiceContext, principal: Principal, body: dict[str, Any]) -> Response:
    t0 = time.perf_counter()
    try:
        fmt = body.get("fmt", "json")
        if fmt not in ("json", "parquet"):
            raise btql.BindError(f"unsupported fmt {fmt!r}: use 'json' or 'parquet'")
        cq = await compile_request(ctx, principal, body)
        if body.get("explain"):
            return JSONResponse(
                {"sql": cq.sql, "params": cq.params, "settings": cq.settings, "schema": cq.response_schema()}
            )
        page = await execute(ctx, cq)
    except btql.BtqlError as exc:
        return btql_error(exc)
    except StoreError as exc:
        return runtime_error(exc)
    headers = {"x-bt-api-duration-ms": f"{(time.perf_counter() - t0) * 1000:.1f}"}
    if page.cursor:
        headers["x-bt-cursor"] = page.cursor
    if fmt == "parquet":
        from loopline.query.parquet_output import to_parquet

        return Response(
            to_parquet(cq, page.data), media_type="application/vnd.apache.parquet", headers=headers
        )
    out: dict[str, Any] = {"data": page.data, "schema": cq.response_schema()}
    if page.cursor:
        out["cursor"] = page.cursor
    if cq.warnings:
        out["warnings"] = [w if isinstance(w, dict) else {"message": str(w)} for w in cq.warnings]
    # Every row acknowledged before this read began was written first (read-your-writes wait), so
    # what was considered is what was processed: transaction ids up to this second.
    now_xact = str(xact_for_time(time.time(), 0xFFFF))
    out["realtime_state"] = {"type": "on", "minimum_xact_id": now_xact, "actual_xact_id": now_xact}
    out["freshness_state"] = {"last_processed_xact_id": now_xact, "last_considered_xact_id": now_xact}
    return JSONResponse(out, headers=headers)
