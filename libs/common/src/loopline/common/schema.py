"""ClickHouse schema: the migration type and the row tables every reader shares.

Every table has one owner (see DESIGN.md), and the owner declares its migrations in its
`ServiceDef.migrations` (the gateway its control-plane tables, the query service its async-job
tables, …); the runtime applies every known service's migrations (`runtime.registry`). The row
tables live here because they are the storage contract between the writer that owns them and
everything that reads them, like `stored_row`. Migrations are append-only: never edit one that
has shipped, add a new one. `{db}` is replaced by the configured database name.

Span table design (see research/peers.md):
- one wide table for project logs and experiment rows, ReplacingMergeTree versioned by
  `_xact_id` with `_is_deleted` tombstones, read with FINAL;
- sort key led by tenant and object, then day of `created`, then row id. `created` is sticky
  per row key (the writer keeps the first value), so every version of a row shares its sort
  key and FINAL deduplicates it;
- JSON fields kept verbatim as String (exact round trip) plus typed companions for fast
  filtering: `metadata_json` (JSON type), `scores_map` / `metrics_map` (Map(String, Float64));
- a text index on input/output, bloom filters on id / root_span_id, a light preview column.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of a service's schema. `version` is unique across all services (one ledger,
    `{db}.schema_migrations`); a service numbers new migrations in its own block of 100
    (gateway 100-199, ingest and writer 200-299, query 300-399, evaluator 400-499,
    classifier 500-599, loop-agent 600-699); versions below 100 predate the blocks."""

    version: int
    name: str
    statements: tuple[str, ...]


SPAN_COLUMNS_DDL = """
    org_id LowCardinality(String),
    project_id String,
    object_type LowCardinality(String),
    object_id String,
    id String,
    _xact_id UInt64,
    _is_deleted UInt8 DEFAULT 0,
    created DateTime64(6, 'UTC'),
    span_id String,
    root_span_id String,
    span_parents Array(String),
    is_root Bool,
    span_attributes String DEFAULT '',
    span_name String DEFAULT '',
    span_type LowCardinality(String) DEFAULT '',
    input String DEFAULT '',
    output String DEFAULT '',
    expected String DEFAULT '',
    error String DEFAULT '',
    scores String DEFAULT '',
    scores_map Map(String, Float64),
    metadata String DEFAULT '',
    metadata_json JSON(max_dynamic_paths = 256) MATERIALIZED if(metadata = '', '{}', metadata)::JSON,
    metrics String DEFAULT '',
    metrics_map Map(String, Float64),
    start_time DateTime64(6, 'UTC'),
    end_time Nullable(DateTime64(6, 'UTC')),
    duration Nullable(Float64),
    tags Array(String),
    context String DEFAULT '',
    origin String DEFAULT '',
    comment String DEFAULT '',
    audit_data String DEFAULT '',
    extra String DEFAULT '',
    intent LowCardinality(String) DEFAULT '',
    intent_confidence Float32 DEFAULT 0,
    input_preview String MATERIALIZED substringUTF8(input, 1, 200),
    output_preview String MATERIALIZED substringUTF8(output, 1, 200),
    INDEX idx_id id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_root root_span_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_input_text input TYPE text(tokenizer = 'splitByNonAlpha'),
    INDEX idx_output_text output TYPE text(tokenizer = 'splitByNonAlpha')
"""

#: Settings for every statement that parses JSON text into the JSON type: the writer's inserts
#: (they fill the `metadata_json` companion from `metadata`) and reads that cast `::JSON`.
#: - `json_type_escape_dots_in_keys` (ClickHouse >= 25.8): a key with dots is one path, so
#:   `{"a.b": 1, "a": {"b": 2}}` stores both (`a%2Eb` and `a.b`) instead of failing with
#:   "Duplicate path found", and a plain path `a.b` means nested keys only — the same answer as
#:   `JSONExtract(metadata, 'a', 'b')` (BTQL's fast and slow paths agree). It also keeps a key of
#:   10,000 dotted segments one path (unescaped, it would nest past the parser's depth limit).
#: - `type_json_skip_duplicated_paths` (>= 24.8): should two keys still map to one path (a key
#:   holding a literal `%2E`, or an engine without the first setting), keep the first instead of
#:   failing. The typed companion is then partial for that row; the verbatim `metadata` String
#:   (what fetch returns) is always exact.
JSON_TYPE_SETTINGS: dict[str, int] = {
    "json_type_escape_dots_in_keys": 1,
    "type_json_skip_duplicated_paths": 1,
}

#: The full-text indexes (column → index name) of the tables that have them (migration 5).
TEXT_INDEXES: dict[str, str] = {col: f"idx_{col}_lc" for col in ("input", "output")}
TEXT_INDEXED_TABLES = ("spans", "dataset_rows")

#: The row tables: the storage contract between the writer (which owns and creates them) and
#: every reader (query, and the services that read spans). Version numbers below 100 predate
#: per-service ownership; see `Migration` for how new ones are numbered.
ROW_TABLES: tuple[Migration, ...] = (
    Migration(
        2,
        "spans: project logs and experiment rows",
        (
            f"""CREATE TABLE IF NOT EXISTS {{db}}.spans ({SPAN_COLUMNS_DDL})
            ENGINE = ReplacingMergeTree(_xact_id, _is_deleted)
            PARTITION BY toYYYYMM(created)
            ORDER BY (org_id, project_id, object_type, object_id, toDate(created), id)
            SETTINGS index_granularity = 8192""",
        ),
    ),
    Migration(
        3,
        "dataset records with full version history",
        (
            f"""CREATE TABLE IF NOT EXISTS {{db}}.dataset_rows ({SPAN_COLUMNS_DDL})
            ENGINE = MergeTree
            ORDER BY (org_id, project_id, object_id, id, _xact_id)""",
        ),
    ),
    Migration(
        5,
        "case-insensitive full-text: text indexes on lower(input) / lower(output)",
        tuple(
            f"ALTER TABLE {{db}}.{table} DROP INDEX IF EXISTS idx_{col}_text, "
            f"ADD INDEX IF NOT EXISTS {index} lower({col}) TYPE text(tokenizer = 'splitByNonAlpha')"
            for table in TEXT_INDEXED_TABLES
            for col, index in TEXT_INDEXES.items()
        ),
    ),
)
