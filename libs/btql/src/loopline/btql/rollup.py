"""Pre-aggregated hours of project logs, and the rewrite that answers aggregate queries from them.

Dashboards ask the same questions of a week of logs every minute (errors by tool, latency
percentiles by hour, tokens by model). Scanning `spans FINAL` for each is seconds at tens of
millions of rows; ClickHouse projections do not apply under FINAL. So the query service keeps a
rollup per (project, hour) and the compiler uses it transparently: any BTQL aggregate query whose
filter, dimensions and measures the rollup can answer exactly reads the hours it covers from the
rollup and everything else (recent hours, hours changed since, the partial hours at the edges of
a time range) from the raw rows, and merges the two. No dashboard names a rollup; every BTQL user
gains; an answer never depends on whether the rollup was used (tests/test_rollup_equivalence.py
compares both on random queries over data with merges, updates and deletes).

Storage (`migration_statements`, the query service's migration 301):
- `rollup_changes`: per (project, hour), the last time a row of that hour was written, kept by
  a materialized view on `spans` (every insert: a new row, a merge, an update, a tombstone). A
  row's `created` never changes (the writer keeps the first), so a write touches one hour.
- `rollup_hourly`: per (project, hour, computation time) the hour's rows grouped by the
  dimension columns below, with the count, per-key sums/minimums/maximums of `metrics` and
  `scores` and a quantile state of latency. The dimension columns have the names of the
  `spans` columns they come from, so the compiled SQL of a filter, a dimension or an aggregate's
  argument means the same on both tables.
- `rollup_hours`: which computation of each hour is current (`computed_at`).

An hour is *clean* when its current computation started more than `QUIET_MARGIN_S` after its last
change (`clean_hours_sql`): every row written before the computation is in it. Only clean hours
are read from the rollup. The refresh worker (query service `rollups.py`) recomputes hours that
are complete and quiet.

Exactness. Rows of one rollup group share every dimension column, the set of `metrics` keys and
the set of `scores` keys. So over a group:
- a condition or expression over dimension columns has one value (filters and dimensions are
  evaluated on the group row as on each of its rows); `metrics.x IS NULL` too (the key set);
- `sum`/`count`/`avg` of an expression linear in metric/score values (`metrics.tokens`,
  `metrics.prompt_tokens + metrics.completion_tokens`, `latency` = end - start, times a dimension
  expression) is its value on the row of summed maps;
- `min`/`max` of a metric or score come from the per-key min/max maps;
- `percentile(latency, p)` merges the quantile states (the same reservoir `quantile` the raw
  read uses: exact up to 8,192 values per group, approximate beyond, as the raw read is).
A query with anything else (other fields, `created` outside `hour`/`day`/`week`/`month`/`year`
buckets or top-level range conditions, `count_distinct`, `any_value`, sampling, unpivot,
`final_*` stages, a time-zone offset that is not whole hours) reads raw rows only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql import shapes
from loopline.btql.bound_query import BoundQuery
from loopline.btql.cursor import cursor_offset
from loopline.btql.generator import Gen
from loopline.btql.options import Scope
from loopline.btql.plan import ROLLUP_TABLE, Select, Table, Union
from loopline.btql.results import Column

#: seconds between an hour's last change and the start of a computation that may serve it
QUIET_MARGIN_S = 10
HOURS_TABLE = "rollup_hours"
CHANGES_TABLE = "rollup_changes"

_LATENCY_SQL = S.FIELDS_BY_NAME["latency"].sql
# dimension columns, as the schema's fields render them
_DIM_COLUMNS = frozenset({"nullIf(span_name, '')", "nullIf(span_type, '')", "is_root", "nullIf(intent, '')"})
_MAPS = {"metrics_map": ("metrics_min", "metrics_max"), "scores_map": ("scores_min", "scores_max")}
_BUCKETS = frozenset({"hour", "day", "week", "month", "year"})
_RANGE_OPS = frozenset({"lt", "le", "gt", "ge"})
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}

# the reduced `extra` a rollup row keeps: `classifications` with what a label path reads
# (`classifications.<facet>.label`, `classifications.<facet>[i].label`) and nothing that varies
# per row (confidence, ids): a facet's object keeps its members in order, `label` verbatim,
# objects as `{"label": ...}` (or `{}`), anything else null; a facet's array keeps its items in
# order, objects as `{"label": ...}` (or `{}`), anything else null. '' without classifications.
_LABEL_OF = "if(JSONType({v}) = 'Object', if(JSONHas({v}, 'label'), concat('{{\"label\":', JSONExtractRaw({v}, 'label'), '}}'), '{{}}'), 'null')"
_FACET = (
    "multiIf(JSONType(kv.2) = 'Object', concat('{', arrayStringConcat(arrayMap(m -> concat("
    "toJSONString(m.1), ':', if(m.1 = 'label', m.2, " + _LABEL_OF.format(v="m.2") + ")), "
    "JSONExtractKeysAndValuesRaw(kv.2)), ','), '}'), JSONType(kv.2) = 'Array', concat('[', "
    "arrayStringConcat(arrayMap(it -> "
    + _LABEL_OF.format(v="it")
    + ", JSONExtractArrayRaw(kv.2)), ','), ']'), "
    "'null')"
)
_LABELS_ONLY = (
    "if(JSONType(extra, 'classifications') = 'Object', concat('{\"classifications\":{', "
    "arrayStringConcat(arrayMap(kv -> concat(toJSONString(kv.1), ':', " + _FACET + "), "
    "JSONExtractKeysAndValuesRaw(extra, 'classifications')), ','), '}}'), '')"
)
# the reduced `metadata` a rollup row keeps: only `model` (verbatim JSON), '' without one
_MODEL_ONLY = (
    "if(JSONHas(metadata, 'model'), concat('{\"model\":', JSONExtractRaw(metadata, 'model'), '}'), '')"
)


# ------------------------------------------------------------------------------------ storage


def migration_statements() -> tuple[str, ...]:
    """The rollup's tables (`{db}` placeholders), for the query service's migration."""
    return (
        f"""CREATE TABLE IF NOT EXISTS {{db}}.{CHANGES_TABLE} (
            org_id LowCardinality(String), project_id String, object_type LowCardinality(String),
            object_id String, hour DateTime('UTC'),
            changed_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
        ) ENGINE = AggregatingMergeTree ORDER BY (org_id, project_id, object_type, object_id, hour)""",
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.{CHANGES_TABLE}_mv TO {{db}}.{CHANGES_TABLE} AS
            SELECT org_id, project_id, object_type, object_id, toStartOfHour(created) AS hour,
                   max(now64(6, 'UTC')) AS changed_at
            FROM {{db}}.spans WHERE object_type = '{S.PROJECT_LOGS}'
            GROUP BY org_id, project_id, object_type, object_id, hour""",
        # the hours written before the view existed
        f"""INSERT INTO {{db}}.{CHANGES_TABLE}
            SELECT org_id, project_id, object_type, object_id, toStartOfHour(created) AS hour,
                   now64(6, 'UTC') AS changed_at
            FROM {{db}}.spans WHERE object_type = '{S.PROJECT_LOGS}'
            GROUP BY org_id, project_id, object_type, object_id, hour""",
        f"""CREATE TABLE IF NOT EXISTS {{db}}.{HOURS_TABLE} (
            org_id LowCardinality(String), project_id String, object_type LowCardinality(String),
            object_id String, hour DateTime('UTC'), computed_at DateTime64(6, 'UTC'), rows UInt64
        ) ENGINE = ReplacingMergeTree(computed_at)
        ORDER BY (org_id, project_id, object_type, object_id, hour)""",
        f"""CREATE TABLE IF NOT EXISTS {{db}}.{ROLLUP_TABLE} (
            org_id LowCardinality(String), project_id String, object_type LowCardinality(String),
            object_id String, created DateTime64(6, 'UTC'), computed_at DateTime64(6, 'UTC'),
            span_name String, span_type LowCardinality(String), is_root Bool, error String,
            metadata String, extra String, intent LowCardinality(String),
            metadata_json JSON(max_dynamic_paths = 16) MATERIALIZED if(metadata = '', '{{}}', metadata)::JSON,
            metrics_keys Array(String), scores_keys Array(String), _cnt UInt64,
            metrics_map Map(String, Float64), metrics_min Map(String, Float64),
            metrics_max Map(String, Float64), scores_map Map(String, Float64),
            scores_min Map(String, Float64), scores_max Map(String, Float64),
            latency_q AggregateFunction(quantile, Float64)
        ) ENGINE = MergeTree PARTITION BY toYYYYMM(created)
        ORDER BY (org_id, project_id, object_type, object_id, created, computed_at)""",
    )


def dirty_hours_sql(db: str) -> str:
    """Complete, quiet hours whose current computation (if any) is older than their last change,
    newest first. Params: `margin` (seconds), `n` (how many)."""
    quiet = "now64(6, 'UTC') - toIntervalSecond({margin:UInt32})"
    return (
        f"SELECT c.org_id, c.project_id, c.object_type, c.object_id, c.hour FROM "
        f"(SELECT org_id, project_id, object_type, object_id, hour, max(changed_at) AS changed "
        f"FROM {db}.{CHANGES_TABLE} GROUP BY org_id, project_id, object_type, object_id, hour) AS c "
        f"LEFT JOIN (SELECT org_id, project_id, object_type, object_id, hour, "
        f"max(computed_at) AS computed FROM {db}.{HOURS_TABLE} "
        f"GROUP BY org_id, project_id, object_type, object_id, hour) AS m "
        f"ON c.org_id = m.org_id AND c.project_id = m.project_id AND c.object_type = m.object_type "
        f"AND c.object_id = m.object_id AND c.hour = m.hour "
        f"WHERE c.hour + toIntervalHour(1) <= {quiet} AND c.changed <= {quiet} "
        f"AND c.changed >= m.computed - toIntervalSecond({{margin:UInt32}}) "
        f"ORDER BY c.hour DESC LIMIT {{n:UInt32}}"
    )


_AT = "fromUnixTimestamp64Micro({at:Int64}, 'UTC')"
_HOURS = "arrayMap(h -> fromUnixTimestamp64Micro(h, 'UTC'), {hours:Array(Int64)})"
_OBJECT_WHERE = (
    "org_id = {org:String} AND project_id = {project:String} AND object_type = {otype:String} "
    "AND object_id = {oid:String}"
)


def refresh_sql(db: str) -> tuple[str, str]:
    """(insert the hours' groups, record the computation of each hour) for some hours of one
    object (one day's, say: a read of the table reads whole days). Params: `org`, `project`,
    `otype`, `oid`, `hours` (hour starts, µs since the epoch), `at` (the computation's start, µs,
    the store's clock)."""
    lat = _LATENCY_SQL
    hour = "toDateTime64(toStartOfHour(created), 6, 'UTC')"
    groups = (
        f"INSERT INTO {db}.{ROLLUP_TABLE} (org_id, project_id, object_type, object_id, created, "
        "computed_at, span_name, span_type, is_root, error, metadata, extra, intent, metrics_keys, "
        "scores_keys, _cnt, metrics_map, metrics_min, metrics_max, scores_map, scores_min, scores_max, "
        "latency_q) "
        f"SELECT org_id, project_id, object_type, object_id, {hour} AS h, {_AT}, span_name, span_type, "
        f"is_root, error, {_MODEL_ONLY} AS md, {_LABELS_ONLY} AS labels, intent, "
        "arraySort(mapKeys(metrics_map)) AS mk, arraySort(mapKeys(scores_map)) AS sk, count(), "
        "sumMap(metrics_map), minMap(metrics_map), maxMap(metrics_map), sumMap(scores_map), "
        "minMap(scores_map), maxMap(scores_map), "
        f"quantileStateIf(assumeNotNull({lat}), isNotNull({lat})) "
        f"FROM {db}.spans FINAL WHERE {_OBJECT_WHERE} AND created >= arrayMin({_HOURS}) "
        f"AND created < arrayMax({_HOURS}) + toIntervalHour(1) AND {hour} IN {_HOURS} "
        "GROUP BY org_id, project_id, object_type, object_id, h, span_name, span_type, is_root, error, "
        "md, labels, intent, mk, sk"
    )
    mark = (
        f"INSERT INTO {db}.{HOURS_TABLE} (org_id, project_id, object_type, object_id, hour, computed_at, rows) "
        f"SELECT {{org:String}}, {{project:String}}, {{otype:String}}, {{oid:String}}, hs.h, {_AT}, "
        f"ifNull(n.rows, 0) FROM (SELECT arrayJoin({_HOURS}) AS h) AS hs LEFT JOIN "
        f"(SELECT created AS h, count() AS rows FROM {db}.{ROLLUP_TABLE} WHERE {_OBJECT_WHERE} "
        f"AND computed_at = {_AT} AND created IN {_HOURS} GROUP BY created) AS n ON hs.h = n.h "
        "SETTINGS join_use_nulls = 1"
    )
    return groups, mark


ObjectKey = tuple[str, str, str, str]  # org, project, object type, object id


def refresh_batches(rows: Sequence[Sequence[object]]) -> list[tuple[ObjectKey, list[int]]]:
    """`dirty_hours_sql`'s rows as refresh batches: one per object and UTC day (a read of `spans`
    reads whole days), each with its hours (µs since the epoch)."""
    by: dict[tuple[ObjectKey, int], list[int]] = {}
    for org, project, otype, oid, hour in rows:
        assert isinstance(hour, datetime)
        h = hour if hour.tzinfo else hour.replace(tzinfo=UTC)
        us = int(h.timestamp()) * 1_000_000
        key = (str(org), str(project), str(otype), str(oid))
        by.setdefault((key, us // 86_400_000_000), []).append(us)
    return [(key, sorted(hours)) for (key, _), hours in by.items()]


def cleanup_sql(db: str) -> str:
    """Delete rollup rows of computations superseded more than `grace` seconds ago."""
    return (
        f"DELETE FROM {db}.{ROLLUP_TABLE} WHERE (org_id, project_id, object_type, object_id, created, "
        f"computed_at) IN (SELECT r.org_id, r.project_id, r.object_type, r.object_id, r.created, "
        f"r.computed_at FROM (SELECT DISTINCT org_id, project_id, object_type, object_id, created, "
        f"computed_at FROM {db}.{ROLLUP_TABLE}) AS r INNER JOIN (SELECT org_id, project_id, "
        f"object_type, object_id, hour, max(computed_at) AS latest FROM {db}.{HOURS_TABLE} "
        f"GROUP BY org_id, project_id, object_type, object_id, hour) AS m ON r.org_id = m.org_id "
        f"AND r.project_id = m.project_id AND r.object_type = m.object_type AND "
        f"r.object_id = m.object_id AND toStartOfHour(r.created) = m.hour "
        f"WHERE r.computed_at < m.latest AND m.latest < now64(6, 'UTC') - toIntervalSecond({{grace:UInt32}}))"
    )


def clean_hours_sql(db: str) -> str:
    """The clean hours of one project's logs and their current computation, oldest first (µs).
    Params: `org`, `project`, `margin` (seconds, `QUIET_MARGIN_S`)."""
    scope = (
        "org_id = {org:String} AND project_id = {project:String} "
        f"AND object_type = '{S.PROJECT_LOGS}' AND object_id = 'g'"
    )
    return (
        "SELECT toUnixTimestamp64Micro(toDateTime64(m.hour, 6, 'UTC')), "
        "toUnixTimestamp64Micro(m.computed_at) FROM "
        f"(SELECT hour, max(computed_at) AS computed_at FROM {db}.{HOURS_TABLE} WHERE {scope} "
        "GROUP BY hour) AS m "
        f"LEFT JOIN (SELECT hour, max(changed_at) AS changed FROM {db}.{CHANGES_TABLE} WHERE {scope} "
        "GROUP BY hour) AS c ON m.hour = c.hour "
        "WHERE c.changed < m.computed_at - toIntervalSecond({margin:UInt32}) ORDER BY m.hour"
    )


@dataclass(frozen=True, slots=True)
class CleanHour:
    """An hour served by the rollup: its start and its current computation (µs since the epoch)."""

    hour_us: int
    computed_us: int


# ------------------------------------------------------------------------------------ analysis


@dataclass(frozen=True, slots=True)
class Analysis:
    """Why a query can be answered from the rollup: its aggregates (each with how it splits into
    partials) and the `created` range conditions of its filter."""

    aggs: tuple[tuple[Bd.BAgg, str], ...]
    ranges: tuple[tuple[str, Bd.B], ...]  # (op with created on the left, constant bound)


class _No(Exception):
    pass


def _is_created(b: Bd.B) -> bool:
    return isinstance(b, Bd.BCol) and b.sql == "created"


def _is_latency(b: Bd.B) -> bool:
    return isinstance(b, Bd.BCol) and b.sql == _LATENCY_SQL


def _dim(b: Bd.B, tz_offset: int) -> bool:
    """One value over each rollup group (dimension columns, key presence, constants)."""
    if isinstance(b, Bd.BCol):
        return b.sql in _DIM_COLUMNS
    if isinstance(b, Bd.BJson):
        if isinstance(b.base, Bd.B):
            return _dim(b.base, tz_offset)
        return (
            b.base == "error"
            or (b.base == "metadata" and b.path[:1] == ("model",))
            # a facet's label (`classifications.Intent.label`, `….Intent[0].label`)
            or (
                b.base == S.EXTRA_COLUMN
                and len(b.path) in (3, 4)
                and b.path[0] == "classifications"
                and isinstance(b.path[1], str)
                and b.path[-1] == "label"
                and (len(b.path) == 3 or isinstance(b.path[2], int))
            )
        )
    if isinstance(b, (Bd.BLit, Bd.BArr, Bd.BInterval)):
        return True
    if isinstance(b, Bd.BIsNull):
        x = b.x
        return (isinstance(x, Bd.BMapGet) and x.col in _MAPS) or _is_latency(x) or _dim(x, tz_offset)
    if isinstance(b, Bd.BFunc):
        if b.name == "trunc":
            return b.opt in _BUCKETS and tz_offset % 60 == 0 and _is_created(b.args[0])
        return all(_dim(a, tz_offset) for a in b.args)
    if isinstance(b, (Bd.BCmp, Bd.BBool, Bd.BNot, Bd.BNeg, Bd.BArith, Bd.BIf, Bd.BIn, Bd.BLike)):
        return all(_dim(c, tz_offset) for c in b.children())
    return False  # other columns, text search, ANY_SPAN, aggregates, output references


def _linear(b: Bd.B, tz_offset: int) -> bool:
    """Linear in metric/score values (its sum over a group is its value on the summed row)."""
    if isinstance(b, Bd.BMapGet):
        return b.col in _MAPS
    if _is_latency(b):
        return True
    if isinstance(b, Bd.BNeg):
        return _linear(b.x, tz_offset)
    if isinstance(b, Bd.BArith):
        if b.op in ("add", "sub"):
            return _linear(b.left, tz_offset) and _linear(b.right, tz_offset)
        if b.op == "mul":
            return (_linear(b.left, tz_offset) and _dim(b.right, tz_offset)) or (
                _dim(b.left, tz_offset) and _linear(b.right, tz_offset)
            )
        if b.op == "div":
            return _linear(b.left, tz_offset) and _dim(b.right, tz_offset)
    return False


def _agg_kind(a: Bd.BAgg, tz_offset: int) -> str:
    x = a.arg
    if a.name == "count" and x is None:
        return "count_all"
    if x is None:
        raise _No
    if a.name in ("count", "sum", "avg"):
        if _dim(x, tz_offset):
            return a.name + "_dim"
        if _linear(x, tz_offset):
            return a.name + "_lin"
    elif a.name in ("min", "max"):
        if _dim(x, tz_offset):
            return "minmax_dim"
        if isinstance(x, Bd.BMapGet) and x.col in _MAPS:
            return a.name + "_map"
    elif a.name == "percentile" and _is_latency(x):
        return "pct_latency"
    raise _No


def _measure_ok(b: Bd.B, aggs: list[tuple[Bd.BAgg, str]], tz_offset: int) -> None:
    """A measure, sort key or HAVING condition (the merge stage's expressions): aggregates of
    covered arguments and output references, combined by constants and scalar functions. A column
    outside an aggregate does not exist in the merge stage."""
    if isinstance(b, Bd.BAgg):
        aggs.append((b, _agg_kind(b, tz_offset)))
        return
    if isinstance(b, (Bd.BOutRef, Bd.BLit, Bd.BArr, Bd.BInterval)):
        return
    if isinstance(b, (Bd.BCol, Bd.BJson, Bd.BMapGet, Bd.BArrayIdx, Bd.BMatch, Bd.BAnySpan, Bd.BFilterSpans)):
        raise _No
    for c in b.children():
        _measure_ok(c, aggs, tz_offset)


def _ranges(filt: Bd.B | None, tz_offset: int) -> list[tuple[str, Bd.B]]:
    """The filter's `created` range conjuncts (op with created on the left); every other conjunct
    must be a dimension condition."""
    if filt is None:
        return []
    conj = filt.args if isinstance(filt, Bd.BBool) and filt.op == "and" else (filt,)
    out: list[tuple[str, Bd.B]] = []
    for c in conj:
        if isinstance(c, Bd.BCmp) and c.op in _RANGE_OPS and c.mode == "datetime":
            if _is_created(c.left) and not Bd.contains(c.right, Bd.VARYING):
                out.append((c.op, c.right))
                continue
            if _is_created(c.right) and not Bd.contains(c.left, Bd.VARYING):
                out.append((_FLIP[c.op], c.left))
                continue
        if not _dim(c, tz_offset):
            raise _No
    return out


def analyze(bq: BoundQuery, scope: Scope, tz_offset: int) -> Analysis | None:
    """How `bq` splits into rollup + raw reads, or None when the rollup cannot answer it exactly."""
    if (
        scope.object_type != S.PROJECT_LOGS
        or not bq.aggregate
        or bq.shape != "spans"
        or bq.infer is not None
        or bq.sample is not None
        or bq.unpivots
        or bq.stage1 is not None
        or bq.filter_spans is not None
    ):
        return None
    try:
        ranges = _ranges(bq.filter, tz_offset)
        for o in bq.outputs[: bq.ndims]:
            if not _dim(o.expr, tz_offset) or Bd.contains(o.expr, Bd.BAgg):
                raise _No
        aggs: list[tuple[Bd.BAgg, str]] = []
        for o in bq.outputs[bq.ndims :]:
            _measure_ok(o.expr, aggs, tz_offset)
        for b, _ in bq.sort:
            _measure_ok(b, aggs, tz_offset)
        if bq.final_filter is not None:
            _measure_ok(bq.final_filter, aggs, tz_offset)
    except _No:
        return None
    if not aggs:
        return None  # a GROUP BY of dimensions alone: nothing to pre-aggregate
    return Analysis(tuple(aggs), tuple(ranges))


# ------------------------------------------------------------------------------------ the plan


def _partials(gen: Gen, a: Bd.BAgg, kind: str) -> tuple[list[tuple[str, str]], str]:
    """[(raw partial, rollup partial)] of an aggregate and its merge (`{0}`, `{1}`: the partials)."""
    if kind == "count_all":
        return [("count()", "sum(_cnt)")], "toInt64(sum({0}))"
    assert a.arg is not None
    x = gen.r(a.arg, a.mode)
    count = (f"count({x})", f"sumIf(_cnt, ({x}) IS NOT NULL)")
    if kind in ("count_dim", "count_lin"):
        return [count], "toInt64(sum({0}))"
    total = (
        f"sumOrNull({x})",
        f"sumOrNull(({x}) * toInt64(_cnt))" if kind.endswith("_dim") else f"sumOrNull({x})",
    )
    if kind in ("sum_dim", "sum_lin"):
        return [total], "sumOrNull({0})"
    if kind in ("avg_dim", "avg_lin"):
        return [total, count], "(sumOrNull({0}) / nullIf(sum({1}), 0))"
    fn = "minOrNull" if a.name == "min" else "maxOrNull"
    if kind == "minmax_dim":
        return [(f"{fn}({x})", f"{fn}({x})")], fn + "({0})"
    if kind in ("min_map", "max_map"):
        assert isinstance(a.arg, Bd.BMapGet)
        lo, hi = _MAPS[a.arg.col]
        alt = dataclasses.replace(a.arg, col=lo if a.name == "min" else hi)
        return [(f"{fn}({x})", f"{fn}({gen.r(alt, a.mode)})")], fn + "({0})"
    assert kind == "pct_latency"
    p = gen.param(float(a.p or 0.0), "Float64")
    merged = f"quantileMerge({p})({{0}})"
    return (
        [(f"quantileStateIf(assumeNotNull({x}), isNotNull({x}))", "quantileMergeState(latency_q)")],
        f"if(isNaN({merged}), NULL, {merged})",
    )


def _us(gen: Gen, us: int) -> str:
    return f"fromUnixTimestamp64Micro({gen.param(us, 'Int64')}, 'UTC')"


def _contained(gen: Gen, hour: str, ranges: tuple[tuple[str, Bd.B], ...]) -> list[str]:
    """Conditions that an hour starting at `hour` lies wholly within the filter's created range."""
    out = []
    for op, bound in ranges:
        v = gen.r(bound, "datetime")
        if op in ("gt", "ge"):
            out.append(f"{hour} {'>' if op == 'gt' else '>='} {v}")
        elif op == "lt":
            out.append(f"({hour} + toIntervalHour(1)) <= {v}")
        else:
            out.append(f"({hour} + toIntervalHour(1)) <= ({v} + toIntervalMicrosecond(1))")
    return out


_HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _literal_us(b: Bd.B) -> int | None:
    """A time literal's value (µs since the epoch) when Python reads it as the store does (ISO
    8601; no zone = UTC), else None (then only the store decides)."""
    if not isinstance(b, Bd.BLit) or not isinstance(b.value, str):
        return None
    try:
        t = datetime.fromisoformat(b.value.strip())
    except ValueError:
        return None
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return (t - _EPOCH) // timedelta(microseconds=1)


def _literal_window(ranges: tuple[tuple[str, Bd.B], ...]) -> tuple[int | None, int | None]:
    """[lo, hi): bounds every row the filter keeps lies within, from its literal range bounds."""
    lo = hi = None
    for op, bound in ranges:
        t = _literal_us(bound)
        if t is None:
            continue
        if op in ("ge", "gt"):
            lo = t if lo is None else max(lo, t)
        else:
            end = t if op == "lt" else t + 1
            hi = end if hi is None else min(hi, end)
    return lo, hi


def _partial_hours(gen: Gen, ranges: tuple[tuple[str, Bd.B], ...]) -> list[str]:
    """Conditions on `created` selecting the rows of the hours the filter's range only partly
    covers (at most the first and the last), as constant bounds the table's key can prune by:
    `toStartOfHour(created)` fails `_contained` exactly when one of these holds."""
    out = []
    for op, bound in ranges:
        t = _literal_us(bound)
        if t is not None and (
            (op == "ge" and t % _HOUR_US == 0)
            or (op == "lt" and t % _HOUR_US == 0)
            or (op == "le" and (t + 1) % _HOUR_US == 0)
        ):
            continue  # the range starts (ends) on an hour: no partly covered hour there
        v = gen.r(bound, "datetime")
        if op == "ge":  # hours before the first whole one: before lo rounded up to an hour
            out.append(f"created < if(toStartOfHour({v}) = {v}, {v}, toStartOfHour({v}) + toIntervalHour(1))")
        elif op == "gt":  # an hour starting at lo is not wholly after it
            out.append(f"created < (toStartOfHour({v}) + toIntervalHour(1))")
        elif op == "lt":
            out.append(f"created >= toStartOfHour({v})")
        else:  # le: an hour ending exactly at hi (its last microsecond) is whole
            out.append(f"created >= toStartOfHour({v} + toIntervalMicrosecond(1))")
    return out


def _runs(hours: Sequence[CleanHour]) -> list[tuple[int, int]]:
    """Consecutive clean hours merged into [start, end) runs (µs)."""
    runs: list[tuple[int, int]] = []
    for h in sorted(hours, key=lambda c: c.hour_us):
        if runs and runs[-1][1] == h.hour_us:
            runs[-1] = (runs[-1][0], h.hour_us + _HOUR_US)
        else:
            runs.append((h.hour_us, h.hour_us + _HOUR_US))
    return runs


def plan_aggregate(
    ctx: shapes.ShapeInput, analysis: Analysis, hours: Sequence[CleanHour], db: str
) -> shapes.ShapePlan:
    """The aggregate shape over (rollup hours + raw rows): each part groups by the dimensions into
    partial aggregates, the outer stage merges them (`shapes.aggregate`'s outer clauses)."""
    gen, bq, src = ctx.gen, ctx.bq, ctx.src
    raw_parts: list[str] = []
    roll_parts: list[str] = []
    merge: dict[int, str] = {}
    for j, (a, kind) in enumerate(analysis.aggs):
        if id(a) in merge:
            continue
        parts, merge_fmt = _partials(gen, a, kind)
        names = [f"_p{j}_{k}" for k in range(len(parts))]
        raw_parts += [f"{r} AS {n}" for (r, _), n in zip(parts, names, strict=True)]
        roll_parts += [f"{ro} AS {n}" for (_, ro), n in zip(parts, names, strict=True)]
        for k, n in enumerate(names):  # (not str.format: parameter references hold braces too)
            merge_fmt = merge_fmt.replace("{" + str(k) + "}", n)
        merge[id(a)] = merge_fmt
    dims = bq.outputs[: bq.ndims]
    dim_sel, dim_group, dim_columns = shapes._grouped(gen, dims, bq.ndims, bq, False, "c")

    # rollup: the clean hours wholly inside the filter's range
    runs = _runs(hours)
    hour_arr = gen.param([h.hour_us for h in hours], "Array(Int64)")
    at_arr = gen.param([h.computed_us for h in hours], "Array(Int64)")
    in_runs = " OR ".join(f"(created >= {_us(gen, a)} AND created < {_us(gen, b)})" for a, b in runs)
    filt = [ctx.filt] if ctx.filt else []
    roll_where = (
        *src.conds,
        f"({in_runs})" if runs else "false",
        f"has(arrayZip({hour_arr}, {at_arr}), (toUnixTimestamp64Micro(created), toUnixTimestamp64Micro(computed_at)))",
        *_contained(gen, "created", analysis.ranges),
        *filt,
    )
    roll = Select(
        (*dim_sel, *roll_parts), Table(f"{db}.{ROLLUP_TABLE}"), where=roll_where, group_by=dim_group
    )
    # raw rows: outside the clean runs, or in a clean hour the range only partly covers; parts a
    # literal range bound proves empty are left out (the table's key prunes by whole days, so an
    # empty edge would still read a day), and with none left the raw read is not made at all
    lo, hi = _literal_window(analysis.ranges)
    outside: list[str] = []
    gaps: list[tuple[int | None, int | None]] = list(
        zip([None, *(e for _, e in runs)], [*(b for b, _ in runs), None], strict=True)
    )
    for g_start, g_end in gaps:  # the time around and between the runs: [g_start, g_end)
        if (g_end is not None and lo is not None and g_end <= lo) or (
            g_start is not None and hi is not None and g_start >= hi
        ):
            continue
        cond = []
        if g_start is not None:
            cond.append(f"created >= {_us(gen, g_start)}")
        if g_end is not None:
            cond.append(f"created < {_us(gen, g_end)}")
        outside.append("(" + " AND ".join(cond) + ")")
    outside += _partial_hours(gen, analysis.ranges)
    raw_where = (*src.conds, *filt, "(" + " OR ".join(outside) + ")")
    raw = Select((*dim_sel, *raw_parts), src.from_, where=raw_where, group_by=dim_group)
    union_parts = (roll, raw) if outside else (roll,)

    # the merge stage: dimensions as computed, aggregates from their partials
    sel = [f"c{i} AS c{i}" for i in range(bq.ndims)]
    columns = list(dim_columns)
    gen.agg_sql = merge
    try:
        for i, o in enumerate(bq.outputs[bq.ndims :], start=bq.ndims):
            sql, dec = shapes._out_sql(gen, o, bq.preview_length, False, dim=False)
            sel.append(f"{sql} AS c{i}")
            columns.append(Column(o.name, o.expr.type, dec, f"c{i}"))
        having = gen.cond(bq.final_filter) if bq.final_filter is not None else None
        offset = cursor_offset(ctx.payload) if ctx.payload is not None else 0
        order_by, limit, offset_sql = shapes.order_and_page(ctx, offset, "c")  # sort keys may be aggregates
    finally:
        gen.agg_sql = None
    select = Select(
        tuple(sel),
        Union(union_parts, "_r"),
        where=None,
        group_by=tuple(f"c{i}" for i in range(bq.ndims)),
        having=having,
        order_by=order_by,
        limit=limit,
        offset=offset_sql,
    )
    return shapes.ShapePlan(select, tuple(columns), "offset", offset=offset)


def hours_from_rows(rows: Sequence[Sequence[object]]) -> tuple[CleanHour, ...]:
    """`clean_hours_sql`'s result rows as `CleanHour`s."""
    return tuple(CleanHour(int(str(r[0])), int(str(r[1]))) for r in rows)
