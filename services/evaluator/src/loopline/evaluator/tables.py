"""The evaluator's tables (migration versions 400-499)."""

from __future__ import annotations

from loopline.common.schema import Migration
from loopline.evaluator.functions.tables import MIGRATIONS as FUNCTION_MIGRATIONS

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        400,
        "evaluator: org AI provider secrets (encrypted) and the model gateway's response cache",
        (
            """CREATE TABLE IF NOT EXISTS {db}.ai_secrets (
                org_id String, id String, name String, type String DEFAULT '',
                metadata String DEFAULT '', secret_enc String DEFAULT '', key_id String DEFAULT '',
                preview String DEFAULT '', created DateTime64(6, 'UTC'), updated_at DateTime64(6, 'UTC'),
                secret_updated_at Nullable(DateTime64(6, 'UTC')), secret_updated_by String DEFAULT '',
                _version UInt64, _is_deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (org_id, id)""",
            """CREATE TABLE IF NOT EXISTS {db}.proxy_cache (
                org_id String, key String, value String, created DateTime64(6, 'UTC'),
                expires DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree(created) ORDER BY (org_id, key)
            TTL toDateTime(expires)""",
        ),
    ),
    *FUNCTION_MIGRATIONS,
)
