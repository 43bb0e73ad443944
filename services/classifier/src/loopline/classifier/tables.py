"""The classifier's tables (migration versions 500-599)."""

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
)
