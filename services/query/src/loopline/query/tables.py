"""The query service's tables: async BTQL jobs, their result rows and cancel requests (shared by
every query replica)."""

from __future__ import annotations

from loopline.common.schema import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        11,
        "async BTQL jobs, their result rows and cancel requests (shared by every query replica)",
        (
            """CREATE TABLE IF NOT EXISTS {db}.btql_async_jobs (
                org_id String, id String, status String, error String DEFAULT '', info String DEFAULT '',
                created DateTime64(6, 'UTC'), heartbeat DateTime64(6, 'UTC'), _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, id)
            TTL toDateTime(created) + INTERVAL 2 HOUR""",
            """CREATE TABLE IF NOT EXISTS {db}.btql_async_rows (
                org_id String, job_id String, seq UInt32, row String, created DateTime64(6, 'UTC')
            ) ENGINE = MergeTree ORDER BY (org_id, job_id, seq)
            TTL toDateTime(created) + INTERVAL 2 HOUR""",
            """CREATE TABLE IF NOT EXISTS {db}.btql_async_cancels (
                org_id String, job_id String, created DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree ORDER BY (org_id, job_id)
            TTL toDateTime(created) + INTERVAL 2 HOUR""",
        ),
    ),
)
