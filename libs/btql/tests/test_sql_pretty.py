"""The golden-SQL layout (`sql_pretty`): one clause per line, reversible."""

from __future__ import annotations

from .sql_pretty import flat, pretty


def test_clauses_of_each_select_start_lines_indented_by_depth() -> None:
    sql = (
        "SELECT a AS c0 FROM db.spans FINAL WHERE x IN (SELECT id FROM db.spans FINAL WHERE y = 1 LIMIT 2) "
        "GROUP BY a ORDER BY a ASC LIMIT {p0:UInt64}"
    )
    assert pretty(sql) == (
        "SELECT a AS c0\n"
        "FROM db.spans FINAL\n"
        "WHERE x IN (SELECT id\n"
        "    FROM db.spans FINAL\n"
        "    WHERE y = 1\n"
        "    LIMIT 2)\n"
        "GROUP BY a\n"
        "ORDER BY a ASC\n"
        "LIMIT {p0:UInt64}"
    )
    assert flat(pretty(sql)) == sql


def test_keywords_in_calls_and_strings_stay_put() -> None:
    sql = "SELECT trim(TRAILING 'x' FROM s) AS c0, ' FROM ' AS c1, `a WHERE b` AS c2 FROM t WHERE true"
    assert pretty(sql) == (
        "SELECT trim(TRAILING 'x' FROM s) AS c0, ' FROM ' AS c1, `a WHERE b` AS c2\nFROM t\nWHERE true"
    )
    assert flat(pretty(sql)) == sql


def test_with_then_select() -> None:
    sql = "WITH (SELECT 1 FROM (SELECT a FROM t WHERE b)) AS _w SELECT c FROM t WHERE d"
    out = pretty(sql)
    assert out.splitlines()[-3:] == ["SELECT c", "FROM t", "WHERE d"]
    assert flat(out) == sql
