"""The function catalogue (`functions.py`) against the spec's function tables, the binder and the
generator: one spec per function, and every function of the spec's §3 is compiled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from loopline.btql import BindError, Scope, bind_functions, compile_query
from loopline.btql import ast as A
from loopline.btql import functions as F

SPEC = Path("/work/shared/specs/btql.md")
LOGS = Scope.project_logs("o1", "p1")

# Functions the compiler supports beyond the spec's §3 tables, and why.
NOT_IN_SPEC_TABLES = {
    "includes": "documented in the §3.2 table as the alias of contains (`contains(array, value)` (alias `includes`))",
    "isnull": "§2.3: ISNULL unary operator, function-call form [OURS]",
    "isnotnull": "§2.3: ISNOTNULL unary operator, function-call form [OURS]",
}


def _spec_section3() -> str:
    if not SPEC.exists():
        pytest.skip("the BTQL spec is not available here")
    text = SPEC.read_text()
    start = text.index("## 3. Functions")
    end = text.index("## 4. ", start)
    return text[start:end]


def _spec_functions() -> set[str]:
    names: set[str] = set()
    for line in _spec_section3().splitlines():
        if line.startswith("|"):
            names |= set(re.findall(r"`([a-z_]+)\(", line))
    return names


def test_every_spec_function_is_in_the_catalogue() -> None:
    missing = _spec_functions() - set(F.NAMES)
    assert not missing, f"functions of the spec's §3 tables missing from the catalogue: {sorted(missing)}"


def test_every_catalogue_function_is_in_the_spec() -> None:
    extra = set(F.NAMES) - _spec_functions() - set(NOT_IN_SPEC_TABLES)
    assert not extra, f"catalogue functions the spec's §3 tables do not list: {sorted(extra)}"
    section = _spec_section3()
    assert "(alias `includes`)" in section


def test_one_spec_per_name_and_consistent_specs() -> None:
    assert len(F.NAMES) == len(F.FUNCTIONS)
    for f in F.FUNCTIONS:
        assert f.lo <= f.hi, f.name
        kinds = {a.kind for a in f.args}
        if f.hook is None:  # plain functions: every argument kind is checked from the spec
            assert not kinds & F.LITERAL_KINDS, f.name
            assert f.kind == "scalar"
            assert f.result not in ("unified", "argument"), f.name
        if f.aliases_of is not None:
            assert f.aliases_of in F.BY_NAME


def test_every_hook_names_a_bind_function() -> None:
    """A catalogue entry's `hook` is a `bind_*` function of `bind_functions` (one of the scalar
    hooks, or the binder of aggregates / span functions for those kinds)."""
    by_kind = {"aggregate": "bind_aggregate", "span": "bind_span_function"}
    for f in F.FUNCTIONS:
        if f.hook is None:
            continue
        assert callable(getattr(bind_functions, f.hook, None)), f.name
        if f.kind in by_kind:
            assert f.hook == by_kind[f.kind], f.name


def test_aggregates_come_from_the_catalogue() -> None:
    assert A.AGGREGATES == F.AGGREGATE_NAMES
    assert {"count", "sum", "percentile", "any_value"} <= A.AGGREGATES


def test_function_docs_list_every_function() -> None:
    docs = F.function_docs()
    assert [d["name"] for d in docs] == list(F.NAMES)
    by = {d["name"]: d for d in docs}
    assert by["round"]["signature"] == "round(number, [precision])"
    assert by["concat"]["signature"] == "concat(t1, …)"
    assert by["current_timestamp"]["alias_of"] == "now"
    assert all(d["summary"] and d["group"] for d in docs)


def _call_for(f: F.FunctionSpec) -> str:
    sample = {
        "timestamp": "created",
        "text": "input",
        "number": "metrics.latency",
        "scalar": "id",
        "collection": "tags",
        "convertible": "id",
        "any": "input",
        "predicate": "error IS NOT NULL",
        "unit": "'day'",
        "string_literal": "'x'",
        "int_literal": "2",
        "probability": "0.5",
        "interval_text": "'3 hours'",
    }
    args = ", ".join(sample[a.kind] for a in f.args[: max(f.lo, len(f.args))])
    if f.name in ("contains", "includes"):
        args = "tags, 'x'"
    return f"{f.name}({args})"


@pytest.mark.parametrize("spec", F.FUNCTIONS, ids=[f.name for f in F.FUNCTIONS])
def test_every_catalogue_function_compiles(spec: F.FunctionSpec) -> None:
    call = _call_for(spec)
    if spec.kind == "aggregate":
        q = f"measures: {call} as v | from: project_logs('p1')"
    elif spec.kind == "span":
        q = f"select: id | from: project_logs('p1') traces | filter: {call}"
    elif spec.name == "to_interval":
        q = f"select: id | from: project_logs('p1') | filter: created > now() - {call}"
    else:
        q = f"select: {call} as v | from: project_logs('p1')"
    cq = compile_query(q, LOGS, db="db")
    assert cq.sql.startswith(("SELECT", "WITH"))


def test_arity_from_the_catalogue() -> None:
    with pytest.raises(BindError, match=r"round\(\) takes 1 to 2 arguments, got 3"):
        compile_query("select: round(1, 2, 3) | from: project_logs('p1')", LOGS)
    with pytest.raises(BindError, match=r"concat\(\) takes at least 1 arguments?, got 0"):
        compile_query("select: concat() | from: project_logs('p1')", LOGS)
    with pytest.raises(BindError, match=r"unknown function 'lowr'; did you mean 'lower'\?"):
        compile_query("select: lowr(input) | from: project_logs('p1')", LOGS)
