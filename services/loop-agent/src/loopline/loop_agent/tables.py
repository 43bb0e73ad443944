"""The loop agent's tables (migration versions 600-699): conversations, their messages, each org's
model allowlist, the audit of every tool call, and the claims of running turns."""

from __future__ import annotations

from loopline.common.schema import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        600,
        "loop agent: conversations, their messages, org model allowlists, tool-call audit",
        (
            """CREATE TABLE IF NOT EXISTS {db}.loop_conversations (
                org_id String, id String, title String, model String, auto_accept UInt8,
                created_by String, created DateTime64(6, 'UTC'), updated DateTime64(6, 'UTC'),
                deleted UInt8 DEFAULT 0, _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, id)""",
            """CREATE TABLE IF NOT EXISTS {db}.loop_messages (
                org_id String, conversation_id String, seq UInt32, message String,
                created DateTime64(6, 'UTC')
            ) ENGINE = ReplacingMergeTree ORDER BY (org_id, conversation_id, seq)""",
            """CREATE TABLE IF NOT EXISTS {db}.loop_org_settings (
                org_id String, allowed_models Array(String), updated DateTime64(6, 'UTC'), _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY org_id""",
            """CREATE TABLE IF NOT EXISTS {db}.loop_tool_audit (
                org_id String, id String, conversation_id String, call_id String, tool String,
                user_id String, api_key_id String, arguments String, outcome String, error String,
                duration_ms Float64, rows_touched UInt64, created DateTime64(6, 'UTC')
            ) ENGINE = MergeTree ORDER BY (org_id, created, id)""",
        ),
    ),
    Migration(
        601,
        "loop agent: an org's model allowlist can be cleared (every model allowed again)",
        ("ALTER TABLE {db}.loop_org_settings ADD COLUMN IF NOT EXISTS cleared UInt8 DEFAULT 0",),
    ),
    Migration(
        602,
        "loop agent: the tools a conversation switched off (Loop's gear menu)",
        ("ALTER TABLE {db}.loop_conversations ADD COLUMN IF NOT EXISTS disabled_tools Array(String)",),
    ),
    Migration(
        603,
        "loop agent: running turns' claims on their conversations (one turn at a time across processes)",
        (
            # one row per claim, rewritten when its lease is renewed or it is released (the newest
            # _version wins); a claim is live while lease_until is ahead and it is not released.
            # A row is dropped a day after its lease ended (it blocks nothing by then).
            """CREATE TABLE IF NOT EXISTS {db}.loop_turns (
                org_id String, conversation_id String, claim_id String, owner String,
                lease_until DateTime64(6, 'UTC'), released UInt8 DEFAULT 0,
                updated DateTime64(6, 'UTC'), _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, conversation_id, claim_id)
            TTL toDateTime(lease_until) + INTERVAL 1 DAY""",
        ),
    ),
)
