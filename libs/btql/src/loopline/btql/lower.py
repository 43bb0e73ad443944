"""SQL syntax → BTQL clauses: the lowering pass run after parsing (`parser.parse_text`).

The parser reads a SQL-syntax statement into an `ast.SqlSelect` as written; this pass gives it
the meaning of the equivalent pipe-syntax query:
- `FROM source(…, shape => 'traces')` → the source's shape;
- `WHERE` → `filter:`, `HAVING` → `final_filter:`, `ORDER BY` → `sort:`, `LIMIT`, `OFFSET '<cursor>'`
  → `cursor:`, `UNPIVOT (…)` → `unpivot:`;
- with `GROUP BY` or aggregates: GROUP BY keys become `dimensions:` (named by the matching SELECT
  item, by position or alias), aggregate SELECT items `measures:`;
- `PIVOT (agg, … FOR col IN (ANY))` → the pivot column last among the dimensions and `pivot:`
  naming the measures.
Errors keep the positions of the SQL they are about: a malformed statement is a `ParseError`,
a PIVOT that names what SELECT does not list a `BindError` (as the pipe-syntax `pivot:` is).
Pure: no I/O, the input is not changed.
"""

from __future__ import annotations

from typing import Any

from loopline.btql import ast as A
from loopline.btql.errors import BindError, ParseError, node_position
from loopline.btql.unparse import to_text


def lower(q: A.Query | A.SqlSelect) -> A.Query:
    """The Query a parse result means (a pipe-syntax Query is returned as it is)."""
    if isinstance(q, A.Query):
        return q
    return _lower_select(q)


def _lower_select(s: A.SqlSelect) -> A.Query:
    items, source, unpivots, pivot = s.items, s.source, s.unpivots, s.pivot
    where, group, having, order, limit, offset = s.where, s.group, s.having, s.order, s.limit, s.offset
    # named `shape => '...'` argument of the source
    shape = None
    named = []
    for k, v in source.named:
        if k == "shape":
            if not (isinstance(v, A.Literal) and isinstance(v.value, str)):
                raise ParseError(
                    "shape => expects a string ('spans', 'traces' or 'summary')", *node_position(v)
                )
            shape = v.value.lower()
            if shape not in ("spans", "traces", "summary"):
                raise ParseError(
                    f"unknown shape {v.value!r}: use 'spans', 'traces' or 'summary'", *node_position(v)
                )
        else:
            named.append((k, v))
    source = A.Source(source.name, source.args, tuple(named), shape, source.is_call, pos=source.pos)
    fields: dict[str, Any] = {"from_": source, "filter": where, "final_filter": having, "limit": limit}
    if order is not None:
        fields["sort"] = tuple(order)
    if offset is not None:
        fields["cursor"] = offset
    if unpivots:
        fields["unpivot"] = unpivots
    aggregate = any(isinstance(it, A.AliasExpr) and A.has_aggregate(it.expr) for it in items)
    if group is None and not aggregate:
        if pivot is not None:
            raise BindError("PIVOT needs GROUP BY and at least one aggregate", *node_position(pivot))
        fields["select"] = tuple(items)
        return A.Query(syntax="sql", **fields)
    # aggregate query: GROUP BY keys become dimensions (named by the matching select item),
    # aggregate select items become measures
    dims: list[A.AliasExpr] = []
    measures: list[A.AliasExpr] = []
    plain: list[A.AliasExpr] = []
    for it in items:
        if isinstance(it, A.Star):
            raise ParseError("SELECT * cannot be combined with GROUP BY or aggregates", *node_position(it))
        (measures if A.has_aggregate(it.expr) else plain).append(it)
    used: set[int] = set()
    for g in group or []:
        if isinstance(g, A.Literal) and isinstance(g.value, int) and not isinstance(g.value, bool):
            n = g.value
            if not 1 <= n <= len(items) or not isinstance(items[n - 1], A.AliasExpr):
                raise ParseError(f"GROUP BY position {n} is out of range", *node_position(g))
            it = items[n - 1]
            assert isinstance(it, A.AliasExpr)
            if A.has_aggregate(it.expr):
                raise ParseError(f"GROUP BY position {n} refers to an aggregate", *node_position(g))
            dims.append(it)
            used.add(id(it))
            continue
        match = next(
            (
                p
                for p in plain
                if p.expr == g
                or (
                    isinstance(g, A.Ident)
                    and len(g.path) == 1
                    and p.alias is not None
                    and p.alias == g.path[0]
                )
            ),
            None,
        )
        if match is not None:
            if id(match) not in used:
                dims.append(match)
                used.add(id(match))
        else:
            dims.append(A.AliasExpr(expr=g, pos=g.pos))
    for p in plain:
        if id(p) not in used:
            raise ParseError(
                "every non-aggregate SELECT item must appear in GROUP BY", *node_position(p.expr)
            )
    if pivot is not None:
        dims, measures, fields["pivot"] = _lower_pivot(pivot, dims, measures)
    if dims:
        fields["dimensions"] = tuple(dims)
    fields["measures"] = tuple(measures)
    return A.Query(syntax="sql", **fields)


def _lower_pivot(
    pivot: A.SqlPivot, dims: list[A.AliasExpr], measures: list[A.AliasExpr]
) -> tuple[list[A.AliasExpr], list[A.AliasExpr], tuple[A.AliasExpr, ...]]:
    """PIVOT(agg, … FOR col IN (ANY)) → the pivot column last among the dimensions, `pivot:` items
    naming the measures (SELECT must list the pivot column and every pivoted aggregate)."""
    key = pivot.key

    def is_key(d: A.AliasExpr) -> bool:
        if d.expr == key:
            return True
        if len(key.path) != 1:
            return False
        if d.alias is not None:  # an alias, or the implicit one (a path's last part)
            return d.alias == key.path[0]
        return isinstance(d.expr, A.Ident) and d.expr.path[-1] == key.path[0]

    at = [i for i, d in enumerate(dims) if is_key(d)]
    if not at:
        raise BindError(
            f"the PIVOT column '{to_text(key)}' must be a SELECT item and appear in GROUP BY",
            *node_position(key),
        )
    dims = [d for i, d in enumerate(dims) if i != at[0]] + [dims[at[0]]]
    measures = list(measures)
    names: list[A.AliasExpr] = []
    for item in pivot.measures:
        j = next(
            (
                k
                for k, m in enumerate(measures)
                if m.expr == item.expr
                or (
                    isinstance(item.expr, A.Ident)
                    and len(item.expr.path) == 1
                    and m.alias is not None
                    and m.alias == item.expr.path[0]
                )
            ),
            None,
        )
        if j is None:
            raise BindError(
                f"the PIVOT aggregate '{to_text(item.expr)}' must also be a SELECT item",
                *node_position(item.expr),
            )
        m = measures[j]
        if m.alias is None and item.alias is not None:
            m = A.AliasExpr(expr=m.expr, alias=item.alias, pos=m.pos)
            measures[j] = m
        name = m.alias if m.alias is not None else to_text(m.expr)
        names.append(A.AliasExpr(expr=A.Ident(path=(name,), pos=item.expr.pos), pos=item.pos))
    if not names:
        raise BindError("PIVOT needs at least one aggregate", *node_position(pivot))
    return dims, measures, tuple(names)
