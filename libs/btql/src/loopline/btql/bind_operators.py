"""Typing rules of literals and operators: what each operator accepts, its result type and
the mode its operands render in. Pure functions of bound operands (no binder state)."""

from __future__ import annotations

import re
from typing import Any

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.bind_types import mode_for
from loopline.btql.errors import bind_error, type_error
from loopline.btql.unparse import to_text

_TOKEN = re.compile(rb"[A-Za-z0-9\x80-\xff]+")


def match_tokens(q: str) -> tuple[str, ...]:
    """Tokens of a MATCH query, as ClickHouse's splitByNonAlpha splits them, lower-cased."""
    toks = [t.decode("utf-8", "replace").lower() for t in _TOKEN.findall(q.encode("utf-8"))]
    return tuple(dict.fromkeys(toks))


def literal(e: A.Literal) -> Bd.B:
    v = e.value
    if v is None:
        return Bd.BLit(S.NULL, value=None)
    if isinstance(v, bool):
        return Bd.BLit(S.BOOL, value=v)
    if isinstance(v, int):
        if not -(2**63) <= v < 2**64:
            raise type_error("integer literal is out of range", e)
        return Bd.BLit(S.INTEGER, value=v)
    if isinstance(v, float):
        return Bd.BLit(S.NUMBER, value=v)
    return Bd.BLit(S.STRING, value=v)


def literal_array(e: A.Array) -> Bd.BArr:
    vals: list[Any] = []
    kinds: set[str] = set()
    for it in e.items:
        if not isinstance(it, A.Literal):
            raise type_error("array items must be literal values", it)
        v = it.value
        if v is None:
            continue
        b = literal(it)
        kinds.add(S.NUMBER if b.type in (S.INTEGER, S.NUMBER) else b.type)
        vals.append(v)
    if len(kinds) > 1:
        raise type_error("array items must all be strings, all numbers or all booleans", e)
    elem = kinds.pop() if kinds else S.STRING
    return Bd.BArr(S.ARRAY, values=tuple(vals), elem=elem)


def binary(e: A.Binary, lhs: Bd.B, r: Bd.B) -> Bd.B:
    """A binary operator other than IN over its bound operands."""
    op = e.op
    agg = lhs.agg or r.agg
    if op in ("eq", "ne", "lt", "le", "gt", "ge", "nseq", "nsne"):
        return compare(op, lhs, r, e, agg)
    if op in ("add", "sub", "mul", "div", "mod"):
        return arithmetic(op, lhs, r, e, agg)
    if op in ("like", "ilike"):
        if r.type not in (S.STRING, S.JSON) and not (r.type == S.NULL):
            raise type_error(f"the {op.upper()} pattern must be a string, got a {r.type}", e.right)
        if lhs.type not in (S.STRING, S.JSON, S.NULL):
            raise type_error(f"{op.upper()} needs a string, but '{to_text(e.left)}' is a {lhs.type}", e.left)
        return Bd.BLike(S.BOOL, x=lhs, pattern=r, ci=op == "ilike", agg=agg)
    if op == "match":
        if not (isinstance(r, Bd.BLit) and isinstance(r.value, str)):
            raise type_error("MATCH needs a string literal on the right", e.right)
        if lhs.type not in (S.STRING, S.JSON, S.ARRAY):
            raise type_error(f"MATCH needs text, but '{to_text(e.left)}' is a {lhs.type}", e.left)
        return Bd.BMatch(S.BOOL, x=lhs, tokens=match_tokens(r.value), query=r.value, agg=agg)
    if op == "includes":
        return includes(lhs, r, e, agg)
    raise bind_error(f"unknown operator {op}", e)


def compare(op: str, lhs: Bd.B, r: Bd.B, e: A.Binary, agg: bool) -> Bd.B:
    if (isinstance(r, Bd.BLit) and r.value is None) or (isinstance(lhs, Bd.BLit) and lhs.value is None):
        other = lhs if isinstance(r, Bd.BLit) and r.value is None else r
        if op in ("eq", "nseq"):
            return Bd.BIsNull(S.BOOL, x=other, agg=agg)
        if op in ("ne", "nsne"):
            return Bd.BIsNull(S.BOOL, x=other, negate=True, agg=agg)
        raise type_error("cannot order-compare with null; use IS NULL / IS NOT NULL", e)
    mode = _compare_mode(lhs, r, e, ordering=op in ("lt", "le", "gt", "ge"))
    return Bd.BCmp(S.BOOL, op=op, left=lhs, right=r, mode=mode, agg=agg)


def _compare_mode(lhs: Bd.B, r: Bd.B, e: A.Binary, ordering: bool) -> str:
    lt, rt = lhs.type, r.type
    if lt == S.JSON and rt == S.JSON:
        return "number" if ordering else "raw"
    if lt == S.JSON or rt == S.JSON:
        t = rt if lt == S.JSON else lt
        other = r if lt == S.JSON else lhs
        if t in (S.ARRAY, S.MAP, S.INTERVAL):
            raise type_error(f"cannot compare with a{'n' if t[0] in 'aeiou' else ''} {t}", e)
        if t == S.STRING and isinstance(other, Bd.BLit) and ordering:
            return "string"
        return mode_for(t)
    for a, b in ((lhs, r), (r, lhs)):
        if a.type == S.DATETIME and b.type == S.STRING:
            return "datetime"
        if a.type == S.XACT and b.type == S.STRING:
            if isinstance(b, Bd.BLit) and not str(b.value).isdigit():
                raise type_error(f"'{b.value}' is not a transaction id", e)
            return "xact"
        if a.type == S.XACT and b.type in (S.INTEGER, S.XACT):
            return "xact"
    if lt in (S.NUMBER, S.INTEGER) and rt in (S.NUMBER, S.INTEGER):
        return "number"
    if lt == rt and lt in (S.STRING, S.BOOL, S.DATETIME):
        return mode_for(lt)
    if {lt, rt} == {S.BOOL, S.INTEGER}:
        return "bool"
    raise type_error(
        f"cannot compare a{'n' if lt[0] in 'aeiou' else ''} {lt} with a{'n' if rt[0] in 'aeiou' else ''} {rt}",
        e,
    )


def arithmetic(op: str, lhs: Bd.B, r: Bd.B, e: A.Binary, agg: bool) -> Bd.B:
    lt, rt = lhs.type, r.type
    if lt == S.DATETIME and rt == S.INTERVAL and op in ("add", "sub"):
        return Bd.BArith(S.DATETIME, op=op, left=lhs, right=r, agg=agg)
    if lt == S.INTERVAL and rt == S.DATETIME and op == "add":
        return Bd.BArith(S.DATETIME, op=op, left=r, right=lhs, agg=agg)
    if S.INTERVAL in (lt, rt):
        raise type_error("an interval can only be added to or subtracted from a timestamp", e)
    if lt == S.DATETIME and rt == S.DATETIME and op == "sub":
        return Bd.BArith(S.NUMBER, op="dtdiff", left=lhs, right=r, agg=agg)
    if S.DATETIME in (lt, rt):
        raise type_error("a timestamp can only be shifted by an interval (e.g. created + interval 1 day)", e)
    ok = {S.NUMBER, S.INTEGER, S.JSON, S.NULL, S.BOOL}
    for side, t, node in ((lhs, lt, e.left), (r, rt, e.right)):
        if t not in ok:
            raise type_error(
                f"arithmetic needs numbers, but '{to_text(node)}' is a{'n' if t[0] in 'aeiou' else ''} {t}",
                node,
            )
        del side
    typ = S.INTEGER if lt == rt == S.INTEGER and op in ("add", "sub", "mul", "mod") else S.NUMBER
    return Bd.BArith(typ, op=op, left=lhs, right=r, lmode="number", rmode="number", agg=agg)


def in_list(x: Bd.B, e: A.Binary) -> Bd.B:
    """`x IN (...)`, `x` being the bound left side."""
    if not isinstance(e.right, A.Array):
        raise type_error("IN needs a list of values", e.right)
    arr = literal_array(e.right)
    if x.type == S.JSON:
        mode = {S.STRING: "string", S.NUMBER: "number", S.BOOL: "bool"}.get(arr.elem, "string")
    elif x.type in (S.NUMBER, S.INTEGER) and arr.elem == S.NUMBER:
        mode = "number"
    elif x.type == S.XACT and arr.elem in (S.NUMBER, S.STRING):
        if not all(str(v).isdigit() for v in arr.values):
            raise type_error("IN values for _xact_id must be transaction ids", e.right)
        mode = "xact"
    elif x.type == S.DATETIME and arr.elem == S.STRING:
        mode = "datetime"
    elif x.type == arr.elem and x.type in (S.STRING, S.BOOL):
        mode = mode_for(x.type)
    elif not arr.values:
        mode = "string"
    else:
        raise type_error(f"cannot test a {x.type} against a list of {arr.elem}s", e)
    return Bd.BIn(S.BOOL, x=x, values=arr, mode=mode, agg=x.agg)


def includes(hay: Bd.B, needle: Bd.B, e: A.Binary, agg: bool) -> Bd.B:
    if needle.type in (S.ARRAY, S.MAP, S.INTERVAL):
        raise type_error("INCLUDES needs a single value to look for", e.right)
    if hay.type == S.ARRAY:
        if needle.type not in (S.STRING, S.JSON):
            raise type_error(f"'{to_text(e.left)}' holds strings, not {needle.type}s", e.right)
        return Bd.BIncludes(S.BOOL, hay=hay, needle=needle, mode="string", agg=agg)
    if hay.type == S.JSON:
        mode = (
            "number"
            if needle.type in (S.NUMBER, S.INTEGER)
            else "bool"
            if needle.type == S.BOOL
            else "string"
        )
        return Bd.BIncludes(S.BOOL, hay=hay, needle=needle, mode=mode, agg=agg)
    if hay.type == S.MAP:
        if needle.type not in (S.STRING,):
            raise type_error("INCLUDES on scores looks for a key name (a string)", e.right)
        return Bd.BIncludes(S.BOOL, hay=hay, needle=needle, mode="mapkey", agg=agg)
    raise type_error(
        f"INCLUDES needs an array, but '{to_text(e.left)}' is a{'n' if hay.type[0] in 'aeiou' else ''} {hay.type}",
        e.left,
    )
