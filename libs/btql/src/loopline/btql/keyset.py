"""Keyset pagination: the sort keys of a query (`SortKey`: SQL, direction, nullability, kind),
the condition that selects the rows after a cursor's key values, and the ORDER BY they imply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.cursor import check_key, cursor_mismatch
from loopline.btql.generator import Gen

_KIND = {
    S.STRING: "string",
    S.NUMBER: "number",
    S.INTEGER: "integer",
    S.XACT: "xact",
    S.DATETIME: "datetime",
    S.BOOL: "bool",
    S.JSON: "raw",
}


@dataclass(frozen=True, slots=True)
class SortKey:
    sql: str
    dir: str
    nullable: bool
    kind: str


def keys_for(gen: Gen, b: Bd.B, d: str) -> list[SortKey]:
    if isinstance(b, Bd.BOutRef) and gen.out_exprs is not None:
        b = gen.out_exprs[b.index]
    if not Bd.contains(b, Bd.VARYING):
        return []  # a constant orders nothing (and a number would read as a column position)
    if isinstance(b, Bd.BCol) and b.sort_sql:
        return [SortKey(s, d, False, _kind_of_sort_sql(s, b)) for s in b.sort_sql]
    if b.type == S.JSON:
        return [SortKey(gen.r(b, "number"), d, True, "number"), SortKey(gen.r(b, "raw"), d, True, "raw")]
    nonnull = (isinstance(b, Bd.BCol) and b.nonnull) or (isinstance(b, Bd.BOutRef) and b.nonnull)
    kind = _KIND.get(b.type)
    if kind is None:  # the binder refuses such sort keys (Bd.VARYING)
        raise ValueError(f"cannot sort by a {b.type}")
    sql = gen.r(b, "bool") if b.type == S.BOOL else gen.r(b)
    return [SortKey(sql, d, not nonnull, kind)]


def _kind_of_sort_sql(s: str, b: Bd.BCol) -> str:
    if s in ("created", "_s_created"):
        return "datetime"
    if s in ("_xact_id", "_s__xact_id"):
        return "xact"
    return _KIND.get(b.type, "string") if s == b.sql else "string"


def _key_param(gen: Gen, kind: str, v: Any) -> str:
    if kind == "datetime":
        return f"toDateTime64({gen.param(v, 'String')}, 6, 'UTC')"
    t = {
        "string": "String",
        "raw": "String",
        "number": "Float64",
        "integer": "Int64",
        "xact": "UInt64",
        "bool": "Bool",
    }[kind]
    return gen.param(v, t)


def keyset_condition(gen: Gen, keys: list[SortKey], values: list[Any]) -> str:
    if len(values) != len(keys):
        raise cursor_mismatch()
    vals = [check_key(v, k.kind, k.nullable) for k, v in zip(keys, values, strict=True)]
    dirs = {k.dir for k in keys}
    if all(not k.nullable for k in keys) and len(dirs) == 1:
        op = ">" if dirs == {"asc"} else "<"
        lhs = ", ".join(k.sql for k in keys)
        rhs = ", ".join(_key_param(gen, k.kind, v) for k, v in zip(keys, vals, strict=True))
        return f"(({lhs}) {op} ({rhs}))"
    params = [None if v is None else _key_param(gen, k.kind, v) for k, v in zip(keys, vals, strict=True)]
    disj: list[str] = []
    for i, k in enumerate(keys):
        if vals[i] is None:
            continue
        conj = []
        for j in range(i):
            conj.append(f"({keys[j].sql} IS NULL)" if vals[j] is None else f"({keys[j].sql} = {params[j]})")
        after = f"({k.sql} {'>' if k.dir == 'asc' else '<'} {params[i]})"
        if k.nullable:
            after = f"({after} OR ({k.sql} IS NULL))"
        conj.append(after)
        disj.append("(" + " AND ".join(conj) + ")")
    return "(" + " OR ".join(disj) + ")" if disj else "false"


def order_by(keys: list[SortKey], aliases: list[str] | None = None) -> tuple[str, ...]:
    parts = []
    for i, k in enumerate(keys):
        sql = aliases[i] if aliases else k.sql
        parts.append(f"{sql} {k.dir.upper()}" + (" NULLS LAST" if k.nullable else ""))
    return tuple(parts)
