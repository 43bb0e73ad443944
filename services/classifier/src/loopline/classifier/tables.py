"""The classifier's tables (migration versions 500-599): taxonomies (500), backfills (550), LLM fallback (551), corrections (560)."""

from __future__ import annotations

from loopline.common.schema import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        500,
        "classifier: taxonomies, one row per classifier version (deleted = a tombstone version)",
        (
            """CREATE TABLE IF NOT EXISTS {db}.classifiers (
                org_id String, project_id String, id String, version UInt32, facet String,
                labels String, text_path String DEFAULT '', threshold Float64,
                created DateTime64(6, 'UTC'), created_by String DEFAULT '', deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree ORDER BY (org_id, project_id, id, version)""",
        ),
    ),
    Migration(
        550,
        "classifier: backfill jobs (one row per progress update, the newest _version wins) and their cancel requests",
        (
            """CREATE TABLE IF NOT EXISTS {db}.classifier_backfills (
                org_id String, project_id String, id String, classifier_id String, version UInt32,
                facet String, since DateTime64(6, 'UTC'), until DateTime64(6, 'UTC'),
                state LowCardinality(String), cursor String DEFAULT '', total UInt64 DEFAULT 0,
                scanned UInt64 DEFAULT 0, labelled UInt64 DEFAULT 0, unchanged UInt64 DEFAULT 0,
                no_text UInt64 DEFAULT 0, error String DEFAULT '', owner String DEFAULT '',
                heartbeat DateTime64(6, 'UTC'), created DateTime64(6, 'UTC'),
                updated DateTime64(6, 'UTC'), created_by String DEFAULT '', _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, project_id, id)""",
            """CREATE TABLE IF NOT EXISTS {db}.classifier_backfill_cancels (
                org_id String, project_id String, id String, created DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree ORDER BY (org_id, project_id, id)""",
        ),
    ),
    Migration(
        551,
        "classifier: per-facet LLM fallback (on/off and model) on each classifier version",
        (
            "ALTER TABLE {db}.classifiers ADD COLUMN IF NOT EXISTS llm_fallback UInt8 DEFAULT 0, "
            "ADD COLUMN IF NOT EXISTS llm_model String DEFAULT ''",
        ),
    ),
    Migration(
        560,
        "classifier: corrections (a person's label for a logged span), the last one per facet and span",
        (
            """CREATE TABLE IF NOT EXISTS {db}.classifier_corrections (
                org_id String, project_id String, facet String, row_id String, classifier_id String,
                version UInt32, label String, text String DEFAULT '', user_id String DEFAULT '',
                created DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree(created) ORDER BY (org_id, project_id, facet, row_id)""",
        ),
    ),
)
