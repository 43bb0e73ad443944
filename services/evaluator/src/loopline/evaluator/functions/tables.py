"""The tables of prompts, functions and code bundles (evaluator migrations 401-409)."""

from __future__ import annotations

from loopline.common.schema import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        401,
        "evaluator: prompts and functions (every version a row, by _xact_id) and pushed code bundles",
        (
            """CREATE TABLE IF NOT EXISTS {db}.functions (
                org_id String, project_id String, id String, _xact_id UInt64,
                slug String, name String, function_type String DEFAULT '', is_prompt UInt8 DEFAULT 0,
                created DateTime64(6, 'UTC'), user_id String DEFAULT '', doc String,
                _is_deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree ORDER BY (org_id, project_id, id, _xact_id)""",
            """CREATE TABLE IF NOT EXISTS {db}.function_bundles (
                org_id String, bundle_id String, seq UInt32, chunks UInt32, size UInt64,
                sha256 String, runtime String DEFAULT '', chunk String, created DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree(created) ORDER BY (org_id, bundle_id, seq)""",
        ),
    ),
)
