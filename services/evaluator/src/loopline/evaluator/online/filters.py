"""A rule's `btql_filter`: validated with the BTQL compiler when the rule is saved, and applied at
scoring time by the same compiler, as the query service would run `filter: <btql_filter>` over the
project's logs (so a filter means at scoring time exactly what it meant when it was accepted).

The filter is parsed as a bare expression (never pasted into query text) and put into a query built
from syntax-tree nodes: `select: id | from: project_logs(<project>) spans | filter: (<filter>) and
id in [<candidate ids>]`, compiled within the org's project scope.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from loopline.btql import ast as A
from loopline.btql.parser import parse_expr
from loopline.common.errors import Invalid
from loopline.common.store import Store
from loopline.common.store.engine_settings import known_only

from loopline import btql

_BASE = btql.parse("select: id | from: project_logs('p') spans")
CHUNK = 500  # candidate ids per query


def _query(expr: A.Expr, project_id: str, ids: Sequence[str] = ()) -> A.Query:
    where: A.Expr = expr
    if ids:
        in_ids = A.Binary(
            op="in", left=A.Ident(path=("id",)), right=A.Array(items=tuple(A.Literal(i) for i in ids))
        )
        where = A.BoolOp(op="and", args=(expr, in_ids))
    source = A.Source(name="project_logs", args=(A.Literal(project_id),), shape="spans")
    return dataclasses.replace(_BASE, from_=source, filter=where, limit=max(1, len(ids)) if ids else None)


def validate_filter(text: str, project_id: str, *, field: str) -> A.Expr:
    """The parsed filter; a filter the compiler refuses is `Invalid` naming the field, the
    compiler's message and its line and column within the filter text."""
    try:
        expr = parse_expr(text)
        btql.compile_query(_query(expr, project_id or "p"), btql.Scope.project_logs("o", project_id or "p"))
    except btql.BtqlError as exc:
        raise Invalid(
            f"btql_filter is not a valid BTQL filter: {exc.message}",
            field=field,
            line=exc.line,
            column=exc.column,
            error_class=exc.error_class,
        ) from None
    return expr


async def run_ids(store: Store, org_id: str, project_id: str, q: A.Query) -> list[str]:
    """The ids a `select: id` query over the project's logs returns, compiled in the org's scope."""
    cq = btql.compile_query(q, btql.Scope.project_logs(org_id, project_id), db=store.database)
    cols, rows = await store.query(
        cq.sql, cq.params, await known_only(store, cq.settings, btql.OPTIONAL_SETTINGS)
    )
    return [str(r["id"]) for r in cq.finish(cols, rows).data]


async def matching_ids(store: Store, org_id: str, project_id: str, text: str, ids: Sequence[str]) -> set[str]:
    """Which of `ids` (rows of the project's logs) pass the filter `text`."""
    expr = parse_expr(text)
    out: set[str] = set()
    for i in range(0, len(ids), CHUNK):
        out.update(await run_ids(store, org_id, project_id, _query(expr, project_id, ids[i : i + CHUNK])))
    return out


async def group_root_ids(
    store: Store, org_id: str, project_id: str, path: Sequence[str], value: Any, limit: int
) -> list[str]:
    """The root spans whose field `path` equals `value`, oldest first (a group of traces)."""
    where = A.BoolOp(
        op="and",
        args=(
            A.Ident(path=("is_root",)),
            A.Binary(op="eq", left=A.Ident(path=tuple(path)), right=A.Literal(value)),
        ),
    )
    source = A.Source(name="project_logs", args=(A.Literal(project_id),), shape="spans")
    q = dataclasses.replace(
        _BASE,
        from_=source,
        filter=where,
        sort=(A.SortItem(expr=A.Ident(path=("created",)), dir="asc"),),
        limit=limit,
    )
    return await run_ids(store, org_id, project_id, q)
