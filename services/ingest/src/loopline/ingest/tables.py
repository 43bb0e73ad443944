"""The ingest service's tables: dead letters (row writes the writer could not apply; the
writer records them, ingest's `/dead-letters` routes list and replay them)."""

from __future__ import annotations

from loopline.common.schema import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        4,
        "dead letters: row writes the writer could not apply, with the reason",
        (
            """CREATE TABLE IF NOT EXISTS {db}.dead_letters (
                key String, value String, reason String,
                created DateTime64(6, 'UTC'),
                id UUID DEFAULT generateUUIDv4(),
                replayed Nullable(DateTime64(6, 'UTC')),
                _version UInt64 DEFAULT toUnixTimestamp64Micro(now64(6))
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (created, id)""",
        ),
    ),
)
