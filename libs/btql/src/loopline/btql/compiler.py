"""Bound query → one parameterised ClickHouse SELECT (+ settings, column info, cursor logic).

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
from dataclasses import dataclass, field
from typing import Any

from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.binder import BoundQuery, Output
from loopline.btql.cursor import check_key, decode_cursor
from loopline.btql.errors import BindError, LintError, ScopeError
from loopline.btql.generator import Gen
from loopline.btql.options import Limits, Scope
from loopline.btql.results import Column, Page, read_page

_DB = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
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


def _and(parts: list[str]) -> str:
    parts = [p for p in parts if p and p != "true"]
    if not parts:
        return "true"
    return " AND ".join(parts)


@dataclass
class _Assembly:
    gen: Gen
    src: str
    scope_conds: list[str]
    outputs: list[Output]
    columns: list[Column] = field(default_factory=list)


def _one_of(gen: Gen, column: str, name: str, values: tuple[str, ...] | list[str]) -> str:
    """`column = {name:String}` for one value (cheaper per row than a set lookup), else `IN`."""
    if len(values) == 1:
        gen.params[name] = values[0]
        return f"{column} = {{{name}:String}}"
    gen.params[name] = list(values)
    return f"{column} IN {{{name}:Array(String)}}"


def _base(gen: Gen, scope: Scope, db: str) -> tuple[str, list[str]]:
    p = gen.params
    p["s_org"] = scope.org_id
    if scope.object_type == S.DATASET:
        conds = ["org_id = {s_org:String}", _one_of(gen, "object_id", "s_ids", scope.object_ids)]
        if scope.project_ids:
            conds.append(_one_of(gen, "project_id", "s_proj", scope.project_ids))
        if scope.version is not None:
            p["s_ver"] = scope.version
            conds.append("_xact_id <= {s_ver:UInt64}")
        src = (
            f"(SELECT * FROM (SELECT * FROM {db}.dataset_rows WHERE {' AND '.join(conds)} "
            "ORDER BY object_id, id, _xact_id DESC LIMIT 1 BY object_id, id) WHERE _is_deleted = 0) AS _d"
        )
        return src, []
    p["s_type"] = scope.object_type
    conds = ["org_id = {s_org:String}"]
    if scope.object_type == S.PROJECT_LOGS:
        conds += [
            _one_of(gen, "project_id", "s_proj", scope.object_ids),
            "object_type = {s_type:String}",
            "object_id = 'g'",
        ]
    else:
        if scope.project_ids:
            conds.append(_one_of(gen, "project_id", "s_proj", scope.project_ids))
        conds += ["object_type = {s_type:String}", _one_of(gen, "object_id", "s_ids", scope.object_ids)]
        if scope.version is not None:
            p["s_ver"] = scope.version
            conds.append("_xact_id <= {s_ver:UInt64}")
    # no `_is_deleted = 0`: FINAL on ReplacingMergeTree(_xact_id, _is_deleted) drops tombstoned rows
    return f"{db}.spans FINAL", conds


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


_VARYING = (Bd.BCol, Bd.BJson, Bd.BMapGet, Bd.BArrayIdx, Bd.BOutRef, Bd.BAgg, Bd.BAnySpan)


def _keys_for(gen: Gen, b: Bd.B, d: str) -> list[_Key]:
    if isinstance(b, Bd.BOutRef) and gen.out_exprs is not None:
        b = gen.out_exprs[b.index]
    if not Bd.contains(b, _VARYING):
        return []  # a constant orders nothing (and a number would read as a column position)
    if isinstance(b, Bd.BCol) and b.sort_sql:
        return [_Key(s, d, False, _kind_of_sort_sql(s, b)) for s in b.sort_sql]
    if b.type == S.JSON:
        return [_Key(gen.r(b, "number"), d, True, "number"), _Key(gen.r(b, "raw"), d, True, "raw")]
    nonnull = (isinstance(b, Bd.BCol) and b.nonnull) or (isinstance(b, Bd.BOutRef) and b.nonnull)
    kind = _KIND.get(b.type)
    if kind is None:
        raise BindError(f"cannot sort by a {b.type}")
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
        raise BindError("invalid cursor (it belongs to a different query)")
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


def _order(keys: list[_Key], aliases: list[str] | None = None) -> str:
    parts = []
    for i, k in enumerate(keys):
        sql = aliases[i] if aliases else k.sql
        parts.append(f"{sql} {k.dir.upper()}" + (" NULLS LAST" if k.nullable else ""))
    return ", ".join(parts)


def _array_join(gen: Gen, bq: BoundQuery) -> tuple[str, list[_Key]]:
    if not bq.unpivots:
        return "", []
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
    return "".join(" ARRAY JOIN " + c for c in clauses), ties


def _sample_cond(gen: Gen, bq: BoundQuery, by_trace: bool) -> str | None:
    s = bq.sample
    if s is None or s.rate is None:
        return None
    seed = gen.param(int(s.seed or 0) & (2**64 - 1), "UInt64")
    ppm = gen.param(round(s.rate * 1_000_000), "UInt64")
    key = "object_id, root_span_id" if by_trace else "object_id, id"
    return f"(cityHash64({key}, {seed}) % 1000000 < {ppm})"


def _count_sample(gen: Gen, bq: BoundQuery, src: str, conds: list[str], by_trace: bool) -> str | None:
    s = bq.sample
    if s is None or s.count is None:
        return None
    seed = gen.param(int(s.seed or 0) & (2**64 - 1), "UInt64")
    n = gen.param(int(s.count), "UInt64")
    if by_trace:
        return (
            f"((object_id, root_span_id) IN (SELECT object_id, root_span_id FROM {src} WHERE {_and(conds)} "
            f"GROUP BY object_id, root_span_id ORDER BY cityHash64(object_id, root_span_id, {seed}) LIMIT {n}))"
        )
    return (
        f"((object_id, id) IN (SELECT object_id, id FROM {src} WHERE {_and(conds)} "
        f"ORDER BY cityHash64(object_id, id, {seed}) LIMIT {n}))"
    )


def _summary_inner(gen: Gen, bq: BoundQuery, src: str, scope_conds: list[str], filt: str | None) -> str:
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
    having = f" HAVING countIf({filt}) > 0" if filt else ""
    return (
        f"(SELECT {', '.join(cols)} FROM {src} WHERE {_and(scope_conds)} "
        f"GROUP BY object_id, root_span_id{having}) AS _s"
    )


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
    """`fingerprint` (or a function computing it) ties cursors to this query and scope."""
    if not _DB.match(db):
        raise ValueError(f"invalid database name {db!r}")
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
    if bq.unpivots and bq.shape != "spans":
        raise BindError("'unpivot:' is only supported with the spans shape")
    if bq.sample is not None and bq.sample.count is not None and bq.unpivots:
        raise BindError("count sampling cannot be combined with 'unpivot:'")

    gen = Gen(tz_offset=tz_offset, text_casefold=text_casefold)
    src, scope_conds = _base(gen, scope, db)

    def any_span(pred: str) -> str:
        return (
            f"((object_id, root_span_id) IN (SELECT object_id, root_span_id FROM {src} "
            f"WHERE {_and([*scope_conds, pred])}))"
        )

    gen.any_span_sql = any_span

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
    fingerprint_fn = (lambda: fingerprint) if isinstance(fingerprint, str) else fingerprint
    payload = decode_cursor(bq.cursor, fingerprint_fn()) if bq.cursor else None
    settings = limits.settings()
    summary = bq.shape == "summary"
    filt = gen.cond(bq.filter) if bq.filter is not None else None

    common = dict(
        settings=settings,
        limit=limit,
        shape=bq.shape,
        fingerprint_fn=fingerprint_fn,
        warnings=tuple(warnings),
        pivot=tuple(bq.pivot),
        ndims=bq.ndims,
    )

    # ----------------------------------------------------------------- FROM + row filter
    if summary:
        from_sql = _summary_inner(gen, bq, src, scope_conds, filt)
        row_conds: list[str] = []
        if bq.sample is not None:
            sc = _sample_cond(gen, bq, True)
            cs = _count_sample(gen, bq, src, [*scope_conds, *([filt] if filt else [])], True)
            row_conds += [
                c.replace("object_id, root_span_id", "_s_object_id, _s_root_span_id", 1)
                for c in (sc, cs)
                if c
            ]
    else:
        from_sql = src
        row_conds = list(scope_conds)
        if bq.shape == "traces" and filt is not None and bq.aggregate:
            row_conds.append(
                f"((object_id, root_span_id) IN (SELECT object_id, root_span_id FROM {src} WHERE {_and([*scope_conds, filt])}))"
            )
        elif bq.shape != "traces" and filt is not None:
            row_conds.append(filt)
        if bq.shape == "traces" and bq.filter_spans is not None:
            row_conds.append(gen.cond(bq.filter_spans))
        by_trace = bq.shape == "traces"
        sc = _sample_cond(gen, bq, by_trace)
        if sc and not (bq.shape == "traces" and not bq.aggregate):
            row_conds.append(sc)
        cs = _count_sample(gen, bq, src, [*scope_conds, *([filt] if filt else [])], by_trace)
        if cs and not (bq.shape == "traces" and not bq.aggregate):
            row_conds.append(cs)
    array_join, unpivot_ties = _array_join(gen, bq)

    # ----------------------------------------------------------------- schema inference
    if bq.infer is not None:
        return _infer(gen, bq, from_sql, row_conds, common)

    # ----------------------------------------------------------------- aggregate queries
    if bq.aggregate:
        gen.out_exprs = None
        offset = 0
        if payload is not None:
            if payload.get("o") is None:
                raise BindError("invalid cursor (it belongs to a different query)")
            offset = int(payload["o"])
        having = gen.cond(bq.final_filter) if bq.final_filter is not None else None
        first_from = f"{from_sql}{array_join} WHERE {_and(row_conds)}"
        if bq.stage1 is not None:  # the first stage (with its HAVING) is the final stage's table
            inner, _ = _grouped(gen, bq.stage1, bq.stage1_ndims, bq, summary, "c", first_from, having)
            sql, columns = _grouped(gen, bq.outputs, bq.ndims, bq, False, "f", f"({inner}) AS _stage1", None)
            prefix = "f"
        else:
            sql, columns = _grouped(gen, bq.outputs, bq.ndims, bq, summary, "c", first_from, having)
            prefix = "c"
        order_parts: list[str] = []
        seen: set[str] = set()
        for b, d in bq.sort:
            for k in _keys_for(gen, b, d):
                order_parts.append(f"{k.sql} {d.upper()}" + (" NULLS LAST" if k.nullable else ""))
                seen.add(k.sql)
        for i in range(bq.ndims):
            if f"{prefix}{i}" not in seen:
                order_parts.append(f"{prefix}{i} ASC NULLS LAST")
        if order_parts:
            sql += f" ORDER BY {', '.join(order_parts)}"
        if not bq.pivot:
            sql += f" LIMIT {gen.param(limit + 1, 'UInt64')} OFFSET {gen.param(offset, 'UInt64')}"
        return CompiledQuery(
            sql=sql,
            params=gen.params,
            columns=tuple(columns),
            cursor_mode="offset",
            offset=offset,
            **common,  # type: ignore[arg-type]
        )

    # ----------------------------------------------------------------- row queries
    gen.out_exprs = [o.expr for o in bq.outputs]
    sel = []
    columns = []
    for i, o in enumerate(bq.outputs):
        sql, dec = _out_sql(gen, o, bq.preview_length, summary, dim=False)
        sel.append(f"{sql} AS c{i}")
        columns.append(Column(o.name, o.expr.type, dec, f"c{i}"))
    if bq.final_filter is not None:
        row_conds.append(gen.cond(bq.final_filter))

    user_keys: list[_Key] = []
    for b, d in bq.sort:
        user_keys += _keys_for(gen, b, d)
    last_dir = bq.sort[-1][1] if bq.sort else "desc"

    if summary:
        if not user_keys:
            user_keys = [_Key("_s_created", "desc", False, "datetime")]
        ties = [
            _Key("_s_root_span_id", last_dir, False, "string"),
            _Key("_s_object_id", last_dir, False, "string"),
        ]
        keys = user_keys + ties
        if payload is not None:
            row_conds.append(_keyset(gen, keys, payload.get("k") or []))
        hidden = [f"{k.sql} AS _k{i}" for i, k in enumerate(keys)]
        sql = (
            f"SELECT {', '.join(sel + hidden)} FROM {from_sql} WHERE {_and(row_conds)} "
            f"ORDER BY {_order(keys)} LIMIT {gen.param(limit + 1, 'UInt64')}"
        )
        return CompiledQuery(
            sql=sql,
            params=gen.params,
            columns=tuple(columns),
            cursor_mode="keyset",
            keys=tuple((k.kind, k.nullable) for k in keys),
            **common,  # type: ignore[arg-type]
        )

    if bq.shape == "traces":
        return _traces(gen, bq, src, scope_conds, row_conds, filt, sel, columns, user_keys, payload, common)

    if not user_keys:
        user_keys = [_Key("created", "desc", False, "datetime")]
    ties = [_Key("id", last_dir, False, "string"), _Key("object_id", last_dir, False, "string")]
    ties += [_Key(t.sql, last_dir, t.nullable, t.kind) for t in unpivot_ties]
    keys = [k for k in user_keys]
    key_sqls = {k.sql for k in keys}
    for t in ties:
        if t.sql not in key_sqls:
            key_sqls.add(t.sql)
            keys.append(t)
    if payload is not None:
        row_conds.append(_keyset(gen, keys, payload.get("k") or []))
    hidden = [f"{k.sql} AS _k{i}" for i, k in enumerate(keys)]
    sql = (
        f"SELECT {', '.join(sel + hidden)} FROM {from_sql}{array_join} WHERE {_and(row_conds)} "
        f"ORDER BY {_order(keys)} LIMIT {gen.param(limit + 1, 'UInt64')}"
    )
    return CompiledQuery(
        sql=sql,
        params=gen.params,
        columns=tuple(columns),
        cursor_mode="keyset",
        keys=tuple((k.kind, k.nullable) for k in keys),
        **common,  # type: ignore[arg-type]
    )


def _grouped(
    gen: Gen,
    outputs: list[Output],
    ndims: int,
    bq: BoundQuery,
    summary: bool,
    prefix: str,
    from_where: str,
    having: str | None,
) -> tuple[str, list[Column]]:
    """`SELECT <outputs AS prefix0..> FROM … GROUP BY … HAVING …` of one aggregation stage."""
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
    out = f"SELECT {', '.join(sel)} FROM {from_where}"
    if group:
        out += f" GROUP BY {', '.join(group)}"
    if having:
        out += f" HAVING {having}"
    return out, columns


_INFER_COLUMNS = (
    Column("name", S.STRING, "value", "c0"),
    Column("type", S.STRING, "value", "c1"),
    Column("count", S.INTEGER, "number", "c2"),
)


def _infer(
    gen: Gen, bq: BoundQuery, from_sql: str, row_conds: list[str], common: dict[str, Any]
) -> CompiledQuery:
    """`infer:` — the JSON paths of the listed fields in the newest `inference_budget` matching rows:
    one row per (path, type) with how many sampled rows have it; the field itself is a path too
    (its top-level JSON type). Sorted by count, then name."""
    assert bq.infer is not None
    fields = []
    for name, b in bq.infer:
        fields.append(f"({gen.param(name, 'String')}, ifNull({gen.r(b, 'raw')}, ''))")
    budget = gen.param(bq.inference_budget, "UInt64")
    sampled = (
        f"SELECT [{', '.join(fields)}] AS _fv FROM {from_sql} WHERE {_and(row_conds)} "
        f"ORDER BY created DESC LIMIT {budget}"
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
    limit: int = common["limit"]
    sql = (
        f"SELECT _p.1 AS c0, {jtype} AS c1, count() AS c2 FROM ("
        f"SELECT _f FROM ({sampled}) ARRAY JOIN _fv AS _f WHERE _f.2 IS NOT NULL AND _f.2 != ''"
        f") ARRAY JOIN {per_row} AS _p GROUP BY c0, c1 ORDER BY c2 DESC, c0 ASC, c1 ASC "
        f"LIMIT {gen.param(limit + 1, 'UInt64')}"
    )
    return CompiledQuery(
        sql=sql,
        params=gen.params,
        columns=_INFER_COLUMNS,
        cursor_mode="offset",
        **common,
    )


def _traces(
    gen: Gen,
    bq: BoundQuery,
    src: str,
    scope_conds: list[str],
    row_conds: list[str],
    filt: str | None,
    sel: list[str],
    columns: list[Column],
    user_keys: list[_Key],
    payload: dict[str, Any] | None,
    common: dict[str, Any],
) -> CompiledQuery:
    """Whole traces: pick `limit` traces (a trace matches when one of its spans matches the
    filter), ordered by the extreme of the first sort key over its matching spans."""
    limit = int(common["limit"])
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
    inner_conds = [*scope_conds]
    if filt:
        inner_conds.append(filt)
    sc = _sample_cond(gen, bq, True)
    if sc:
        inner_conds.append(sc)
    cs = _count_sample(gen, bq, src, [*scope_conds, *([filt] if filt else [])], True)
    if cs:
        inner_conds.append(cs)
    having = ""
    if payload is not None:
        having = " HAVING " + _keyset(gen, unit, payload.get("k") or [])
    inner = (
        f"SELECT object_id AS _to, root_span_id AS _tr, {tk} AS _tk, min(created) AS _tmin, max(created) AS _tmax "
        f"FROM {src} WHERE {_and(inner_conds)} "
        f"GROUP BY object_id, root_span_id{having} ORDER BY {_order(unit)} "
        f"LIMIT {gen.param(limit + 1, 'UInt64')}"
    )
    # The spans of a trace lie within TRACE_WINDOW of its matching spans: bounding the outer read
    # by that window lets partition and primary-key pruning skip the rest of the table. When the
    # filter bounds `created` on both sides with constants, the window follows from those bounds
    # (it contains the window of the matching spans); otherwise one tuple-valued scalar subquery
    # finds it (folded to constants before index analysis, but a second run of the trace search).
    static = _static_window(gen, bq.filter)
    if static is not None:
        with_window, window = "", static
    else:
        with_window = f"WITH (SELECT (min(_tmin) - {TRACE_WINDOW}, max(_tmax) + {TRACE_WINDOW}) FROM ({inner})) AS _win "
        window = ["created >= _win.1", "created <= _win.2"]
    span_keys = user_keys or [_Key("created", "asc", False, "datetime")]
    span_keys = [*span_keys, _Key("id", "asc", False, "string")]
    hidden = ["_t._tk AS _k0", "_t._tr AS _k1", "_t._to AS _k2"]
    hidden += [f"{k.sql} AS _k{i + 3}" for i, k in enumerate(span_keys)]
    order = _order(unit, ["_k0", "_k1", "_k2"]) + ", " + _order(span_keys)
    sql = (
        f"{with_window}SELECT {', '.join(sel + hidden)} FROM {src} INNER JOIN ({inner}) AS _t "
        f"ON object_id = _t._to AND root_span_id = _t._tr WHERE {_and([*row_conds, *window])} ORDER BY {order}"
    )
    keys = unit + span_keys
    return CompiledQuery(
        sql=sql,
        params=gen.params,
        columns=tuple(columns),
        cursor_mode="traces",
        keys=tuple((k.kind, k.nullable) for k in keys),
        _unit_keys=3,
        **common,
    )


def _check_scope(bq: BoundQuery, scope: Scope) -> None:
    src = bq.source
    if src.object_type != scope.object_type:
        raise ScopeError(
            f"the query reads {src.object_type} but the request is scoped to {scope.object_type}"
        )
    if set(src.object_ids) != set(scope.object_ids):
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
        if not _is_created(field) or Bd.contains(bound, _VARYING):
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
