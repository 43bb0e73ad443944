"""The gateway's tables: orgs, API keys, users (sessions, invitations) and the control plane
(projects, experiments, datasets)."""

from __future__ import annotations

from loopline.common.schema import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "control plane: orgs, api keys, projects, experiments, datasets",
        (
            """CREATE TABLE IF NOT EXISTS {db}.orgs (
                id String, name String, created DateTime64(6, 'UTC'),
                _version UInt64, _is_deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY id""",
            """CREATE TABLE IF NOT EXISTS {db}.api_keys (
                org_id String, id String, name String, prefix String, key_hash String,
                user_id String DEFAULT '', created DateTime64(6, 'UTC'),
                revoked Nullable(DateTime64(6, 'UTC')),
                _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY (key_hash)""",
            """CREATE TABLE IF NOT EXISTS {db}.projects (
                org_id String, id String, name String, description String DEFAULT '',
                settings String DEFAULT '', user_id String DEFAULT '',
                created DateTime64(6, 'UTC'), _version UInt64, _is_deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (org_id, id)""",
            """CREATE TABLE IF NOT EXISTS {db}.experiments (
                org_id String, project_id String, id String, name String,
                description String DEFAULT '', base_exp_id String DEFAULT '',
                dataset_id String DEFAULT '', dataset_version String DEFAULT '',
                repo_info String DEFAULT '', metadata String DEFAULT '',
                public Bool DEFAULT false, user_id String DEFAULT '',
                created DateTime64(6, 'UTC'), _version UInt64, _is_deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (org_id, project_id, id)""",
            """CREATE TABLE IF NOT EXISTS {db}.datasets (
                org_id String, project_id String, id String, name String,
                description String DEFAULT '', metadata String DEFAULT '', user_id String DEFAULT '',
                created DateTime64(6, 'UTC'), _version UInt64, _is_deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (org_id, project_id, id)""",
        ),
    ),
    Migration(
        10,
        "control plane: experiment tags and parameters, dataset tags",
        (
            "ALTER TABLE {db}.experiments ADD COLUMN IF NOT EXISTS tags Array(String), "
            "ADD COLUMN IF NOT EXISTS parameters_id String DEFAULT '', "
            "ADD COLUMN IF NOT EXISTS parameters_version String DEFAULT ''",
            "ALTER TABLE {db}.datasets ADD COLUMN IF NOT EXISTS tags Array(String)",
        ),
    ),
    Migration(
        101,
        "users and roles: users, browser sessions, invitations; the role of service-account keys",
        (
            """CREATE TABLE IF NOT EXISTS {db}.users (
                org_id String, id String, email String, name String DEFAULT '',
                role LowCardinality(String), password_hash String DEFAULT '',
                created DateTime64(6, 'UTC'), _version UInt64, _is_deleted UInt8 DEFAULT 0
            ) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY id""",
            """CREATE TABLE IF NOT EXISTS {db}.sessions (
                token_hash String, id String, org_id String, user_id String, csrf String,
                created DateTime64(6, 'UTC'), expires DateTime64(6, 'UTC'),
                revoked Nullable(DateTime64(6, 'UTC')), _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY token_hash""",
            """CREATE TABLE IF NOT EXISTS {db}.invitations (
                token_hash String, id String, org_id String, email String DEFAULT '',
                role LowCardinality(String), created_by String DEFAULT '',
                created DateTime64(6, 'UTC'), expires DateTime64(6, 'UTC'),
                used Nullable(DateTime64(6, 'UTC')), _version UInt64
            ) ENGINE = ReplacingMergeTree(_version) ORDER BY token_hash""",
            # keys without a user are service-account keys with this role (existing keys: owner)
            "ALTER TABLE {db}.api_keys ADD COLUMN IF NOT EXISTS role LowCardinality(String) DEFAULT 'owner'",
        ),
    ),
)
