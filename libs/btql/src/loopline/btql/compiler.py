"""Bound query → one parameterised ClickHouse SELECT (+ settings, column info, cursor logic).

Each shape compiles into a SQL plan (`plan.Select`, one function per shape below), rendered once;
`plan.enforce_scope` refuses the plan unless every read of the table carries the scope. Reading
the result (decoding, pivot, next cursor) is `results.py`'s.

Shapes:
- spans: one row per span (or per unpivoted element), keyset-paginated over the sort key + row id;
- traces: whole traces; the filter picks traces (a trace matches when one of its spans does),
  `limit` counts traces, pages never split a trace;
- summary: one row per trace (GROUP BY object_id, root_span_id) with root-span previews, scores
  averaged over spans and summed/counted metrics;
- aggregates (dimensions/measures): GROUP BY; paginated by offset.
The tenant/object scope comes only from `Scope` and guards every read of the table, including
the ones inside ANY_SPAN / trace-selection subqueries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.bound_query import BoundQuery, Output
from loopline.btql.cursor import check_key, cursor_mismatch, cursor_offset, decode_cursor
from loopline.btql.errors import LintError, ScopeError
from loopline.btql.generator import Gen
from loopline.btql.options import Limits, Scope
from loopline.btql.plan import (
    Embedded,
    FromItem,
    Join,
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
DEFAULT_PREVIEW_LENGTH = 124
LINT_MESSAGE = (
    "No filters available for segment elimination. Add a range filter on created, _xact_id, or "
    "_pagination_key, or scope to a specific root_span_id or id."
)

_KIND = {
    S.STRING: "string",
    S.NUMBER: "number",
    S.INTEGER: "integer",
    S.XACT: "xact",
    S.DATETIME: "datetime",
    S.BOOL: "bool",
    S.JSON: "raw",
}


@dataclass(frozen=True, slots=True)
class _Key:
    sql: str
    dir: str
    nullable: bool
    kind: str


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

    def finish(self, column_names: list[str] | tuple[str, ...], rows: list[Any] | tuple[Any, ...]) -> Page:
        """Decode raw result rows into user rows and compute the next cursor (`results.read_page`)."""
        return read_page(self, column_names, rows)


# ------------------------------------------------------------------------------------- compile


def _out_sql(gen: Gen, o: Output, preview_length: int | None, summary: bool, dim: bool) -> tuple[str, str]:
    """SQL of an output column and its decoder."""
    b = o.expr
    t = b.type
    if t == S.JSON:
        if (
            summary
            and isinstance(b, Bd.BJson)
            and isinstance(b.base, str)
            and not b.path
            and b.base[3:] in ("input", "output", "expected", "error", "metadata")
        ):
            n = DEFAULT_PREVIEW_LENGTH if preview_length is None else preview_length
            if n >= 0:
                return f"substringUTF8({b.base}, 1, {gen.param(n, 'Int64')})", "preview"
        return gen.r(b, "value" if dim else "raw"), "json"
    if t == S.XACT:
        return f"toString({gen.r(b)})", "value"
    if t == S.DATETIME:
        return gen.r(b), "datetime"
    if t == S.NUMBER:
        return gen.r(b), "number"
    if t == S.BOOL:
        return gen.r(b, "bool"), "value"
    if t == S.NULL:
        return "NULL", "value"
    return gen.r(b), "value"


def _keys_for(gen: Gen, b: Bd.B, d: str) -> list[_Key]:
    if isinstance(b, Bd.BOutRef) and gen.out_exprs is not None:
        b = gen.out_exprs[b.index]
    if not Bd.contains(b, Bd.VARYING):
        return []  # a constant orders nothing (and a number would read as a column position)
    if isinstance(b, Bd.BCol) and b.sort_sql:
        return [_Key(s, d, False, _kind_of_sort_sql(s, b)) for s in b.sort_sql]
    if b.type == S.JSON:
        return [_Key(gen.r(b, "number"), d, True, "number"), _Key(gen.r(b, "raw"), d, True, "raw")]
    nonnull = (isinstance(b, Bd.BCol) and b.nonnull) or (isinstance(b, Bd.BOutRef) and b.nonnull)
    kind = _KIND.get(b.type)
    if kind is None:  # the binder refuses such sort keys (Bd.VARYING)
        raise ValueError(f"cannot sort by a {b.type}")
    sql = gen.r(b, "bool") if b.type == S.BOOL else gen.r(b)
    return [_Key(sql, d, not nonnull, kind)]


def _kind_of_sort_sql(s: str, b: Bd.BCol) -> str:
    if s in ("created", "_s_created"):
        return "datetime"
    if s in ("_xact_id", "_s__xact_id"):
        return "xact"
    return _KIND.get(b.type, "string") if s == b.sql else "string"


def _key_param(gen: Gen, kind: str, v: Any) -> str:
    if kind == "datetime":
        return f"toDateTime64({gen.param(v, 'String')}, 6, 'UTC')"
    t = {
        "string": "String",
        "raw": "String",
        "number": "Float64",
        "integer": "Int64",
        "xact": "UInt64",
        "bool": "Bool",
    }[kind]
    return gen.param(v, t)


def _keyset(gen: Gen, keys: list[_Key], values: list[Any]) -> str:
    if len(values) != len(keys):
        raise cursor_mismatch()
    vals = [check_key(v, k.kind, k.nullable) for k, v in zip(keys, values, strict=True)]
    dirs = {k.dir for k in keys}
    if all(not k.nullable for k in keys) and len(dirs) == 1:
        op = ">" if dirs == {"asc"} else "<"
        lhs = ", ".join(k.sql for k in keys)
        rhs = ", ".join(_key_param(gen, k.kind, v) for k, v in zip(keys, vals, strict=True))
        return f"(({lhs}) {op} ({rhs}))"
    params = [None if v is None else _key_param(gen, k.kind, v) for k, v in zip(keys, vals, strict=True)]
    disj: list[str] = []
    for i, k in enumerate(keys):
        if vals[i] is None:
            continue
        conj = []
        for j in range(i):
            conj.append(f"({keys[j].sql} IS NULL)" if vals[j] is None else f"({keys[j].sql} = {params[j]})")
        after = f"({k.sql} {'>' if k.dir == 'asc' else '<'} {params[i]})"
        if k.nullable:
            after = f"({after} OR ({k.sql} IS NULL))"
        conj.append(after)
        disj.append("(" + " AND ".join(conj) + ")")
    return "(" + " OR ".join(disj) + ")" if disj else "false"


def _order(keys: list[_Key], aliases: list[str] | None = None) -> tuple[str, ...]:
    parts = []
    for i, k in enumerate(keys):
        sql = aliases[i] if aliases else k.sql
        parts.append(f"{sql} {k.dir.upper()}" + (" NULLS LAST" if k.nullable else ""))
    return tuple(parts)


def _array_join(gen: Gen, bq: BoundQuery) -> tuple[tuple[str, ...], list[_Key]]:
    if not bq.unpivots:
        return (), []
    clauses: list[str] = []
    ties: list[_Key] = []
    for u in bq.unpivots:
        parts: list[str] = []
        a = u.alias
        if u.kind == "map":
            m = gen.r(u.source)
            parts += [f"mapKeys({m}) AS {a}k", f"mapValues({m}) AS {a}v"]
            ties.append(_Key(f"{a}k", "asc", False, "string"))
        elif u.kind == "object":
            t1, t2 = gen.r(u.source, "raw"), gen.r(u.source, "raw")
            parts += [
                f"arrayMap(t -> t.1, JSONExtractKeysAndValuesRaw({t1})) AS {a}k",
                f"arrayMap(t -> t.2, JSONExtractKeysAndValuesRaw({t2})) AS {a}v",
            ]
            ties.append(_Key(f"{a}k", "asc", False, "string"))
        elif u.kind == "array":
            t1, t2 = gen.r(u.source), gen.r(u.source)
            parts += [f"{t1} AS {a}v", f"arrayEnumerate({t2}) AS {a}i"]
            ties.append(_Key(f"{a}i", "asc", False, "integer"))
        else:
            t1, t2 = gen.r(u.source, "raw"), gen.r(u.source, "raw")
            parts += [
                f"JSONExtractArrayRaw({t1}) AS {a}v",
                f"arrayEnumerate(JSONExtractArrayRaw({t2})) AS {a}i",
            ]
            ties.append(_Key(f"{a}i", "asc", False, "integer"))
        clauses.append(", ".join(parts))
    return tuple(clauses), ties


_TRACE_KEY = "object_id, root_span_id"
_SUMMARY_TRACE_KEY = "_s_object_id, _s_root_span_id"


def _sample_cond(gen: Gen, bq: BoundQuery, by_trace: bool, key: str | None = None) -> str | None:
    """Rate sampling: a hash of the row (or trace) key under the rate. `key`: the trace key's
    columns where they are not `object_id, root_span_id` (the summary's)."""
    s = bq.sample
    if s is None or s.rate is None:
        return None
    seed = gen.param(int(s.seed or 0) & (2**64 - 1), "UInt64")
    ppm = gen.param(round(s.rate * 1_000_000), "UInt64")
    key = key or (_TRACE_KEY if by_trace else "object_id, id")
    return f"(cityHash64({key}, {seed}) % 1000000 < {ppm})"


def _count_sample(
    gen: Gen,
    bq: BoundQuery,
    src: ScopedSource,
    extra: tuple[str, ...],
    by_trace: bool,
    key: str | None = None,
) -> str | None:
    """Count sampling: the row (or trace) key among the first `count` keys of the scope's rows
    matching `extra`, in the order of a seeded hash."""
    s = bq.sample
    if s is None or s.count is None:
        return None
    seed = gen.param(int(s.seed or 0) & (2**64 - 1), "UInt64")
    n = gen.param(int(s.count), "UInt64")
    if by_trace:
        return src.member(
            key or _TRACE_KEY,
            ("object_id", "root_span_id"),
            extra,
            group_by=("object_id", "root_span_id"),
            order_by=(f"cityHash64(object_id, root_span_id, {seed})",),
            limit=n,
        )
    return src.member(
        "object_id, id", ("object_id", "id"), extra, order_by=(f"cityHash64(object_id, id, {seed})",), limit=n
    )


def _summary_inner(gen: Gen, bq: BoundQuery, src: ScopedSource, filt: str | None) -> Subquery:
    used = set(bq.summary_used) | {"created"}
    cols = ["object_id AS _s_object_id", "root_span_id AS _s_root_span_id"]
    for sf in S.SUMMARY_FIELDS:
        if sf.name in used and sf.name not in ("object_id", "root_span_id"):
            cols.append(f"{sf.sql} AS _s_{sf.name}")
    want_all_metrics = "metrics" in used
    for name, _typ, sql in S.SUMMARY_METRICS:
        if want_all_metrics or f"m_{name}" in used:
            cols.append(f"{sql} AS _s_m_{name}")
    if want_all_metrics:
        tuple_types = ", ".join(
            f"{n} {'Int64' if t == S.INTEGER else 'Nullable(Float64)'}" for n, t, _ in S.SUMMARY_METRICS
        )
        names = ", ".join(f"_s_m_{n}" for n, _, _ in S.SUMMARY_METRICS)
        cols.append(f"toJSONString(CAST(tuple({names}), 'Tuple({tuple_types})')) AS _s_metrics")
    inner = src.select(
        tuple(cols),
        group_by=("object_id", "root_span_id"),
        having=f"countIf({filt}) > 0" if filt else None,
    )
    return Subquery(inner, "_s")


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


@dataclass(slots=True)
class _Shape:
    """What every shape's compilation starts from."""

    gen: Gen
    bq: BoundQuery
    src: ScopedSource
    limit: int
    payload: dict[str, Any] | None
    summary: bool
    filt: str | None


@dataclass(slots=True)
class _Compiled:
    """A shape's plan and how to read its result."""

    select: Select
    columns: tuple[Column, ...]
    cursor_mode: str
    keys: tuple[tuple[str, bool], ...] = ()
    offset: int = 0
    unit_keys: int = 0


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
) -> CompiledQuery:
    """`fingerprint` (or a function computing it) ties cursors to this query and scope.

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
    ctx = _Shape(gen, bq, src, limit, payload, summary, filt)

    if bq.infer is not None:
        out = _infer(ctx)
    elif bq.aggregate:
        out = _aggregate(ctx)
    elif summary:
        out = _summary_rows(ctx)
    elif bq.shape == "traces":
        out = _traces(ctx)
    else:
        out = _span_rows(ctx)

    plan = SqlPlan.of(out.select, gen.params, db, embedded)
    enforce_scope(plan, scope)
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
    )


def _rows_from(ctx: _Shape) -> tuple[FromItem, list[str]]:
    """FROM and the row conditions of the row-level read (scope, filter, sampling)."""
    gen, bq, src, filt = ctx.gen, ctx.bq, ctx.src, ctx.filt
    if ctx.summary:
        from_ = _summary_inner(gen, bq, src, filt)
        row_conds: list[str] = []
        if bq.sample is not None:
            sc = _sample_cond(gen, bq, True, _SUMMARY_TRACE_KEY)
            cs = _count_sample(gen, bq, src, (filt,) if filt else (), True, _SUMMARY_TRACE_KEY)
            row_conds += [c for c in (sc, cs) if c]
        return from_, row_conds
    row_conds = list(src.conds)
    if bq.shape == "traces" and filt is not None and bq.aggregate:
        row_conds.append(src.member(_TRACE_KEY, ("object_id", "root_span_id"), (filt,)))
    elif bq.shape != "traces" and filt is not None:
        row_conds.append(filt)
    if bq.shape == "traces" and bq.filter_spans is not None:
        row_conds.append(gen.cond(bq.filter_spans))
    by_trace = bq.shape == "traces"
    sc = _sample_cond(gen, bq, by_trace)
    if sc and not (bq.shape == "traces" and not bq.aggregate):
        row_conds.append(sc)
    cs = _count_sample(gen, bq, src, (filt,) if filt else (), by_trace)
    if cs and not (bq.shape == "traces" and not bq.aggregate):
        row_conds.append(cs)
    return src.from_, row_conds


def _aggregate(ctx: _Shape) -> _Compiled:
    """dimensions/measures: GROUP BY (a second stage over the first for final_*), paginated by offset."""
    gen, bq = ctx.gen, ctx.bq
    from_, row_conds = _rows_from(ctx)
    array_join, _ = _array_join(gen, bq)
    offset = cursor_offset(ctx.payload) if ctx.payload is not None else 0
    having = gen.cond(bq.final_filter) if bq.final_filter is not None else None
    if bq.stage1 is not None:  # the first stage (with its HAVING) is the final stage's table
        sel1, group1, _ = _grouped(gen, bq.stage1, bq.stage1_ndims, bq, ctx.summary, "c")
        stage1 = Select(
            sel1, from_, array_join=array_join, where=tuple(row_conds), group_by=group1, having=having
        )
        sel, group, columns = _grouped(gen, bq.outputs, bq.ndims, bq, False, "f")
        from_, array_join, where, having, prefix = Subquery(stage1, "_stage1"), (), None, None, "f"
    else:
        sel, group, columns = _grouped(gen, bq.outputs, bq.ndims, bq, ctx.summary, "c")
        where, prefix = tuple(row_conds), "c"
    order_parts: list[str] = []
    seen: set[str] = set()
    for b, d in bq.sort:
        for k in _keys_for(gen, b, d):
            order_parts.append(f"{k.sql} {d.upper()}" + (" NULLS LAST" if k.nullable else ""))
            seen.add(k.sql)
    for i in range(bq.ndims):
        if f"{prefix}{i}" not in seen:
            order_parts.append(f"{prefix}{i} ASC NULLS LAST")
    limit = offset_sql = None
    if not bq.pivot:
        limit, offset_sql = gen.param(ctx.limit + 1, "UInt64"), gen.param(offset, "UInt64")
    select = Select(
        sel,
        from_,
        array_join=array_join,
        where=where,
        group_by=group,
        having=having,
        order_by=tuple(order_parts),
        limit=limit,
        offset=offset_sql,
    )
    return _Compiled(select, tuple(columns), "offset", offset=offset)


def _row_columns(ctx: _Shape) -> tuple[list[str], list[Column]]:
    sel: list[str] = []
    columns: list[Column] = []
    for i, o in enumerate(ctx.bq.outputs):
        b = o.expr
        if type(b) is Bd.BCol:  # a column's SQL takes no parameters: the same for every query
            key = (o.name, b, i)
            hit = _COLUMN_SQL.get(key)
            if hit is None:
                sql, dec = _out_sql(ctx.gen, o, ctx.bq.preview_length, ctx.summary, dim=False)
                hit = _COLUMN_SQL[key] = (f"{sql} AS c{i}", Column(o.name, b.type, dec, f"c{i}"))
                if len(_COLUMN_SQL) > 8192:
                    _COLUMN_SQL.clear()
            sel.append(hit[0])
            columns.append(hit[1])
            continue
        sql, dec = _out_sql(ctx.gen, o, ctx.bq.preview_length, ctx.summary, dim=False)
        sel.append(f"{sql} AS c{i}")
        columns.append(Column(o.name, b.type, dec, f"c{i}"))
    return sel, columns


# (output name, column, position) -> (select item, Column) of row queries' plain-column outputs
_COLUMN_SQL: dict[tuple[str, Bd.BCol, int], tuple[str, Column]] = {}


def _user_keys(ctx: _Shape) -> tuple[list[_Key], str]:
    user_keys: list[_Key] = []
    for b, d in ctx.bq.sort:
        user_keys += _keys_for(ctx.gen, b, d)
    return user_keys, ctx.bq.sort[-1][1] if ctx.bq.sort else "desc"


def _summary_rows(ctx: _Shape) -> _Compiled:
    """One row per trace, keyset-paginated (ties broken by the trace's ids)."""
    gen, bq = ctx.gen, ctx.bq
    from_, row_conds = _rows_from(ctx)
    _array_join(gen, bq)  # (no unpivot in summaries: the binder refuses it)
    sel, columns = _row_columns(ctx)
    if bq.final_filter is not None:
        row_conds.append(gen.cond(bq.final_filter))
    user_keys, last_dir = _user_keys(ctx)
    if not user_keys:
        user_keys = [_Key("_s_created", "desc", False, "datetime")]
    ties = [
        _Key("_s_root_span_id", last_dir, False, "string"),
        _Key("_s_object_id", last_dir, False, "string"),
    ]
    keys = user_keys + ties
    if ctx.payload is not None:
        row_conds.append(_keyset(gen, keys, ctx.payload.get("k") or []))
    hidden = [f"{k.sql} AS _k{i}" for i, k in enumerate(keys)]
    select = Select(
        tuple(sel + hidden),
        from_,
        where=tuple(row_conds),
        order_by=_order(keys),
        limit=gen.param(ctx.limit + 1, "UInt64"),
    )
    return _Compiled(select, tuple(columns), "keyset", keys=tuple((k.kind, k.nullable) for k in keys))


def _span_rows(ctx: _Shape) -> _Compiled:
    """One row per span (or unpivoted element), keyset-paginated over the sort key + row id."""
    gen, bq = ctx.gen, ctx.bq
    from_, row_conds = _rows_from(ctx)
    array_join, unpivot_ties = _array_join(gen, bq)
    sel, columns = _row_columns(ctx)
    if bq.final_filter is not None:
        row_conds.append(gen.cond(bq.final_filter))
    user_keys, last_dir = _user_keys(ctx)
    if not user_keys:
        user_keys = [_Key("created", "desc", False, "datetime")]
    ties = [_Key("id", last_dir, False, "string"), _Key("object_id", last_dir, False, "string")]
    ties += [_Key(t.sql, last_dir, t.nullable, t.kind) for t in unpivot_ties]
    keys = list(user_keys)
    key_sqls = {k.sql for k in keys}
    for t in ties:
        if t.sql not in key_sqls:
            key_sqls.add(t.sql)
            keys.append(t)
    if ctx.payload is not None:
        row_conds.append(_keyset(gen, keys, ctx.payload.get("k") or []))
    hidden = [f"{k.sql} AS _k{i}" for i, k in enumerate(keys)]
    select = Select(
        tuple(sel + hidden),
        from_,
        array_join=array_join,
        where=tuple(row_conds),
        order_by=_order(keys),
        limit=gen.param(ctx.limit + 1, "UInt64"),
    )
    return _Compiled(select, tuple(columns), "keyset", keys=tuple((k.kind, k.nullable) for k in keys))


def _grouped(
    gen: Gen, outputs: list[Output], ndims: int, bq: BoundQuery, summary: bool, prefix: str
) -> tuple[tuple[str, ...], tuple[str, ...], list[Column]]:
    """Select list (`<output> AS prefix0..`), GROUP BY keys and columns of one aggregation stage."""
    sel: list[str] = []
    group: list[str] = []
    columns: list[Column] = []
    for i, o in enumerate(outputs):
        key = gen.narrow_group_key(o.expr) if i < ndims else None
        if key is not None:  # group by the narrow key; widen each group's key, not each row's
            sql, dec = f"toDateTime64({key}, 6, 'UTC')", "datetime"
        else:
            sql, dec = _out_sql(gen, o, bq.preview_length, summary, dim=i < ndims)
        sel.append(f"{sql} AS {prefix}{i}")
        if i < ndims:
            group.append(key if key is not None else f"{prefix}{i}")
        columns.append(Column(o.name, o.expr.type, dec, f"{prefix}{i}"))
    return tuple(sel), tuple(group), columns


_INFER_COLUMNS = (
    Column("name", S.STRING, "value", "c0"),
    Column("type", S.STRING, "value", "c1"),
    Column("count", S.INTEGER, "number", "c2"),
)


def _infer(ctx: _Shape) -> _Compiled:
    """`infer:` — the JSON paths of the listed fields in the newest `inference_budget` matching rows:
    one row per (path, type) with how many sampled rows have it; the field itself is a path too
    (its top-level JSON type). Sorted by count, then name."""
    gen, bq = ctx.gen, ctx.bq
    assert bq.infer is not None
    from_, row_conds = _rows_from(ctx)
    _array_join(gen, bq)
    fields = []
    for name, b in bq.infer:
        fields.append(f"({gen.param(name, 'String')}, ifNull({gen.r(b, 'raw')}, ''))")
    budget = gen.param(bq.inference_budget, "UInt64")
    sampled = Select(
        (f"[{', '.join(fields)}] AS _fv",),
        from_,
        where=tuple(row_conds),
        order_by=("created DESC",),
        limit=budget,
    )
    # top-level type of each field, then every nested path of object values with its inferred type
    per_row = (
        "arrayConcat([(_f.1, toString(JSONType(_f.2)))], "
        "if(JSONType(_f.2) = 'Object', "
        "arrayMap((p, t) -> (concat(_f.1, '.', p), t), "
        "mapKeys(JSONAllPathsWithTypes(_f.2::JSON)), mapValues(JSONAllPathsWithTypes(_f.2::JSON))), []))"
    )
    # ClickHouse type names (JSONType's and the JSON type's inferred ones) → JSON type names
    jtype = (
        "multiIf(startsWith(lower(_p.2), 'array'), 'array', "
        "lower(_p.2) IN ('int64', 'uint64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8'), 'integer', "
        "lower(_p.2) IN ('double', 'float64', 'float32'), 'number', lower(_p.2) = 'bool', 'boolean', "
        "lower(_p.2) = 'date' OR startsWith(lower(_p.2), 'datetime'), 'string', lower(_p.2))"
    )
    values = Select(
        ("_f",), Subquery(sampled), array_join=("_fv AS _f",), where=("_f.2 IS NOT NULL", "_f.2 != ''")
    )
    select = Select(
        ("_p.1 AS c0", f"{jtype} AS c1", "count() AS c2"),
        Subquery(values),
        array_join=(f"{per_row} AS _p",),
        group_by=("c0", "c1"),
        order_by=("c2 DESC", "c0 ASC", "c1 ASC"),
        limit=gen.param(ctx.limit + 1, "UInt64"),
    )
    return _Compiled(select, _INFER_COLUMNS, "offset")


def _traces(ctx: _Shape) -> _Compiled:
    """Whole traces: pick `limit` traces (a trace matches when one of its spans matches the
    filter), ordered by the extreme of the first sort key over its matching spans."""
    gen, bq, src, filt, limit = ctx.gen, ctx.bq, ctx.src, ctx.filt, ctx.limit
    _, row_conds = _rows_from(ctx)
    _array_join(gen, bq)  # (no unpivot in traces: the binder refuses it)
    sel, columns = _row_columns(ctx)
    if bq.final_filter is not None:
        row_conds.append(gen.cond(bq.final_filter))
    user_keys, _ = _user_keys(ctx)
    if user_keys:
        first = user_keys[0]
        tdir = first.dir
        tk = f"{'max' if tdir == 'desc' else 'min'}({first.sql})"
        tk_kind, tk_null = first.kind, first.nullable
        if tk_kind == "datetime" and first.sql != "created":
            tk_null = True
    else:
        tdir, tk, tk_kind, tk_null = "desc", "max(created)", "datetime", False
    unit = [
        _Key("_tk", tdir, tk_null, tk_kind),
        _Key("_tr", tdir, False, "string"),
        _Key("_to", tdir, False, "string"),
    ]
    inner_conds: list[str] = []
    if filt:
        inner_conds.append(filt)
    sc = _sample_cond(gen, bq, True)
    if sc:
        inner_conds.append(sc)
    cs = _count_sample(gen, bq, src, (filt,) if filt else (), True)
    if cs:
        inner_conds.append(cs)
    having = None
    if ctx.payload is not None:
        having = _keyset(gen, unit, ctx.payload.get("k") or [])
    inner = src.select(
        (
            "object_id AS _to",
            "root_span_id AS _tr",
            f"{tk} AS _tk",
            "min(created) AS _tmin",
            "max(created) AS _tmax",
        ),
        tuple(inner_conds),
        group_by=("object_id", "root_span_id"),
        having=having,
        order_by=_order(unit),
        limit=gen.param(limit + 1, "UInt64"),
    )
    # The spans of a trace lie within TRACE_WINDOW of its matching spans: bounding the outer read
    # by that window lets partition and primary-key pruning skip the rest of the table. When the
    # filter bounds `created` on both sides with constants, the window follows from those bounds
    # (it contains the window of the matching spans); otherwise one tuple-valued scalar subquery
    # finds it (folded to constants before index analysis, but a second run of the trace search).
    static = _static_window(gen, bq.filter)
    with_: tuple[tuple[Select, str], ...] = ()
    if static is not None:
        window = static
    else:
        win = Select((f"(min(_tmin) - {TRACE_WINDOW}, max(_tmax) + {TRACE_WINDOW})",), Subquery(inner))
        with_ = ((win, "_win"),)
        window = ["created >= _win.1", "created <= _win.2"]
    span_keys = user_keys or [_Key("created", "asc", False, "datetime")]
    span_keys = [*span_keys, _Key("id", "asc", False, "string")]
    hidden = ["_t._tk AS _k0", "_t._tr AS _k1", "_t._to AS _k2"]
    hidden += [f"{k.sql} AS _k{i + 3}" for i, k in enumerate(span_keys)]
    order = _order(unit, ["_k0", "_k1", "_k2"]) + _order(span_keys)
    select = Select(
        tuple(sel + hidden),
        Join(src.from_, Subquery(inner, "_t"), "object_id = _t._to AND root_span_id = _t._tr"),
        where=(*row_conds, *window),
        order_by=order,
        with_=with_,
    )
    keys = unit + span_keys
    return _Compiled(
        select, tuple(columns), "traces", keys=tuple((k.kind, k.nullable) for k in keys), unit_keys=3
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


#: how far (in time) a trace's spans may lie from the spans that matched its filter
TRACE_WINDOW = "INTERVAL 1 DAY"
_FLIPPED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def _is_created(b: Bd.B) -> bool:
    return isinstance(b, Bd.BCol) and b.sql == "created"


def _static_window(gen: Gen, filt: Bd.B | None) -> list[str] | None:
    """`created` within TRACE_WINDOW of the filter's constant lower and upper bounds, if it has both."""
    if filt is None:
        return None
    conj = filt.args if isinstance(filt, Bd.BBool) and filt.op == "and" else (filt,)
    lo = hi = None
    for c in conj:
        if not isinstance(c, Bd.BCmp) or c.op not in _FLIPPED or c.mode != "datetime":
            continue
        field, bound, op = c.left, c.right, c.op
        if _is_created(bound) and not _is_created(field):
            field, bound, op = bound, field, _FLIPPED[op]
        if not _is_created(field) or Bd.contains(bound, Bd.VARYING):
            continue
        if op in ("gt", "ge") and lo is None:
            lo = gen.r(bound, "datetime")
        elif op in ("lt", "le") and hi is None:
            hi = gen.r(bound, "datetime")
    if lo is None or hi is None:
        return None
    return [f"created >= ({lo} - {TRACE_WINDOW})", f"created <= ({hi} + {TRACE_WINDOW})"]


_KW = re.compile(r" (FROM|WHERE|GROUP BY|HAVING|ORDER BY|LIMIT|ARRAY JOIN|INNER JOIN) ")


def explain_compiled(cq: CompiledQuery) -> str:
    """Human-readable SQL with its parameters and settings (for debugging; never execute)."""
    sql = _KW.sub(lambda m: "\n" + m.group(1) + " ", cq.sql)
    lines = [f"-- shape: {cq.shape}, limit: {cq.limit}, pagination: {cq.cursor_mode}", sql]
    lines.append("-- params: " + json.dumps(cq.params, ensure_ascii=False, default=str))
    lines.append("-- settings: " + json.dumps(cq.settings, default=str))
    lines.append("-- columns: " + ", ".join(f"{c.name} ({c.type})" for c in cq.columns))
    for w in cq.warnings:
        lines.append(f"-- warning {w['code']}: {w['message']}")
    return "\n".join(lines)
