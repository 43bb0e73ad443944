"""Online scoring's tables (migration versions 430-439)."""

from __future__ import annotations

from loopline.common.schema import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        430,
        "evaluator online scoring: project scores (rules), scoring work and per-rule counters",
        (
            # /v1/project_score: the rules (score_type online) and plain project scores
            """CREATE TABLE IF NOT EXISTS {db}.project_scores (
                org_id String, project_id String, id String, name String,
                description String DEFAULT '', score_type LowCardinality(String),
                categories String DEFAULT '', config String DEFAULT '', user_id String DEFAULT '',
                created DateTime64(6, 'UTC'), _version UInt64, _is_deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (org_id, id)""",
            # one row per (rule, scored span or trace): pending (waiting for its trace to be
            # complete and quiet, or for a retry), then done / error / skipped (final: the dedupe
            # record that makes redelivery and restarts a no-op). `results`: scorer key -> outcome.
            """CREATE TABLE IF NOT EXISTS {db}.online_work (
                org_id String, project_id String, object_type LowCardinality(String),
                object_id String, rule_id String, target_id String, root_span_id String,
                scope LowCardinality(String), state LowCardinality(String),
                attempts UInt32 DEFAULT 0, committed_at DateTime64(6, 'UTC'),
                due_at DateTime64(6, 'UTC'), results String DEFAULT '', error String DEFAULT '',
                cost Float64 DEFAULT 0, updated_at DateTime64(6, 'UTC'), _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, rule_id, target_id)""",
            # counters per rule and UTC day (scored, skipped_sampling, errors, retries, cost_usd, ...)
            """CREATE TABLE IF NOT EXISTS {db}.online_counters (
                org_id String, rule_id String, day Date, name LowCardinality(String), value Float64
            ) ENGINE = SummingMergeTree(value) ORDER BY (org_id, rule_id, day, name)""",
        ),
    ),
    Migration(
        431,
        "evaluator online scoring: pending work is leased (owner, lease_until)",
        (
            # the engine that holds a pending item and until when; after it, another may take it
            "ALTER TABLE {db}.online_work ADD COLUMN IF NOT EXISTS owner String DEFAULT '', "
            "ADD COLUMN IF NOT EXISTS lease_until DateTime64(6, 'UTC') DEFAULT 0",
        ),
    ),
    Migration(
        432,
        "evaluator online scoring: score-past-logs jobs (backfills), and which job a work item came from",
        (
            # one row per progress update of a backfill (the newest _version wins); the cursor is
            # the (created, id) of the last span examined, newest first
            """CREATE TABLE IF NOT EXISTS {db}.online_backfills (
                org_id String, project_id String, rule_id String, id String,
                state LowCardinality(String), since Nullable(DateTime64(6, 'UTC')),
                until Nullable(DateTime64(6, 'UTC')), max_spans UInt32, respect_sampling UInt8,
                cursor_created String DEFAULT '', cursor_id String DEFAULT '',
                examined UInt32 DEFAULT 0, enqueued UInt32 DEFAULT 0, already UInt32 DEFAULT 0,
                unfinished UInt32 DEFAULT 0, unsampled UInt32 DEFAULT 0, error String DEFAULT '',
                owner String DEFAULT '', lease_until DateTime64(6, 'UTC') DEFAULT 0,
                user_id String DEFAULT '', created DateTime64(6, 'UTC'),
                updated_at DateTime64(6, 'UTC'), _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, id)""",
            # a cancel request is its own row: a progress write can never undo it
            """CREATE TABLE IF NOT EXISTS {db}.online_backfill_cancels (
                org_id String, id String, at DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree ORDER BY (org_id, id)""",
            # '' for live scoring, else the backfill job that queued the item
            "ALTER TABLE {db}.online_work ADD COLUMN IF NOT EXISTS source String DEFAULT ''",
        ),
    ),
)
