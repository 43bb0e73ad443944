"""The schema on a ClickHouse cluster (`LOOPLINE_CLICKHOUSE_CLUSTER` names one in the servers'
`remote_servers`): each migration statement, as written for one server, rewritten for the cluster.

- `CREATE TABLE {db}.t (...) ENGINE = X(args) ...` becomes a replicated local table on every
  node, `{db}.t_local ... ON CLUSTER c ENGINE = ReplicatedX('/clickhouse/tables/{shard}/{database}/t_local',
  '{replica}', args)`, plus `{db}.t` as a `Distributed` table over it with a sharding key. Every
  statement and query keeps using `{db}.t`: inserts are routed by the key, reads fan out.
- The sharding key keeps every version of a row on one shard, so FINAL, ReplacingMergeTree
  deduplication and the writer's base lookups stay correct per shard. For the row tables it is
  the tenant's object (`SHARDING_KEYS`): a project's logs, an experiment, a dataset live on one
  shard, so a read of one object (fetch, BTQL, read-your-writes) reads one shard's data; for the
  other tables, the first column of the sort key (the tenant, or the row id).
- `ALTER TABLE {db}.t ...` runs `ON CLUSTER` on `t_local`; column changes also on `t`.
- `CREATE DATABASE` runs `ON CLUSTER`.
- `CREATE MATERIALIZED VIEW {db}.v TO {db}.t AS SELECT ... FROM {db}.s ...` runs `ON CLUSTER`
  between the local tables (`t_local`, `s_local`): each node's view sees the inserts of its own
  shard, and writes where the Distributed `t` reads.
- `INSERT INTO {db}.t SELECT ...` (a one-off fill) runs once, through the Distributed tables.

Inserts into a Distributed table are made synchronous (`CLUSTER_INSERT_SETTINGS`): the writer
commits its offsets only after the insert returned, so the rows must be on their shard by then.

The servers need the `{shard}` and `{replica}` macros and ClickHouse Keeper (or ZooKeeper). No
cluster runs in this repository's tests: they check the statements this produces (and that
ClickHouse parses them) and the routing key, not a running cluster.
"""

from __future__ import annotations

import re
from typing import Final

LOCAL_SUFFIX: Final = "_local"

#: The sharding key of each row table: the tenant's object (see the module docstring).
SHARDING_KEYS: Final[dict[str, str]] = {
    "spans": "cityHash64(org_id, project_id, object_type, object_id)",
    "dataset_rows": "cityHash64(org_id, project_id, object_id)",
    # a project's pre-aggregated hours live with its logs (btql rollup.py)
    "rollup_hourly": "cityHash64(org_id, project_id, object_type, object_id)",
    "rollup_hours": "cityHash64(org_id, project_id, object_type, object_id)",
    "rollup_changes": "cityHash64(org_id, project_id, object_type, object_id)",
}

#: Settings of every insert into a Distributed table: return only once the rows are on their shards.
CLUSTER_INSERT_SETTINGS: Final[dict[str, int]] = {"insert_distributed_sync": 1}

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_CREATE_TABLE = re.compile(
    r"\A\s*CREATE TABLE IF NOT EXISTS \{db\}\.(?P<table>\w+)\s*\((?P<columns>.*)\)\s*"
    r"ENGINE\s*=\s*(?P<engine>\w+)(?:\((?P<args>[^)]*)\))?(?P<rest>.*)\Z",
    re.S,
)
_ORDER_BY = re.compile(r"ORDER BY\s*\(?\s*(?P<first>\w+)")
_ALTER_TABLE = re.compile(r"\A\s*ALTER TABLE \{db\}\.(?P<table>\w+)\s+(?P<rest>.*)\Z", re.S)
_CREATE_VIEW = re.compile(
    r"\A\s*CREATE MATERIALIZED VIEW IF NOT EXISTS \{db\}\.(?P<view>\w+)\s+TO \{db\}\.(?P<to>\w+)\s+"
    r"AS\s+(?P<select>SELECT\b.*?\bFROM \{db\}\.)(?P<source>\w+)(?P<rest>.*)\Z",
    re.S,
)
_INSERT = re.compile(r"\A\s*INSERT INTO \{db\}\.\w+\s+SELECT\b", re.S)
_CREATE_DATABASE = re.compile(r"\A\s*CREATE DATABASE IF NOT EXISTS (?P<name>\S+)\s*\Z")


class ClusterSchemaError(ValueError):
    """A statement this module does not know how to run on a cluster (add its shape here)."""


def check_cluster_name(cluster: str) -> str:
    if not _NAME.match(cluster):
        raise ClusterSchemaError(f"cluster name {cluster!r}: use letters, digits, '_', '-' or '.'")
    return cluster


def sharding_key(table: str, first_sort_column: str) -> str:
    return SHARDING_KEYS.get(table, f"cityHash64({first_sort_column})")


def on_cluster(statement: str, cluster: str) -> list[str]:
    """The statements that do on `cluster` what `statement` does on one server."""
    c = check_cluster_name(cluster)
    if m := _CREATE_TABLE.match(statement):
        table, engine, rest = m["table"], m["engine"], m["rest"]
        if engine.startswith("Replicated") or engine == "Distributed":
            raise ClusterSchemaError(f"{table}: already a {engine} table")
        order = _ORDER_BY.search(rest)
        if order is None:
            raise ClusterSchemaError(f"{table}: a MergeTree table without ORDER BY")
        local = table + LOCAL_SUFFIX
        path = f"'/clickhouse/tables/{{shard}}/{{database}}/{local}', '{{replica}}'"
        args = f"{path}, {m['args']}" if m["args"] and m["args"].strip() else path
        return [
            f"CREATE TABLE IF NOT EXISTS {{db}}.{local} ON CLUSTER '{c}' ({m['columns']}) "
            f"ENGINE = Replicated{engine}({args}){rest}",
            f"CREATE TABLE IF NOT EXISTS {{db}}.{table} ON CLUSTER '{c}' AS {{db}}.{local} "
            f"ENGINE = Distributed('{c}', '{{db}}', '{local}', {sharding_key(table, order['first'])})",
        ]
    if m := _ALTER_TABLE.match(statement):
        table, rest = m["table"], m["rest"]
        out = [f"ALTER TABLE {{db}}.{table}{LOCAL_SUFFIX} ON CLUSTER '{c}' {rest}"]
        if re.search(r"\bCOLUMN\b", rest):  # the Distributed table's columns follow the local one's
            out.append(f"ALTER TABLE {{db}}.{table} ON CLUSTER '{c}' {rest}")
        return out
    if m := _CREATE_VIEW.match(statement):
        if "{db}." in m["rest"]:
            raise ClusterSchemaError(f"{m['view']}: a view over more than one table")
        return [
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.{m['view']} ON CLUSTER '{c}' "
            f"TO {{db}}.{m['to']}{LOCAL_SUFFIX} AS {m['select']}{m['source']}{LOCAL_SUFFIX}{m['rest']}"
        ]
    if _INSERT.match(statement):
        return [statement]
    if m := _CREATE_DATABASE.match(statement):
        return [f"CREATE DATABASE IF NOT EXISTS {m['name']} ON CLUSTER '{c}'"]
    raise ClusterSchemaError(f"no cluster form for: {statement.strip()[:120]}")
