"""The tables of server-side eval jobs (migration versions 420-429).

`eval_jobs`: one row per job (latest `_version` wins): the launch writes it `queued`, the worker
that runs it rewrites it with its progress, its lease (`owner`, `heartbeat`) and at last its
outcome. `eval_job_cancels`: cancellation requests, in a table of their own so that a progress
write of the worker can never overwrite one.
"""

from __future__ import annotations

from loopline.common.schema import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        420,
        "evaluator: server-side eval jobs (status, progress, lease) and their cancellations",
        (
            """CREATE TABLE IF NOT EXISTS {db}.eval_jobs (
                org_id String, id String, project_id String, experiment_id String,
                experiment_name String DEFAULT '', status LowCardinality(String),
                total UInt64 DEFAULT 0, done UInt64 DEFAULT 0, errored UInt64 DEFAULT 0,
                errors String DEFAULT '[]', error String DEFAULT '', job String,
                owner String DEFAULT '', heartbeat DateTime64(6, 'UTC'),
                created DateTime64(6, 'UTC'), started Nullable(DateTime64(6, 'UTC')),
                finished Nullable(DateTime64(6, 'UTC')), requested_by String DEFAULT '',
                _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, id)""",
            """CREATE TABLE IF NOT EXISTS {db}.eval_job_cancels (
                org_id String, id String, requested DateTime64(6, 'UTC'),
                requested_by String DEFAULT ''
            ) ENGINE = ReplacingMergeTree(requested) ORDER BY (org_id, id)""",
        ),
    ),
)
