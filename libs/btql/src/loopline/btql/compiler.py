"""Bound query → one parameterised ClickHouse SELECT (+ settings, column info, cursor logic).

The query's shape builds a SQL plan (`shapes.py`: spans, traces, summary, aggregates, infer),
rendered once here; `plan.enforce_scope` refuses the plan unless every read of the table carries
the scope. Keyset pagination is `keyset.py`'s; reading the result (decoding, pivot, next cursor)
is `results.py`'s. The tenant/object scope comes only from `Scope` and guards every read of the
table, including the ones inside ANY_SPAN / trace-selection subqueries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loopline.btql import newest as nf
from loopline.btql import rollup, shapes
from loopline.btql import schema as S
from loopline.btql.bound_query import BoundQuery
from loopline.btql.cursor import decode_cursor
from loopline.btql.errors import LintError, ScopeError
from loopline.btql.generator import Gen
from loopline.btql.options import Limits, Scope
from loopline.btql.plan import (
    Embedded,
    ScopedSource,
    Select,
    SqlPlan,
    Subquery,
    Table,
    enforce_scope,
    scope_conditions,
)
from loopline.btql.results import Column, Page, read_page

_DB = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DB_OK: set[str] = set()  # database names that passed _DB
LINT_MESSAGE = (
    "No filters available for segment elimination. Add a range filter on created, _xact_id, or "
    "_pagination_key, or scope to a specific root_span_id or id."
)


@dataclass(frozen=True)
class CompiledQuery:
    """The compiled SQL, its parameters and ClickHouse settings, and how to read the result.

    Run `sql` with `params` and `settings` (clickhouse-connect: `client.query(sql, parameters=params,
    settings=settings)`), then pass the result's column names and rows to `finish()`. The SQL
    fetches one row (or trace) more than `limit` so `finish()` knows whether a next page exists.
    """

    sql: str
    params: dict[str, Any]
    settings: dict[str, Any]
    columns: tuple[Column, ...]
    limit: int
    shape: str
    cursor_mode: str  # keyset | traces | offset
    fingerprint_fn: Callable[[], str]  # of the query and scope; computed when a cursor is read or written
    warnings: tuple[dict[str, str], ...] = ()
    keys: tuple[tuple[str, bool], ...] = ()  # (kind, nullable) of the hidden key columns _k0..
    offset: int = 0
    pivot: tuple[str, ...] = ()  # measure names pivoted on the last dimension
    ndims: int = 0
    _unit_keys: int = 0
    # the pre-aggregated hours could answer this query (`rollup.py`): compile it again with the
    # project's clean hours (`rollup_hours=`) to read them
    rollup_eligible: bool = False
    rollup_used: bool = False
    # a newest-first way to the same answer, tried first by `statements()` (`newest.py`)
    newest: nf.NewestFirst | None = None

    @functools.cached_property
    def fingerprint(self) -> str:
        return self.fingerprint_fn()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def response_schema(self) -> dict[str, Any]:
        """JSON Schema of the rows (the `schema` field of a BTQL response)."""
        if self.pivot:
            return {"type": "array", "items": {"type": "object"}}
        props = {c.name: c.json_schema() for c in self.columns}
        return {"type": "array", "items": {"type": "object", "properties": props}}

    def explain(self) -> str:
        return explain_compiled(self)

    def statements(self) -> nf.Statements:
        """The statements that answer the query, one at a time: run each (`sql, params`, with
        `settings`) and send its (column names, rows) back; the generator's return value is what
        `finish()` reads. Usually one statement (`sql`); a page sorted newest first tries the
        cheaper newest-first reads before it (`newest.py`). Running `sql` alone gives the same
        answer, only slower on a large object."""
        return nf.statements(self.newest, self.sql, self.params, self.limit)

    def run(self, query: Callable[[str, dict[str, Any]], nf.Result]) -> Page:
        """Run the statements with `query(sql, params)` (which applies `settings`) and read the page."""
        steps = self.statements()
        sql, params = next(steps)
        while True:
            try:
                sql, params = steps.send(query(sql, params))
            except StopIteration as done:
                cols, rows = done.value
                return self.finish(list(cols), list(rows))

    async def collect(self, query: Callable[[str, dict[str, Any]], Awaitable[nf.Result]]) -> nf.Result:
        """Run the statements with `await query(sql, params)` (which applies `settings`); the
        (column names, rows) to pass to `finish()`."""
        return await nf.collect(self.statements(), query)

    def finish(self, column_names: list[str] | tuple[str, ...], rows: list[Any] | tuple[Any, ...]) -> Page:
        """Decode raw result rows into user rows and compute the next cursor (`results.read_page`)."""
        return read_page(self, column_names, rows)


@functools.lru_cache(maxsize=4096)
def _source_of(
    scope: Scope, db: str
) -> tuple[Table | Subquery, tuple[str, ...], tuple[tuple[str, Any], ...]]:
    """What a read of the scope's rows selects FROM, the conditions it adds to its WHERE, and the
    scope parameters. Dataset rows: the latest version of each row as of the scope's version (the
    scope conditions inside); span rows: `spans FINAL` with the scope conditions in each read."""
    conds, params = scope_conditions(scope)
    if scope.object_type == S.DATASET:
        latest = Select(
            ("*",),
            Table(f"{db}.dataset_rows"),
            where=conds,
            order_by=("object_id", "id", "_xact_id DESC"),
            limit="1",
            limit_by="object_id, id",
        )
        live = Select(("*",), Subquery(latest), where=("_is_deleted = 0",))
        return Subquery(live, "_d"), (), tuple(params.items())
    # no `_is_deleted = 0`: FINAL on ReplacingMergeTree(_xact_id, _is_deleted) drops tombstoned rows
    return Table(f"{db}.spans", final=True), conds, tuple(params.items())


def compile_bound(
    bq: BoundQuery,
    scope: Scope,
    *,
    limits: Limits,
    db: str,
    tz_offset: int,
    lint_mode: str,
    fingerprint: str | Callable[[], str],
    text_casefold: dict[str, bool] | None = None,
    rollup_hours: Sequence[rollup.CleanHour] | None = None,
) -> CompiledQuery:
    """`fingerprint` (or a function computing it) ties cursors to this query and scope.

    `rollup_hours`: the scope's clean pre-aggregated hours (`rollup.clean_hours_sql`); an
    aggregate query they can answer reads them instead of those hours' rows.

    Builds the SQL plan of the query's shape, renders it once, and refuses it unless every read
    of the table carries the scope's conditions (`plan.enforce_scope`)."""
    if db not in _DB_OK:
        if not _DB.match(db):
            raise ValueError(f"invalid database name {db!r}")
        if len(_DB_OK) < 64:
            _DB_OK.add(db)
    _check_scope(bq, scope)
    warnings = list(bq.warnings)
    if scope.object_type == S.PROJECT_LOGS and not bq.has_range_filter:
        if lint_mode == "strict":
            raise LintError(LINT_MESSAGE, code="missingSegmentEliminationSpecs")
        warnings.append(
            {
                "code": "missingSegmentEliminationSpecs",
                "message": LINT_MESSAGE,
                "stage": "optimizer",
                "severity": "warning",
            }
        )

    embedded = Embedded()
    from_, conds, scope_params = _source_of(scope, db)
    src = ScopedSource(from_, conds, embedded)
    gen = Gen(
        tz_offset=tz_offset,
        text_casefold=text_casefold,
        spans=src,
        out_exprs=None if bq.aggregate else [o.expr for o in bq.outputs],
    )
    gen.params.update(scope_params)

    limit = bq.limit if bq.limit is not None else limits.default_limit
    if limit > limits.max_limit:
        warnings.append(
            {
                "code": "limitCapped",
                "message": f"limit capped at {limits.max_limit}",
                "stage": "compiler",
                "severity": "warning",
            }
        )
        limit = limits.max_limit
    if isinstance(fingerprint, str):
        fixed = fingerprint

        def fingerprint_fn() -> str:
            return fixed
    else:
        fingerprint_fn = fingerprint
    payload = decode_cursor(bq.cursor, fingerprint_fn()) if bq.cursor else None
    summary = bq.shape == "summary"
    filt = gen.cond(bq.filter) if bq.filter is not None else None
    ctx = shapes.ShapeInput(gen, bq, src, limit, payload, summary, filt)
    analysis = rollup.analyze(bq, scope, tz_offset) if bq.aggregate else None

    if bq.infer is not None:
        out = shapes.infer(ctx)
    elif analysis is not None and rollup_hours:
        out = rollup.plan_aggregate(ctx, analysis, rollup_hours, db)
    elif bq.aggregate:
        out = shapes.aggregate(ctx)
    elif summary:
        out = shapes.summary_rows(ctx)
    elif bq.shape == "traces":
        out = shapes.traces(ctx)
    else:
        out = shapes.span_rows(ctx)

    plan = SqlPlan.of(out.select, gen.params, db, embedded)
    enforce_scope(plan, scope)
    fast = None
    if out.newest is not None and limits.newest_windows:
        pre, windowed = (SqlPlan.of(s, gen.params, db, embedded) for s in out.newest)
        enforce_scope(pre, scope)
        enforce_scope(windowed, scope)
        fast = nf.NewestFirst(pre.sql, windowed.sql, nf.windows(limit, limits.newest_windows))
    return CompiledQuery(
        sql=plan.sql,
        params=gen.params,
        settings=limits.settings(),
        columns=out.columns,
        limit=limit,
        shape=bq.shape,
        cursor_mode=out.cursor_mode,
        fingerprint_fn=fingerprint_fn,
        warnings=tuple(warnings),
        keys=out.keys,
        offset=out.offset,
        pivot=tuple(bq.pivot),
        ndims=bq.ndims,
        _unit_keys=out.unit_keys,
        rollup_eligible=analysis is not None,
        rollup_used=analysis is not None and bool(rollup_hours),
        newest=fast if fast is not None and fast.windows else None,
    )


def _check_scope(bq: BoundQuery, scope: Scope) -> None:
    src = bq.source
    if src.object_type != scope.object_type:
        raise ScopeError(
            f"the query reads {src.object_type} but the request is scoped to {scope.object_type}"
        )
    if src.object_ids != scope.object_ids and set(src.object_ids) != set(scope.object_ids):
        raise ScopeError(f"the query's {src.object_type} ids do not match the authorized scope")
    if src.project_id is not None and scope.project_ids and src.project_id not in scope.project_ids:
        raise ScopeError("the query's project id does not match the authorized scope")


def fingerprint_of(parts: list[Any]) -> str:
    h = hashlib.blake2b(repr(parts).encode(), digest_size=9)
    return h.hexdigest()


_KW = re.compile(r" (FROM|WHERE|GROUP BY|HAVING|ORDER BY|LIMIT|ARRAY JOIN|INNER JOIN) ")


def explain_compiled(cq: CompiledQuery) -> str:
    """Human-readable SQL with its parameters and settings (for debugging; never execute)."""
    sql = _KW.sub(lambda m: "\n" + m.group(1) + " ", cq.sql)
    lines = [f"-- shape: {cq.shape}, limit: {cq.limit}, pagination: {cq.cursor_mode}", sql]
    lines.append("-- params: " + json.dumps(cq.params, ensure_ascii=False, default=str))
    lines.append("-- settings: " + json.dumps(cq.settings, default=str))
    lines.append("-- columns: " + ", ".join(f"{c.name} ({c.type})" for c in cq.columns))
    if cq.newest is not None:
        lines.append(f"-- newest first, windows {list(cq.newest.windows)}: pre-scan")
        lines.append(_KW.sub(lambda m: "\n" + m.group(1) + " ", cq.newest.prescan_sql))
        lines.append("-- then the windowed read")
        lines.append(_KW.sub(lambda m: "\n" + m.group(1) + " ", cq.newest.sql))
    for w in cq.warnings:
        lines.append(f"-- warning {w['code']}: {w['message']}")
    return "\n".join(lines)
