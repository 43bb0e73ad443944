"""The SQL plan of each query shape (`plan.Select`), built from the bound query:
- spans (`span_rows`): one row per span (or per unpivoted element), keyset-paginated over the
  sort key + row id;
- traces (`traces`): whole traces; the filter picks traces (a trace matches when one of its spans
  does), `limit` counts traces, pages never split a trace;
- summary (`summary_rows`): one row per trace (GROUP BY object_id, root_span_id) with root-span
  previews, scores averaged over spans and summed/counted metrics;
- aggregates (`aggregate`: dimensions/measures): GROUP BY; paginated by offset;
- `infer` (`infer`): the JSON paths and types of fields in sampled rows.
Each returns the plan and how to read its result (`ShapePlan`); `compiler.compile_bound` renders it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopline.btql import bound as Bd
from loopline.btql import newest
from loopline.btql import schema as S
from loopline.btql.bound_query import BoundQuery, Output
from loopline.btql.cursor import cursor_offset
from loopline.btql.generator import Gen
from loopline.btql.keyset import SortKey, keys_for, keyset_condition, order_by
from loopline.btql.plan import FromItem, Join, ScopedSource, Select, Subquery
from loopline.btql.results import Column

DEFAULT_PREVIEW_LENGTH = 124


@dataclass(slots=True)
class ShapeInput:
    """What every shape's compilation starts from."""

    gen: Gen
    bq: BoundQuery
    src: ScopedSource
    limit: int
    payload: dict[str, Any] | None
    summary: bool
    filt: str | None


@dataclass(slots=True)
class ShapePlan:
    """A shape's plan and how to read its result."""

    select: Select
    columns: tuple[Column, ...]
    cursor_mode: str
    keys: tuple[tuple[str, bool], ...] = ()
    offset: int = 0
    unit_keys: int = 0
    # the newest-first pre-scan and windowed read of the same answer (`newest.py`), if it applies
    newest: tuple[Select, Select] | None = None


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


def _array_join(gen: Gen, bq: BoundQuery) -> tuple[tuple[str, ...], list[SortKey]]:
    if not bq.unpivots:
        return (), []
    clauses: list[str] = []
    ties: list[SortKey] = []
    for u in bq.unpivots:
        parts: list[str] = []
        a = u.alias
        if u.kind == "map":
            m = gen.r(u.source)
            parts += [f"mapKeys({m}) AS {a}k", f"mapValues({m}) AS {a}v"]
            ties.append(SortKey(f"{a}k", "asc", False, "string"))
        elif u.kind == "object":
            t1, t2 = gen.r(u.source, "raw"), gen.r(u.source, "raw")
            parts += [
                f"arrayMap(t -> t.1, JSONExtractKeysAndValuesRaw({t1})) AS {a}k",
                f"arrayMap(t -> t.2, JSONExtractKeysAndValuesRaw({t2})) AS {a}v",
            ]
            ties.append(SortKey(f"{a}k", "asc", False, "string"))
        elif u.kind == "array":
            t1, t2 = gen.r(u.source), gen.r(u.source)
            parts += [f"{t1} AS {a}v", f"arrayEnumerate({t2}) AS {a}i"]
            ties.append(SortKey(f"{a}i", "asc", False, "integer"))
        else:
            t1, t2 = gen.r(u.source, "raw"), gen.r(u.source, "raw")
            parts += [
                f"JSONExtractArrayRaw({t1}) AS {a}v",
                f"arrayEnumerate(JSONExtractArrayRaw({t2})) AS {a}i",
            ]
            ties.append(SortKey(f"{a}i", "asc", False, "integer"))
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


def _rows_from(ctx: ShapeInput) -> tuple[FromItem, list[str]]:
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


def aggregate(ctx: ShapeInput) -> ShapePlan:
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
    order_by, limit, offset_sql = order_and_page(ctx, offset, prefix)
    select = Select(
        sel,
        from_,
        array_join=array_join,
        where=where,
        group_by=group,
        having=having,
        order_by=order_by,
        limit=limit,
        offset=offset_sql,
    )
    return ShapePlan(select, tuple(columns), "offset", offset=offset)


def order_and_page(
    ctx: ShapeInput, offset: int, prefix: str
) -> tuple[tuple[str, ...], str | None, str | None]:
    """An aggregation's final stage: ORDER BY (the sort keys, then every dimension `prefix<i>`
    not already sorted by) and the LIMIT/OFFSET parameters (none when pivoted: the pivot reads
    every group)."""
    gen, bq = ctx.gen, ctx.bq
    order_parts: list[str] = []
    seen: set[str] = set()
    for b, d in bq.sort:
        for k in keys_for(gen, b, d):
            order_parts.append(f"{k.sql} {d.upper()}" + (" NULLS LAST" if k.nullable else ""))
            seen.add(k.sql)
    for i in range(bq.ndims):
        if f"{prefix}{i}" not in seen:
            order_parts.append(f"{prefix}{i} ASC NULLS LAST")
    if bq.pivot:
        return tuple(order_parts), None, None
    return tuple(order_parts), gen.param(ctx.limit + 1, "UInt64"), gen.param(offset, "UInt64")


def _row_columns(ctx: ShapeInput) -> tuple[list[str], list[Column]]:
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


def _user_keys(ctx: ShapeInput) -> tuple[list[SortKey], str]:
    user_keys: list[SortKey] = []
    for b, d in ctx.bq.sort:
        user_keys += keys_for(ctx.gen, b, d)
    return user_keys, ctx.bq.sort[-1][1] if ctx.bq.sort else "desc"


def summary_rows(ctx: ShapeInput) -> ShapePlan:
    """One row per trace, keyset-paginated (ties broken by the trace's ids)."""
    gen, bq = ctx.gen, ctx.bq
    from_, row_conds = _rows_from(ctx)
    sel, columns = _row_columns(ctx)
    if bq.final_filter is not None:
        row_conds.append(gen.cond(bq.final_filter))
    own_keys, last_dir = _user_keys(ctx)
    user_keys = own_keys or [SortKey("_s_created", "desc", False, "datetime")]
    ties = [
        SortKey("_s_root_span_id", last_dir, False, "string"),
        SortKey("_s_object_id", last_dir, False, "string"),
    ]
    keys = user_keys + ties
    if ctx.payload is not None:
        row_conds.append(keyset_condition(gen, keys, ctx.payload.get("k") or []))
    hidden = [f"{k.sql} AS _k{i}" for i, k in enumerate(keys)]

    def page(from_: FromItem) -> Select:
        return Select(
            tuple(sel + hidden),
            from_,
            where=tuple(row_conds),
            order_by=order_by(keys),
            limit=gen.param(ctx.limit + 1, "UInt64"),
        )

    fast = None
    if newest.applies(ctx.src, own_keys, "_s_created", bq.sample is None):
        upper = newest.cursor_bound(gen, ctx.payload)
        window = newest.trace_window(ctx.src, ctx.filt, upper)
        inner = _summary_inner(gen, bq, window, ctx.filt)
        fast = (newest.prescan(ctx.src, ctx.filt, upper, _TRACE_KEY), page(inner))
    return ShapePlan(
        page(from_), tuple(columns), "keyset", keys=tuple((k.kind, k.nullable) for k in keys), newest=fast
    )


def span_rows(ctx: ShapeInput) -> ShapePlan:
    """One row per span (or unpivoted element), keyset-paginated over the sort key + row id."""
    gen, bq = ctx.gen, ctx.bq
    from_, row_conds = _rows_from(ctx)
    array_join, unpivot_ties = _array_join(gen, bq)
    sel, columns = _row_columns(ctx)
    if bq.final_filter is not None:
        row_conds.append(gen.cond(bq.final_filter))
    own_keys, last_dir = _user_keys(ctx)
    user_keys = own_keys or [SortKey("created", "desc", False, "datetime")]
    ties = [SortKey("id", last_dir, False, "string"), SortKey("object_id", last_dir, False, "string")]
    ties += [SortKey(t.sql, last_dir, t.nullable, t.kind) for t in unpivot_ties]
    keys = list(user_keys)
    key_sqls = {k.sql for k in keys}
    for t in ties:
        if t.sql not in key_sqls:
            key_sqls.add(t.sql)
            keys.append(t)
    if ctx.payload is not None:
        row_conds.append(keyset_condition(gen, keys, ctx.payload.get("k") or []))
    hidden = [f"{k.sql} AS _k{i}" for i, k in enumerate(keys)]

    def page(where: tuple[str, ...], prewhere: tuple[str, ...] = ()) -> Select:
        return Select(
            tuple(sel + hidden),
            from_,
            array_join=array_join,
            prewhere=prewhere,
            where=where,
            order_by=order_by(keys),
            limit=gen.param(ctx.limit + 1, "UInt64"),
        )

    fast = None
    if newest.applies(ctx.src, own_keys, "created", bq.sample is None and not bq.unpivots):
        upper = newest.cursor_bound(gen, ctx.payload)
        windowed = page(tuple(row_conds), (f"created >= {newest.C0}",))
        fast = (newest.prescan(ctx.src, ctx.filt, upper, "object_id, id"), windowed)
    return ShapePlan(
        page(tuple(row_conds)),
        tuple(columns),
        "keyset",
        keys=tuple((k.kind, k.nullable) for k in keys),
        newest=fast,
    )


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


def infer(ctx: ShapeInput) -> ShapePlan:
    """`infer:` — the JSON paths of the listed fields in the newest `inference_budget` matching rows:
    one row per (path, type) with how many sampled rows have it; the field itself is a path too
    (its top-level JSON type). Sorted by count, then name."""
    gen, bq = ctx.gen, ctx.bq
    assert bq.infer is not None
    from_, row_conds = _rows_from(ctx)
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
    return ShapePlan(select, _INFER_COLUMNS, "offset")


def traces(ctx: ShapeInput) -> ShapePlan:
    """Whole traces: pick `limit` traces (a trace matches when one of its spans matches the
    filter), ordered by the extreme of the first sort key over its matching spans."""
    gen, bq, src, filt, limit = ctx.gen, ctx.bq, ctx.src, ctx.filt, ctx.limit
    _, row_conds = _rows_from(ctx)
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
        SortKey("_tk", tdir, tk_null, tk_kind),
        SortKey("_tr", tdir, False, "string"),
        SortKey("_to", tdir, False, "string"),
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
        having = keyset_condition(gen, unit, ctx.payload.get("k") or [])
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
        order_by=order_by(unit),
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
    span_keys = user_keys or [SortKey("created", "asc", False, "datetime")]
    span_keys = [*span_keys, SortKey("id", "asc", False, "string")]
    hidden = ["_t._tk AS _k0", "_t._tr AS _k1", "_t._to AS _k2"]
    hidden += [f"{k.sql} AS _k{i + 3}" for i, k in enumerate(span_keys)]
    order = order_by(unit, ["_k0", "_k1", "_k2"]) + order_by(span_keys)
    select = Select(
        tuple(sel + hidden),
        Join(src.from_, Subquery(inner, "_t"), "object_id = _t._to AND root_span_id = _t._tr"),
        where=(*row_conds, *window),
        order_by=order,
        with_=with_,
    )
    keys = unit + span_keys
    return ShapePlan(
        select, tuple(columns), "traces", keys=tuple((k.kind, k.nullable) for k in keys), unit_keys=3
    )


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
