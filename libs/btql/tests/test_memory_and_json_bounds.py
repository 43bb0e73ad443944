"""Regressions from the soak (issue 10): the parse cache holds only short texts, and a JSON-AST
interval with a non-string unit is a positioned error, not a TypeError (a 500)."""

from __future__ import annotations

import pytest
from loopline.btql import BtqlError, compile_query
from loopline.btql import parser as P
from loopline.btql.options import Scope

LOGS = Scope.project_logs("o1", "p1")


def test_only_short_texts_are_cached() -> None:
    P.parse_text.cache_clear()
    short = "select: id | from: project_logs('p1') | filter: metadata.a = 1"
    P.parse_text(short)
    P.parse_text(short)
    assert P.parse_text.cache_info().currsize == 1 and P.parse_text.cache_info().hits == 1
    long = short + " or " + " or ".join(f"metadata.k{i} = {i}" for i in range(600))
    assert len(long) > P.CACHED_TEXT_CHARS
    assert P.parse_text(long) == P.parse_text(long)
    assert P.parse_text.cache_info().currsize == 1


@pytest.mark.parametrize("unit", [{"a": 1}, ["day"], 3, None])
def test_json_interval_with_a_non_string_unit_is_a_btql_error(unit: object) -> None:
    query = {
        "select": [{"alias": "id", "expr": {"op": "ident", "name": ["id"]}}],
        "from": {
            "op": "function",
            "name": {"op": "ident", "name": ["project_logs"]},
            "args": [{"op": "literal", "value": "p1"}],
        },
        "filter": {
            "op": "gt",
            "left": {"op": "ident", "name": ["created"]},
            "right": {"op": "interval", "value": 1, "unit": unit},
        },
    }
    with pytest.raises(BtqlError) as ei:
        compile_query(query, LOGS)
    assert "interval unit" in ei.value.message
