"""The SQL plan: a compiled query as a small tree of SELECTs, rendered to text once, and the scope
enforcer that refuses a plan with a table read outside the tenant scope.

The compiler builds one `SqlPlan` per query shape (rows, summary, traces, aggregate, infer).
Fragments inside a `Select` (columns, conditions, keys) are SQL text from the generator; the
structure (FROM, joins, subqueries, WHERE, GROUP BY, ...) is data, so what reads which table is
known without reading strings. Subqueries that live inside expressions (ANY_SPAN, sampling,
trace selection) are rendered through `Embedded.render`, which records them: the enforcer
checks those too.

`enforce_scope(plan, scope)` is the last step of compiling: every SELECT that reads a stored
table directly must carry every condition of the scope in its WHERE, the scope's parameters must
hold the scope's values, and no fragment may name a stored table except through a recorded
subquery. Cheap on the structure (no parsing of SQL).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from loopline.btql import schema as S
from loopline.btql.errors import ScopeError
from loopline.btql.options import Scope


@dataclass(frozen=True, slots=True)
class Table:
    """A stored table, read directly (`db.spans FINAL`)."""

    name: str  # db.spans | db.dataset_rows
    final: bool = False


@dataclass(frozen=True, slots=True)
class Subquery:
    select: Select
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Join:
    left: Table | Subquery
    right: Subquery
    on: str
    kind: str = "INNER"


@dataclass(frozen=True, slots=True)
class Union:
    """`(SELECT … UNION ALL SELECT …) AS alias`: the parts of one read (a pre-aggregated read's
    stored hours and its raw rows, `rollup.py`)."""

    selects: tuple[Select, ...]
    alias: str


FromItem = Table | Subquery | Join | Union


@dataclass(frozen=True, slots=True)
class Select:
    """One SELECT. `where=None` writes no WHERE; an empty tuple writes `WHERE true`."""

    columns: tuple[str, ...]
    from_: FromItem
    array_join: tuple[str, ...] = ()
    # conditions applied as the rows are read, before FINAL merges a row's versions: only on
    # columns every version of a row shares (`created`, the sort key)
    prewhere: tuple[str, ...] = ()
    where: tuple[str, ...] | None = None
    group_by: tuple[str, ...] = ()
    having: str | None = None
    order_by: tuple[str, ...] = ()
    limit: str | None = None
    limit_by: str | None = None  # LIMIT n BY <limit_by>
    offset: str | None = None
    with_: tuple[tuple[Select, str], ...] = ()  # WITH (<scalar subquery>) AS <name>

    def reads(self) -> Table | None:
        """The stored table this SELECT reads directly (its FROM, or a join's left side)."""
        f = self.from_
        if isinstance(f, Table):
            return f
        if isinstance(f, Join) and isinstance(f.left, Table):
            return f.left
        return None

    def subqueries(self) -> Iterator[Select]:
        for s, _ in self.with_:
            yield s
        f = self.from_
        if isinstance(f, Subquery):
            yield f.select
        elif isinstance(f, Union):
            yield from f.selects
        elif isinstance(f, Join):
            if isinstance(f.left, Subquery):
                yield f.left.select
            yield f.right.select


def and_(parts: list[str] | tuple[str, ...]) -> str:
    """Conditions joined by AND (`true` when there are none)."""
    kept = [p for p in parts if p and p != "true"]
    if not kept:
        return "true"
    return " AND ".join(kept)


def _from_sql(f: FromItem, memo: dict[int, str] | None) -> str:
    if isinstance(f, Table):
        return f"{f.name} FINAL" if f.final else f.name
    if isinstance(f, Subquery):
        inner = f"({_render(f.select, {} if memo is None else memo)})"
        return f"{inner} AS {f.alias}" if f.alias else inner
    if isinstance(f, Union):
        memo = {} if memo is None else memo
        return "(" + " UNION ALL ".join(_render(x, memo) for x in f.selects) + f") AS {f.alias}"
    return f"{_from_sql(f.left, memo)} {f.kind} JOIN {_from_sql(f.right, memo)} ON {f.on}"


def render(s: Select) -> str:
    """The SELECT as one line of ClickHouse SQL."""
    return _render(s, None)


def _render(s: Select, memo: dict[int, str] | None) -> str:
    """(`memo`: the text of each SELECT already rendered in this pass, by identity: a subquery
    used twice, as the traces' trace selection, is rendered once)"""
    if memo is None:
        if s.with_ or not isinstance(s.from_, Table):
            memo = {}
    else:
        done = memo.get(id(s))
        if done is not None:
            return done
    f = s.from_
    sql = f"SELECT {', '.join(s.columns)} FROM {f'{f.name} FINAL' if isinstance(f, Table) and f.final else _from_sql(f, memo)}"
    if s.array_join:
        sql += "".join([f" ARRAY JOIN {a}" for a in s.array_join])
    if s.prewhere:
        sql += f" PREWHERE {and_(s.prewhere)}"
    if s.where is not None:
        sql += f" WHERE {and_(s.where)}"
    if s.group_by:
        sql += f" GROUP BY {', '.join(s.group_by)}"
    if s.having:
        sql += f" HAVING {s.having}"
    if s.order_by:
        sql += f" ORDER BY {', '.join(s.order_by)}"
    if s.limit is not None:
        sql += f" LIMIT {s.limit}" if s.limit_by is None else f" LIMIT {s.limit} BY {s.limit_by}"
    if s.offset is not None:
        sql += f" OFFSET {s.offset}"
    if s.with_:
        sql = "WITH " + ", ".join(f"({_render(w, memo)}) AS {name}" for w, name in s.with_) + " " + sql
    if memo is not None:
        memo[id(s)] = sql
    return sql


class Embedded:
    """Subqueries rendered inside expressions (ANY_SPAN, sampling, trace selection), recorded
    as they are rendered so the scope enforcer sees them."""

    __slots__ = ("selects", "texts")

    def __init__(self) -> None:
        self.selects: list[Select] = []
        self.texts: list[str] = []

    def render(self, s: Select) -> str:
        sql = render(s)
        self.selects.append(s)
        self.texts.append(sql)
        return sql


@dataclass(frozen=True, slots=True)
class ScopedSource:
    """Where a read of the scope's rows comes from: the FROM item and the scope conditions each
    read adds to its WHERE (none when the FROM item applies them itself, as for datasets)."""

    from_: Table | Subquery
    conds: tuple[str, ...]
    embedded: Embedded

    def select(self, columns: tuple[str, ...], where: tuple[str, ...] = (), **kw: Any) -> Select:
        """A SELECT over the scope's rows: the scope's conditions, then `where`."""
        return Select(columns, self.from_, where=(*self.conds, *where), **kw)

    def member(self, key: str, columns: tuple[str, ...], where: tuple[str, ...], **kw: Any) -> str:
        """`((key) IN (SELECT columns FROM <scope's rows> WHERE …))`, the subquery recorded."""
        return f"(({key}) IN ({self.embedded.render(self.select(columns, where, **kw))}))"


@dataclass(frozen=True, slots=True)
class SqlPlan:
    """A compiled query's SELECT tree, its parameters, the subqueries embedded in its expressions,
    and its SQL (rendered once, by `SqlPlan.of`)."""

    select: Select
    params: dict[str, Any]
    db: str
    sql: str
    embedded: tuple[Select, ...] = ()
    embedded_texts: tuple[str, ...] = ()

    @classmethod
    def of(cls, select: Select, params: dict[str, Any], db: str, embedded: Embedded | None = None) -> SqlPlan:
        sql = _render(select, None)
        if embedded is None or not embedded.selects:
            return cls(select, params, db, sql)
        return cls(select, params, db, sql, tuple(embedded.selects), tuple(embedded.texts))


# ------------------------------------------------------------------------------------- scope


def _one_of(params: dict[str, Any], column: str, name: str, values: tuple[str, ...] | list[str]) -> str:
    """`column = {name:String}` for one value (cheaper per row than a set lookup), else `IN`."""
    if len(values) == 1:
        params[name] = values[0]
        return f"{column} = {{{name}:String}}"
    params[name] = list(values)
    return f"{column} IN {{{name}:Array(String)}}"


@functools.lru_cache(maxsize=4096)
def scope_conditions(scope: Scope) -> tuple[tuple[str, ...], Mapping[str, Any]]:
    """The conditions that confine a read of the scope's table to the scope, and their parameters
    (read-only: cached per scope)."""
    p: dict[str, Any] = {"s_org": scope.org_id}
    if scope.object_type == S.DATASET:
        conds = ["org_id = {s_org:String}", _one_of(p, "object_id", "s_ids", scope.object_ids)]
        if scope.project_ids:
            conds.append(_one_of(p, "project_id", "s_proj", scope.project_ids))
        if scope.version is not None:
            p["s_ver"] = scope.version
            conds.append("_xact_id <= {s_ver:UInt64}")
        return tuple(conds), MappingProxyType(p)
    p["s_type"] = scope.object_type
    conds = ["org_id = {s_org:String}"]
    if scope.object_type == S.PROJECT_LOGS:
        conds += [
            _one_of(p, "project_id", "s_proj", scope.object_ids),
            "object_type = {s_type:String}",
            "object_id = 'g'",
        ]
    else:
        if scope.project_ids:
            conds.append(_one_of(p, "project_id", "s_proj", scope.project_ids))
        conds += ["object_type = {s_type:String}", _one_of(p, "object_id", "s_ids", scope.object_ids)]
        if scope.version is not None:
            p["s_ver"] = scope.version
            conds.append("_xact_id <= {s_ver:UInt64}")
    return tuple(conds), MappingProxyType(p)


def table_of(scope: Scope, db: str) -> str:
    return f"{db}.dataset_rows" if scope.object_type == S.DATASET else f"{db}.spans"


#: the pre-aggregated hours of project logs (`rollup.py`): same scope columns as `spans`
ROLLUP_TABLE = "rollup_hourly"


def tables_of(scope: Scope, db: str) -> frozenset[str]:
    """The stored tables a read within `scope` may read: the scope's table, and for project logs
    their pre-aggregated hours."""
    if scope.object_type == S.PROJECT_LOGS:
        return frozenset((f"{db}.spans", f"{db}.{ROLLUP_TABLE}"))
    return frozenset((table_of(scope, db),))


def enforce_scope(plan: SqlPlan, scope: Scope) -> None:
    """Refuse (`ScopeError`) a plan that could read outside `scope`.

    - every SELECT reading a stored table reads the scope's table, with each of the scope's
      conditions in its WHERE;
    - the scope parameters (`s_*`) hold exactly the scope's values;
    - the rendered SQL names the stored tables exactly as often as the plan's structure reads
      them (a table named in a SQL fragment, outside the structure, is refused).
    """
    conds, params = scope_conditions(scope)
    got = plan.params
    for k, v in params.items():
        if got.get(k) != v:
            raise ScopeError(f"compiled plan refused: scope parameter {k} does not hold the scope's value")
    for k in got:
        if k.startswith("s_") and k not in params:
            raise ScopeError(f"compiled plan refused: unexpected scope parameter {k}")
    tables = tables_of(scope, plan.db)
    # every SELECT reading a table directly: the scope's table, with the scope's conditions
    reads = 0  # table reads the rendered SQL holds through the plan's structure
    stack = [plan.select]
    while stack:  # the tree, each SELECT as often as it is rendered (a subquery may be used twice)
        s = stack.pop()
        reads += _check_read(s, tables, conds)
        if s.with_ or not isinstance(s.from_, Table):
            stack.extend(s.subqueries())
    sql = plan.sql
    if plan.embedded:
        for text, e in dict(zip(plan.embedded_texts, plan.embedded, strict=True)).items():
            own = 0  # the embedded subquery's own reads (the ones in its expressions count apart)
            stack = [e]
            while stack:
                s = stack.pop()
                own += _check_read(s, tables, conds)
                stack.extend(s.subqueries())
            reads += own * sql.count(text)
    # and no other: a table named in a fragment (outside the structure) is one read too many
    named = sum(sql.count(f"{plan.db}.{t}") for t in ("spans", "dataset_rows", ROLLUP_TABLE))
    if named != reads:
        raise ScopeError("compiled plan refused: a table is read outside the plan's structure")


def _check_read(s: Select, tables: frozenset[str], conds: tuple[str, ...]) -> int:
    """1 if `s` reads a stored table directly (with every scope condition: else ScopeError), else 0."""
    t = s.reads()
    if t is None:
        return 0
    if t.name not in tables:
        on = " or ".join(sorted(tables))
        raise ScopeError(f"compiled plan refused: it reads {t.name}, the scope is on {on}")
    where = s.where or ()
    for c in conds:
        if c not in where:
            raise ScopeError(f"compiled plan refused: a read of {t.name} lacks the scope condition {c}")
    return 1
