"""The schema on a ClickHouse cluster (libs/common/.../store/cluster.py).

No cluster can run here (no ClickHouse server, no Keeper), so this checks what can be checked
without one: every migration of every service has a cluster form that ClickHouse parses, with
replicated local tables, Distributed tables and ON CLUSTER everywhere; the migration runner
issues only those forms; inserts on a cluster are synchronous; and the sharding key, evaluated
by the engine itself, puts every row of one tenant object on one shard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from loopline.common.store import Store, StoreError, apply_migrations
from loopline.common.store.cluster import (
    SHARDING_KEYS,
    ClusterSchemaError,
    on_cluster,
)
from loopline.common.store.migrations import _LEDGER

from loopline.runtime.registry import all_migrations


@pytest.fixture
async def engine(chdb_dsn: str) -> AsyncIterator[Store]:
    s = Store(chdb_dsn)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def every_statement() -> list[str]:
    return [_LEDGER, "CREATE DATABASE IF NOT EXISTS loopline"] + [
        s for m in all_migrations() for s in m.statements
    ]


async def test_every_statement_has_a_cluster_form_that_clickhouse_parses(engine: Store) -> None:
    for statement in every_statement():
        for stmt in on_cluster(statement, "prod"):
            sql = stmt.replace("{db}", "loopline")
            _, rows = await engine.query("SELECT formatQuery({q:String})", {"q": sql})
            if statement.lstrip().startswith("INSERT INTO"):  # a one-off fill: once, through Distributed
                assert stmt == statement
                continue
            assert "ON CLUSTER prod" in rows[0][0], sql


def test_a_materialized_view_joins_the_local_tables() -> None:
    view = (
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v_mv TO {db}.v AS SELECT org_id, count() AS n "
        "FROM {db}.spans WHERE is_root GROUP BY org_id"
    )
    assert on_cluster(view, "c") == [
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v_mv ON CLUSTER 'c' TO {db}.v_local AS "
        "SELECT org_id, count() AS n FROM {db}.spans_local WHERE is_root GROUP BY org_id"
    ]
    with pytest.raises(ClusterSchemaError, match="more than one table"):
        on_cluster(view.replace("WHERE is_root", "WHERE id IN (SELECT id FROM {db}.x)"), "c")


def test_a_table_becomes_a_replicated_local_table_behind_a_distributed_one() -> None:
    (spans,) = next(m.statements for m in all_migrations() if m.name.startswith("spans:"))
    local, dist = on_cluster(spans, "prod")
    assert local.startswith("CREATE TABLE IF NOT EXISTS {db}.spans_local ON CLUSTER 'prod' (")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/spans_local', "
        "'{replica}', _xact_id, _is_deleted)"
    ) in local
    assert "ORDER BY (org_id, project_id, object_type, object_id, toDate(created), id)" in local
    assert dist == (
        "CREATE TABLE IF NOT EXISTS {db}.spans ON CLUSTER 'prod' AS {db}.spans_local "
        "ENGINE = Distributed('prod', '{db}', 'spans_local', "
        "cityHash64(org_id, project_id, object_type, object_id))"
    )
    # a table without engine arguments, sharded by the first column of its sort key
    local, dist = on_cluster(_LEDGER, "prod")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/schema_migrations_local', '{replica}') ORDER BY version"
        in local
    )
    assert dist.endswith("'schema_migrations_local', cityHash64(version))")


def test_alters_run_on_the_local_tables_and_column_changes_on_both() -> None:
    index = "ALTER TABLE {db}.spans ADD INDEX IF NOT EXISTS i lower(input) TYPE text(tokenizer = 'splitByNonAlpha')"
    assert on_cluster(index, "c") == [
        "ALTER TABLE {db}.spans_local ON CLUSTER 'c' ADD INDEX IF NOT EXISTS i lower(input) "
        "TYPE text(tokenizer = 'splitByNonAlpha')"
    ]
    column = "ALTER TABLE {db}.datasets ADD COLUMN IF NOT EXISTS tags Array(String)"
    assert on_cluster(column, "c") == [
        "ALTER TABLE {db}.datasets_local ON CLUSTER 'c' ADD COLUMN IF NOT EXISTS tags Array(String)",
        "ALTER TABLE {db}.datasets ON CLUSTER 'c' ADD COLUMN IF NOT EXISTS tags Array(String)",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO {db}.spans VALUES (1)",
        "CREATE TABLE IF NOT EXISTS {db}.t (a UInt8) ENGINE = ReplicatedMergeTree ORDER BY a",
        "CREATE TABLE IF NOT EXISTS {db}.t (a UInt8) ENGINE = Memory",
    ],
)
def test_statements_without_a_cluster_form_are_refused(statement: str) -> None:
    with pytest.raises(ClusterSchemaError):
        on_cluster(statement, "c")


def test_cluster_names_cannot_inject_sql() -> None:
    with pytest.raises(ClusterSchemaError):
        on_cluster("CREATE DATABASE IF NOT EXISTS x", "c' SETTINGS x=1 --")


class RecordingServer(Store):
    """A store on a cluster whose server only records what it is asked (no server runs here)."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1/", cluster="prod")
        self.statements: list[str] = []
        self.inserts: list[tuple[str, Any]] = []

    async def command(self, sql: str, parameters: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.statements.append(sql)

    async def query(self, sql: str, parameters: Any = None, settings: Any = None) -> Any:
        return ["version"], []

    async def insert(self, table: str, rows: Any, column_names: Any) -> None:
        self.inserts.append((table, self.insert_settings))


async def test_migrations_on_a_cluster_run_only_cluster_forms_and_insert_synchronously() -> None:
    server = RecordingServer()
    applied = await apply_migrations(server, all_migrations())
    # every schema statement runs on the cluster; one-off fills (INSERT ... SELECT) run once
    schema = [s for s in server.statements if not s.startswith("INSERT INTO")]
    assert applied and schema and all("ON CLUSTER 'prod'" in s for s in schema)
    assert all(" SELECT" in s for s in server.statements if s.startswith("INSERT INTO"))
    creates = [s for s in server.statements if s.startswith("CREATE TABLE")]
    assert all(("_local ON CLUSTER" in s) == ("Replicated" in s) for s in creates)
    assert sum("ENGINE = Distributed(" in s for s in creates) == sum(
        "_local ON CLUSTER" in s for s in creates
    )
    assert server.inserts[0] == ("schema_migrations", {"insert_distributed_sync": 1})
    with pytest.raises(StoreError, match="needs a ClickHouse server"):
        Store("chdb:///tmp/x", cluster="prod")


async def test_the_sharding_key_keeps_each_tenant_object_on_one_shard(engine: Store) -> None:
    """Evaluated by the engine: every row and version of one object lands on one shard of 4,
    and the objects spread over the shards."""
    values = ", ".join(
        f"('org{o % 3}', 'p{o % 5}', 'experiment', 'obj{o}', 'row{r}', {x})"
        for o in range(40)
        for r in range(5)
        for x in range(3)
    )
    key = SHARDING_KEYS["spans"]
    sql = (
        f"SELECT object_id, uniqExact({key} % 4) AS shards, any({key} % 4) AS shard FROM values("
        f"'org_id String, project_id String, object_type String, object_id String, id String, _xact_id UInt64', "
        f"{values}) GROUP BY object_id"
    )
    _, rows = await engine.query(sql)
    assert len(rows) == 40 and all(r[1] == 1 for r in rows)
    assert len({r[2] for r in rows}) == 4
