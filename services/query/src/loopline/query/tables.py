"""The query service's tables: async BTQL jobs, their result rows and cancel requests (shared by
every query replica), and saved dashboards (dashboards/store.py)."""

from __future__ import annotations

from loopline.btql import newest, rollup
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
    Migration(
        300,
        "saved dashboards: charts (BTQL + chart spec) and the view, per org and project",
        (
            """CREATE TABLE IF NOT EXISTS {db}.dashboards (
                org_id String, project_id String, id String, name String, description String DEFAULT '',
                body String, created DateTime64(6, 'UTC'), updated DateTime64(6, 'UTC'),
                _deleted UInt8 DEFAULT 0, _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, id)""",
        ),
    ),
    Migration(
        301,
        "pre-aggregated hours of project logs (btql rollup.py): the changed-hours view, the hourly "
        "groups and which computation of each hour is current",
        rollup.migration_statements(),
    ),
    Migration(
        302,
        "spans: an exact index on root_span_id (one token per row), for the newest-first reads' "
        "look-up of candidate traces' older spans (btql newest.py) and a trace's spans",
        (newest.ROOT_INDEX_DDL,),
    ),
)
