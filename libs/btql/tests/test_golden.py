"""Golden BTQL → ClickHouse SQL pairs (in the style of sqlglot's dialect tests).

The expected SQL is written one clause per line (`sql_pretty.pretty`: a reversible layout, so
the comparison stays exact); a failure or a change shows the clause that differs.

`{SCOPE}` stands for the injected tenant/object scope of `Scope.project_logs("o1", "p1")`:
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from loopline.btql import Scope, compile_query

from .sql_pretty import flat, pretty

SCOPE = (
    "org_id = {s_org:String} AND project_id = {s_proj:String} AND object_type = {s_type:String} "
    "AND object_id = 'g'"
)
LOGS = Scope.project_logs("o1", "p1")

GOLDEN: list[tuple[str, str, dict[str, Any]]] = [
    (
        "select: id | from: project_logs('p1') | filter: created > now() - interval 1 day",
        """
        SELECT id AS c0, created AS _k0, id AS _k1, object_id AS _k2
        FROM db.spans FINAL
        WHERE {SCOPE} AND (created > (now64(6, 'UTC') - toIntervalDay({p0:Int64})))
        ORDER BY created DESC, id DESC, object_id DESC
        LIMIT {p1:UInt64}
        """,
        {"p0": 1, "p1": 1001},
    ),
    (
        "select: id | from: project_logs('p1') | filter: metadata.model = 'gpt-4' and scores.Factuality >= 0.5",
        """
        SELECT id AS c0, created AS _k0, id AS _k1, object_id AS _k2
        FROM db.spans FINAL
        WHERE {SCOPE} AND ((CAST(metadata_json.`model`, 'Nullable(String)') = {p0:String}) AND (if(mapContains(scores_map, {p1:String}), scores_map[{p1:String}], NULL) >= {p2:Float64}))
        ORDER BY created DESC, id DESC, object_id DESC
        LIMIT {p3:UInt64}
        """,
        {"p0": "gpt-4", "p1": "Factuality", "p2": 0.5, "p3": 1001},
    ),
    (
        "select: id | from: project_logs('p1') | filter: input.question ILIKE '%reset%' or input MATCH 'Reset password'",
        """
        SELECT id AS c0, created AS _k0, id AS _k1, object_id AS _k2
        FROM db.spans FINAL
        WHERE {SCOPE} AND (ilike(JSONExtract(input, {p1:String}, 'Nullable(String)'), {p0:String}) OR hasAllTokens(lower(input), {p2:Array(String)}))
        ORDER BY created DESC, id DESC, object_id DESC
        LIMIT {p3:UInt64}
        """,
        {"p0": "%reset%", "p1": "question", "p2": ["reset", "password"], "p3": 1001},
    ),
    (
        "select: id | from: project_logs('p1') | filter: tags includes 'triage' and not (error IS NULL)",
        """
        SELECT id AS c0, created AS _k0, id AS _k1, object_id AS _k2
        FROM db.spans FINAL
        WHERE {SCOPE} AND (has(tags, {p0:String}) AND (NOT (error IN ('', 'null'))))
        ORDER BY created DESC, id DESC, object_id DESC
        LIMIT {p1:UInt64}
        """,
        {"p0": "triage", "p1": 1001},
    ),
    (
        "select: id | from: project_logs('p1') | filter: metadata.model IN ['a', 'b'] and span_attributes.type != 'llm'",
        """
        SELECT id AS c0, created AS _k0, id AS _k1, object_id AS _k2
        FROM db.spans FINAL
        WHERE {SCOPE} AND ((CAST(metadata_json.`model`, 'Nullable(String)') IN {p0:Array(String)}) AND (nullIf(span_type, '') != {p1:String}))
        ORDER BY created DESC, id DESC, object_id DESC
        LIMIT {p2:UInt64}
        """,
        {"p0": ["a", "b"], "p1": "llm", "p2": 1001},
    ),
    (
        "select: metadata.user.name as u, tags[-1] as t, metadata.\"a.b\" as ab | from: project_logs('p1') | filter: id = 'x'",
        """
        SELECT JSONExtractRaw(metadata, {p1:String}, {p2:String}) AS c0, if(length(tags) >= {p3:Int64}, arrayElement(tags, -{p3:Int64}), NULL) AS c1, JSONExtractRaw(metadata, {p4:String}) AS c2, created AS _k0, id AS _k1, object_id AS _k2
        FROM db.spans FINAL
        WHERE {SCOPE} AND (id = {p0:String})
        ORDER BY created DESC, id DESC, object_id DESC
        LIMIT {p5:UInt64}
        """,
        {"p0": "x", "p1": "user", "p2": "name", "p3": 1, "p4": "a.b", "p5": 1001},
    ),
    (
        "select: (scores.Factuality > 0.8 ? 'high' : 'low') as q | from: project_logs('p1') | filter: _xact_id > '100'",
        """
        SELECT multiIf((if(mapContains(scores_map, {p1:String}), scores_map[{p1:String}], NULL) > {p2:Float64}), {p3:String}, {p4:String}) AS c0, created AS _k0, id AS _k1, object_id AS _k2
        FROM db.spans FINAL
        WHERE {SCOPE} AND (_xact_id > {p0:UInt64})
        ORDER BY created DESC, id DESC, object_id DESC
        LIMIT {p5:UInt64}
        """,
        {"p0": 100, "p1": "Factuality", "p2": 0.8, "p3": "high", "p4": "low", "p5": 1001},
    ),
    (
        "dimensions: day(created) as d | measures: count(1) as n, percentile(metrics.latency, 0.9) as p | from: project_logs('p1') | filter: created > '2024-01-01' | sort: d desc",
        """
        SELECT toDateTime64(toStartOfDay(created), 6, 'UTC') AS c0, toInt64(count()) AS c1, quantileOrNull({p2:Float64})(if(mapContains(metrics_map, {p1:String}), metrics_map[{p1:String}], NULL)) AS c2
        FROM db.spans FINAL
        WHERE {SCOPE} AND (created > parseDateTime64BestEffortOrNull({p0:String}, 6, 'UTC'))
        GROUP BY toStartOfDay(created)
        ORDER BY c0 DESC NULLS LAST
        LIMIT {p3:UInt64}
        OFFSET {p4:UInt64}
        """,
        {"p0": "2024-01-01", "p1": "latency", "p2": 0.9, "p3": 1001, "p4": 0},
    ),
    (
        "select: id | from: project_logs('p1') traces | filter: any_span(error IS NOT NULL) and created > now() - interval 1 hour",
        """
        WITH (SELECT (min(_tmin) - INTERVAL 1 DAY, max(_tmax) + INTERVAL 1 DAY)
            FROM (SELECT object_id AS _to, root_span_id AS _tr, max(created) AS _tk, min(created) AS _tmin, max(created) AS _tmax
                FROM db.spans FINAL
                WHERE {SCOPE} AND (((object_id, root_span_id) IN (SELECT object_id, root_span_id
                    FROM db.spans FINAL
                    WHERE {SCOPE} AND (error NOT IN ('', 'null')))) AND (created > (now64(6, 'UTC') - toIntervalHour({p0:Int64}))))
                GROUP BY object_id, root_span_id
                ORDER BY _tk DESC, _tr DESC, _to DESC
                LIMIT {p1:UInt64})) AS _win
        SELECT id AS c0, _t._tk AS _k0, _t._tr AS _k1, _t._to AS _k2, created AS _k3, id AS _k4
        FROM db.spans FINAL
        INNER JOIN (SELECT object_id AS _to, root_span_id AS _tr, max(created) AS _tk, min(created) AS _tmin, max(created) AS _tmax
            FROM db.spans FINAL
            WHERE {SCOPE} AND (((object_id, root_span_id) IN (SELECT object_id, root_span_id
                FROM db.spans FINAL
                WHERE {SCOPE} AND (error NOT IN ('', 'null')))) AND (created > (now64(6, 'UTC') - toIntervalHour({p0:Int64}))))
            GROUP BY object_id, root_span_id
            ORDER BY _tk DESC, _tr DESC, _to DESC
            LIMIT {p1:UInt64}) AS _t ON object_id = _t._to AND root_span_id = _t._tr
        WHERE {SCOPE} AND created >= _win.1 AND created <= _win.2
        ORDER BY _k0 DESC, _k1 DESC, _k2 DESC, created ASC, id ASC
        """,
        {"p0": 1, "p1": 1001},
    ),
    (
        "select: id, score, value | from: project_logs('p1') | unpivot: scores as (score, value) | filter: id = 'x'",
        """
        SELECT id AS c0, _u0k AS c1, _u0v AS c2, created AS _k0, id AS _k1, object_id AS _k2, _u0k AS _k3
        FROM db.spans FINAL
        ARRAY JOIN mapKeys(scores_map) AS _u0k, mapValues(scores_map) AS _u0v
        WHERE {SCOPE} AND (id = {p0:String})
        ORDER BY created DESC, id DESC, object_id DESC, _u0k DESC
        LIMIT {p1:UInt64}
        """,
        {"p0": "x", "p1": 1001},
    ),
    (
        "SELECT id FROM project_logs('p1') WHERE id = 'x' ORDER BY created ASC LIMIT 5",
        """
        SELECT id AS c0, created AS _k0, id AS _k1, object_id AS _k2
        FROM db.spans FINAL
        WHERE {SCOPE} AND (id = {p0:String})
        ORDER BY created ASC, id ASC, object_id ASC
        LIMIT {p1:UInt64}
        """,
        {"p0": "x", "p1": 6},
    ),
]


@pytest.mark.parametrize(("btql", "sql", "params"), GOLDEN, ids=[f"golden{i}" for i in range(len(GOLDEN))])
def test_golden(btql: str, sql: str, params: dict[str, Any]) -> None:
    cq = compile_query(btql, LOGS, db="db")
    want = textwrap.dedent(sql).strip().replace("{SCOPE}", SCOPE)
    assert pretty(cq.sql) == want  # one clause per line: a failure shows the clause that differs
    assert cq.sql == flat(want)
    assert {k: v for k, v in cq.params.items() if not k.startswith("s_")} == params
    assert {k: v for k, v in cq.params.items() if k.startswith("s_")} == {
        "s_org": "o1",
        "s_type": "project_logs",
        "s_proj": "p1",
    }


def test_golden_dataset_as_of_version() -> None:
    cq = compile_query(
        "select: id, expected | from: dataset('d1') | filter: id = 'x'",
        Scope.dataset("o1", "d1", "p1", version=7),
        db="db",
    )
    assert (
        pretty(cq.sql)
        == textwrap.dedent(
            """
        SELECT id AS c0, expected AS c1, created AS _k0, id AS _k1, object_id AS _k2
        FROM (SELECT *
            FROM (SELECT *
                FROM db.dataset_rows
                WHERE org_id = {s_org:String} AND object_id = {s_ids:String} AND project_id = {s_proj:String} AND _xact_id <= {s_ver:UInt64}
                ORDER BY object_id, id, _xact_id DESC
                LIMIT 1 BY object_id, id)
            WHERE _is_deleted = 0) AS _d
        WHERE (id = {p0:String})
        ORDER BY created DESC, id DESC, object_id DESC
        LIMIT {p1:UInt64}
        """
        ).strip()
    )
    assert cq.params == {"s_org": "o1", "s_ids": "d1", "s_proj": "p1", "s_ver": 7, "p0": "x", "p1": 1001}


def test_golden_experiment_scope() -> None:
    cq = compile_query(
        "select: id | from: experiment('e1', 'e2') | filter: id = 'x'",
        Scope.experiment("o1", ["e1", "e2"]),
        db="db",
    )
    assert (
        "WHERE org_id = {s_org:String} AND object_type = {s_type:String} AND object_id IN {s_ids:Array(String)} AND (id = {p0:String})"
        in cq.sql
    )
    assert cq.params["s_ids"] == ["e1", "e2"] and cq.params["s_type"] == "experiment"


def test_equivalent_syntaxes_compile_identically() -> None:
    btql = "select: id | from: project_logs('p1') | filter: id = 'x' and created > now() | sort: created asc | limit: 5"
    sql = "SELECT id FROM project_logs('p1') WHERE id = 'x' AND created > now() ORDER BY created ASC LIMIT 5"
    json_q = {
        "select": [{"expr": {"op": "ident", "name": ["id"]}}],
        "from": {
            "op": "function",
            "name": {"op": "ident", "name": ["project_logs"]},
            "args": [{"op": "literal", "value": "p1"}],
        },
        "filter": {
            "op": "and",
            "children": [
                {
                    "op": "eq",
                    "left": {"op": "ident", "name": ["id"]},
                    "right": {"op": "literal", "value": "x"},
                },
                {
                    "op": "gt",
                    "left": {"op": "ident", "name": ["created"]},
                    "right": {"op": "function", "name": {"op": "ident", "name": ["now"]}, "args": []},
                },
            ],
        },
        "sort": [{"expr": {"op": "ident", "name": ["created"]}, "dir": "asc"}],
        "limit": 5,
    }
    a, b, c = (compile_query(q, LOGS) for q in (btql, sql, json_q))
    assert a.sql == b.sql == c.sql and a.params == b.params == c.params
