"""General BTQL queries over HTTP: authorize the source, compile with loopline.btql, run, and
shape the response (`run_btql` returns it; the routes are in routes.py).

The tenant and objects come from the caller's principal and the control plane, never from the
query: `source_of` says what the query asks for; each object must belong to the caller's org
(else a `ScopeError`), and the compiler injects that scope into every table read. Errors are
`btql.BtqlError`s and `QueryFailed` (the store could not run it), answered by query's error table
(errors.py) with the BTQL error body.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Response
from loopline.common.auth import Principal
from loopline.common.control_plane import ProjectLookup
from loopline.common.http import JSONResponse
from loopline.common.metrics import BTQL_COMPILE_SECONDS, BTQL_RUN_SECONDS
from loopline.common.store import Store, StoreError
from loopline.common.store.engine_settings import known_only
from loopline.common.xact import xact_for_time
from loopline.query.rollups import clean_hours
from loopline.query.state import State

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


class QueryFailed(Exception):
    """The store could not run a compiled query (a time or memory limit, a value it refused...)."""

    def __init__(self, cause: StoreError) -> None:
        super().__init__(str(cause))
        self.cause = cause

    def classify(self) -> tuple[int, str]:
        """(status, message) for the client."""
        text = str(self.cause)
        for code, (status, message) in _RUNTIME_CODES.items():
            if code in text:
                return status, message
        return 400, "the query failed in the store"


def query_failed_body(exc: QueryFailed, status: int) -> dict[str, Any]:
    _, message = exc.classify()
    detail = re.sub(r"\s+", " ", str(exc.cause))[:500]
    return {
        "Message": f"RuntimeError: {message}",
        "error": {"class": "RuntimeError", "status": status, "message": message, "detail": detail},
    }


def btql_error_body(exc: btql.BtqlError, status: int) -> dict[str, Any]:
    body = exc.to_json()
    err = body.get("error", {})
    body["Message"] = f"{err.get('class', 'Error')}: {err.get('message', str(exc))}"
    return body


async def build_scope(
    objects: ProjectLookup, org_id: str, src: btql.SourceRef, version: int | None
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
    state: State, principal: Principal, body: dict[str, Any], query: btql.Query | None = None
) -> btql.CompiledQuery:
    """Parse (unless `query` is given), authorize and compile a `/btql` request body."""
    store = state.store
    t0 = time.perf_counter()
    q = query if query is not None else await parse(body["query"])
    parse_s = time.perf_counter() - t0
    scope = await build_scope(state.control_plane, principal.org_id, btql.source_of(q), _version(body))
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
    if cq.rollup_eligible and state.rollups and len(scope.object_ids) == 1:
        # the pre-aggregated hours can answer it: compile again with the project's clean hours
        hours = await clean_hours(state.store, scope.org_id, scope.object_ids[0], state.rollup_quiet_s)
        if hours:
            cq = await off_loop(
                btql.compile_query,
                q,
                scope,
                db=store.database,
                tz_offset=tz if isinstance(tz, int) else 0,
                lint_mode=lint,
                audit_log=audit_log,
                rollup_hours=hours,
            )
    BTQL_COMPILE_SECONDS.observe(parse_s + time.perf_counter() - t1)  # not the scope look-ups
    return cq


async def settings_for(store: Store, settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` without the optional ones the store's engine does not know (an older ClickHouse
    refuses unknown settings; each optional one turns off a feature such an engine lacks)."""
    return await known_only(store, settings, btql.OPTIONAL_SETTINGS)


async def execute(state: State, cq: btql.CompiledQuery) -> btql.Page:
    store = state.store
    t0 = time.perf_counter()
    settings = await settings_for(store, cq.settings)

    async def query(sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        return await store.query(sql, params, settings)

    # usually one statement; a page sorted newest first tries its newest-first reads first
    if state.newest_first:
        cols, rows = await cq.collect(query)
    else:
        cols, rows = await query(cq.sql, cq.params)
    page = await off_loop(cq.finish, list(cols), list(rows))
    BTQL_RUN_SECONDS.observe(time.perf_counter() - t0)
    return page


async def run_btql(state: State, principal: Principal, body: dict[str, Any]) -> Response:
    t0 = time.perf_counter()
    fmt = body.get("fmt", "json")
    if fmt not in ("json", "parquet"):
        raise btql.BindError(f"unsupported fmt {fmt!r}: use 'json' or 'parquet'")
    try:
        cq = await compile_request(state, principal, body)
        if body.get("explain"):
            return JSONResponse(
                {"sql": cq.sql, "params": cq.params, "settings": cq.settings, "schema": cq.response_schema()}
            )
        page = await execute(state, cq)
    except StoreError as exc:  # the scope look-ups or the query itself
        raise QueryFailed(exc) from exc
    headers = {"x-bt-api-duration-ms": f"{(time.perf_counter() - t0) * 1000:.1f}"}
    if page.cursor:
        headers["x-bt-cursor"] = page.cursor
    if fmt == "parquet":
        from loopline.query.parquet_output import to_parquet  # pyarrow: loaded only when asked

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
