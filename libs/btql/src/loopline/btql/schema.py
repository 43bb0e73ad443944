"""The row schema BTQL names resolve against, and how each field maps to ClickHouse.

Logical types: string, number (Float64), integer (Int64), bool, datetime (DateTime64(6,'UTC')),
xact (UInt64 transaction id, returned as a decimal string), array (Array(String)), json (a JSON
value of unknown type kept as JSON text), map (Map(String, Float64)), interval, null.

Physical layout (libs/common schema.py): JSON fields are JSON text in String columns ('' = absent),
with typed companions `metadata_json` (JSON type), `scores_map` / `metrics_map`
(Map(String, Float64)), `span_name` / `span_type` (= span_attributes.name / .type). Top-level
fields that have no column of their own (`facets`, `classifications`, anything else) are read
from the `extra` column, a JSON object of the row's other top-level keys.

Every SQL string in this module is a fixed, trusted fragment; user text never reaches it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

STRING = "string"
NUMBER = "number"
INTEGER = "integer"
BOOL = "bool"
DATETIME = "datetime"
XACT = "xact"
ARRAY = "array"
JSON = "json"
MAP = "map"
INTERVAL = "interval"
NULL = "null"


PROJECT_LOGS = "project_logs"
EXPERIMENT = "experiment"
DATASET = "dataset"
OBJECT_TYPES = (PROJECT_LOGS, EXPERIMENT, DATASET)

_ALL = frozenset(OBJECT_TYPES)
_SPANS = frozenset({PROJECT_LOGS, EXPERIMENT})


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    sql: str  # trusted SQL: a column, or an expression over columns
    sources: frozenset[str] = _ALL
    nonnull: bool = False
    # json fields: the column holding JSON text, and a path prefix inside it (extra.facets)
    json_prefix: tuple[str, ...] = ()
    # numeric one-level fast path (scores.X → scores_map['X'])
    map_col: str | None = None
    # JSON-type fast path for plain paths (metadata.a.b → metadata_json.a.b)
    json_fast: str | None = None
    # typed companions of one-level sub-paths: {"type": ("nullIf(span_type, '')", STRING)}
    subfields: tuple[tuple[str, str, str], ...] = ()
    # sort by these trusted expressions instead (keeps the sort key index-friendly)
    sort_sql: tuple[str, ...] = ()
    description: str = ""
    star: bool = True  # part of `select: *`


def _json(name: str, col: str | None = None, **kw: object) -> Field:
    return Field(name, JSON, col or name, **kw)  # type: ignore[arg-type]


_PAGINATION_SQL = "concat('p', leftPad(toString(toUnixTimestamp64Micro(created)), 20, '0'), ':', id)"

SPAN_FIELDS: tuple[Field, ...] = (
    Field("id", STRING, "id", nonnull=True, description="Unique row id"),
    Field("_xact_id", XACT, "_xact_id", nonnull=True, description="Transaction id of the row's latest write"),
    Field(
        "_pagination_key",
        STRING,
        _PAGINATION_SQL,
        nonnull=True,
        sort_sql=("created", "id"),
        description="Stable, time-ordered key for pagination",
    ),
    Field("created", DATETIME, "created", nonnull=True, description="Creation time"),
    Field("org_id", STRING, "org_id", sources=frozenset({PROJECT_LOGS}), nonnull=True),
    Field("project_id", STRING, "project_id", nonnull=True),
    Field("experiment_id", STRING, "object_id", sources=frozenset({EXPERIMENT}), nonnull=True),
    Field("dataset_id", STRING, "object_id", sources=frozenset({DATASET}), nonnull=True),
    Field("log_id", STRING, "object_id", sources=frozenset({PROJECT_LOGS}), nonnull=True),
    _json("input"),
    _json("output", sources=_SPANS),
    _json("expected"),
    _json("error", sources=_SPANS),
    _json("scores", sources=_SPANS, map_col="scores_map"),
    _json("metadata", json_fast="metadata_json"),
    _json("metrics", sources=_SPANS, map_col="metrics_map"),
    _json("context", sources=_SPANS),
    Field("tags", ARRAY, "tags", nonnull=True),
    Field("span_id", STRING, "span_id", nonnull=True),
    Field("root_span_id", STRING, "root_span_id", nonnull=True),
    Field("span_parents", ARRAY, "span_parents", sources=_SPANS, nonnull=True),
    Field("is_root", BOOL, "is_root", nonnull=True),
    _json(
        "span_attributes",
        sources=_SPANS,
        subfields=(("name", "nullIf(span_name, '')", STRING), ("type", "nullIf(span_type, '')", STRING)),
    ),
    _json("origin"),
    _json("comments", "comment", star=False),
    _json("audit_data", star=False),
    _json("facets", "extra", json_prefix=("facets",), star=False),
    _json("classifications", "extra", json_prefix=("classifications",), star=False),
    Field(
        "intent",
        STRING,
        "nullIf(intent, '')",
        sources=_SPANS,
        star=False,
        description="Classifier intent label",
    ),
    Field("intent_confidence", NUMBER, "intent_confidence", sources=_SPANS, star=False),
    Field(
        "latency",
        NUMBER,
        "if(mapContains(metrics_map, 'start') AND mapContains(metrics_map, 'end'), "
        "metrics_map['end'] - metrics_map['start'], NULL)",
        sources=_SPANS,
        star=False,
        description="metrics.end - metrics.start, in seconds",
    ),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in SPAN_FIELDS}

# The column holding a row's other top-level JSON keys.
EXTRA_COLUMN = "extra"

# MATCH is case-insensitive whole-token search and compiles to `hasAllTokens(lower(col), tokens)`,
# which the text indexes on the expressions lower(input) / lower(output) (migration 5) answer.
# Set a column to True if its index is instead on the raw column with `preprocessor = lower(col)`;
# MATCH then compiles to `hasAllTokens(col, tokens)`.
TEXT_INDEXED: dict[str, bool] = {"input": False, "output": False}


_OBJECT_ID_ALIASES = frozenset({"experiment_id", "dataset_id", "log_id"})


@functools.cache
def fields_for(object_type: str) -> dict[str, Field]:
    """Fields a query over `object_type` may name. Logs, experiment rows and dataset rows share
    one row shape, so every field is available everywhere (absent values read as null), except
    the object-id aliases; `Field.sources` only decides what `select: *` returns."""
    return {f.name: f for f in SPAN_FIELDS if f.name not in _OBJECT_ID_ALIASES or object_type in f.sources}


# ------------------------------------------------------------------------------- summary rows


@dataclass(frozen=True, slots=True)
class SummaryField:
    name: str
    type: str
    sql: str  # aggregate over the spans of one trace (trusted)
    nonnull: bool = False
    preview: bool = False  # truncated per preview_length on output
    description: str = ""


def _m(key: str) -> str:
    return f"metrics_map['{key}']"


def _has(key: str) -> str:
    return f"mapContains(metrics_map, '{key}')"


_ERR = "(error NOT IN ('', 'null'))"
_LLM = "(span_type = 'llm')"
_TOOL = "(span_type = 'tool')"
_DUR = f"({_m('end')} - {_m('start')})"
_HAS_DUR = f"({_has('start')} AND {_has('end')})"

SUMMARY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("prompt_tokens", NUMBER, f"sumIfOrNull({_m('prompt_tokens')}, {_has('prompt_tokens')})"),
    ("completion_tokens", NUMBER, f"sumIfOrNull({_m('completion_tokens')}, {_has('completion_tokens')})"),
    (
        "prompt_cached_tokens",
        NUMBER,
        f"sumIfOrNull({_m('prompt_cached_tokens')}, {_has('prompt_cached_tokens')})",
    ),
    (
        "prompt_cache_creation_tokens",
        NUMBER,
        f"sumIfOrNull({_m('prompt_cache_creation_tokens')}, {_has('prompt_cache_creation_tokens')})",
    ),
    (
        "total_tokens",
        NUMBER,
        f"sumIfOrNull(if({_has('total_tokens')}, {_m('total_tokens')}, {_m('tokens')}), "
        f"{_has('total_tokens')} OR {_has('tokens')})",
    ),
    ("estimated_cost", NUMBER, f"sumIfOrNull({_m('estimated_cost')}, {_has('estimated_cost')})"),
    ("llm_calls", INTEGER, f"toInt64(countIf({_LLM}))"),
    ("tool_calls", INTEGER, f"toInt64(countIf({_TOOL}))"),
    ("errors", INTEGER, f"toInt64(countIf({_ERR}))"),
    ("llm_errors", INTEGER, f"toInt64(countIf({_LLM} AND {_ERR}))"),
    ("tool_errors", INTEGER, f"toInt64(countIf({_TOOL} AND {_ERR}))"),
    ("start", NUMBER, f"minIfOrNull({_m('start')}, {_has('start')})"),
    ("end", NUMBER, f"maxIfOrNull({_m('end')}, {_has('end')})"),
    ("duration", NUMBER, f"maxIfOrNull({_DUR}, {_HAS_DUR})"),
    ("llm_duration", NUMBER, f"sumIfOrNull({_DUR}, {_HAS_DUR} AND {_LLM})"),
    (
        "time_to_first_token",
        NUMBER,
        f"avgIfOrNull({_m('time_to_first_token')}, {_has('time_to_first_token')} AND {_LLM})",
    ),
)

_ROOT = "is_root"
SUMMARY_FIELDS: tuple[SummaryField, ...] = (
    SummaryField("id", STRING, f"nullIf(anyIf(id, {_ROOT}), '')", description="Root span row id"),
    SummaryField("root_span_id", STRING, "root_span_id", nonnull=True),
    SummaryField("span_id", STRING, f"nullIf(anyIf(span_id, {_ROOT}), '')"),
    SummaryField("_xact_id", XACT, "max(_xact_id)", nonnull=True),
    SummaryField("created", DATETIME, "min(created)", nonnull=True),
    SummaryField("project_id", STRING, "any(project_id)", nonnull=True),
    SummaryField("object_id", STRING, "object_id", nonnull=True),
    SummaryField("input", JSON, f"anyIf(input, {_ROOT})", preview=True),
    SummaryField("output", JSON, f"anyIf(output, {_ROOT})", preview=True),
    SummaryField("expected", JSON, f"anyIf(expected, {_ROOT})", preview=True),
    SummaryField("error", JSON, f"anyIf(error, {_ROOT})", preview=True),
    SummaryField("metadata", JSON, f"anyIf(metadata, {_ROOT})", preview=True),
    SummaryField("tags", ARRAY, f"anyIf(tags, {_ROOT})", nonnull=True),
    SummaryField("span_attributes", JSON, f"anyIf(span_attributes, {_ROOT})"),
    SummaryField("origin", JSON, f"anyIf(origin, {_ROOT})"),
    SummaryField(
        "scores",
        MAP,
        "avgMap(scores_map)",
        nonnull=True,
        description="Scores averaged over the trace's spans",
    ),
    SummaryField(
        "span_type_info",
        JSON,
        "toJSONString(CAST(tuple("
        f"countIf({_LLM}) > 0 AND countIf({_LLM} AND NOT ifNull(JSONExtract(metrics, 'cached', 'Nullable(Bool)'), false)) = 0, "
        f"countIf({_ERR}) > 0, nullIf(anyIf(span_name, {_ROOT}), ''), nullIf(anyIf(span_type, {_ROOT}), '')), "
        "'Tuple(cached Bool, has_error Bool, name Nullable(String), type Nullable(String))'))",
        nonnull=True,
    ),
    SummaryField("span_count", INTEGER, "toInt64(count())", nonnull=True),
)
SUMMARY_BY_NAME: dict[str, SummaryField] = {f.name: f for f in SUMMARY_FIELDS}
SUMMARY_METRIC_BY_NAME: dict[str, tuple[str, str, str]] = {m[0]: m for m in SUMMARY_METRICS}

# Output-only alias of the summary object id per source type.
SUMMARY_OBJECT_ID_NAME = {PROJECT_LOGS: "log_id", EXPERIMENT: "experiment_id", DATASET: "dataset_id"}
