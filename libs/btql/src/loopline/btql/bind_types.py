"""Type rules of bound values: the common type of branches, the mode a type renders in, turning a
value into a condition, and the argument-kind checks of the function catalogue."""

from __future__ import annotations

from collections.abc import Sequence

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.errors import type_error
from loopline.btql.unparse import to_text

_MODES = {
    S.STRING: "string",
    S.NUMBER: "number",
    S.INTEGER: "number",
    S.BOOL: "bool",
    S.DATETIME: "datetime",
    S.XACT: "xact",
}


def mode_for(t: str) -> str:
    """The mode a value of type `t` renders in when compared or unified."""
    return _MODES.get(t, "value")


def unify(items: Sequence[Bd.B], nodes: Sequence[object]) -> tuple[str, str | None]:
    """Common type of branches (ternary, coalesce, ...) and the mode to render JSON ones."""
    types = {b.type for b in items if b.type not in (S.NULL, S.JSON)}
    has_json = any(b.type == S.JSON for b in items)
    if not types:
        return (S.JSON, "value") if has_json else (S.NULL, None)
    if types <= {S.INTEGER}:  # (JSON read as a number is a Float64: then the value is one too)
        return (S.NUMBER if has_json else S.INTEGER), "number"
    if types <= {S.NUMBER, S.INTEGER}:
        return S.NUMBER, "number"
    if len(types) == 1:
        t = types.pop()
        return t, mode_for(t)
    if types <= {S.XACT, S.INTEGER}:
        return S.XACT, "xact"
    raise type_error(f"branches have different types: {', '.join(sorted(types))}", nodes[0])


def as_condition(b: Bd.B, node: A.Expr) -> Bd.B:
    """`b` as a condition: a boolean, JSON read as one, a null as false; anything else is refused."""
    if b.type == S.BOOL:
        return b
    if b.type == S.JSON:
        return Bd.BFunc(S.BOOL, name="to_bool", args=(b,), modes=("bool",), agg=b.agg)
    if b.type == S.NULL:
        return Bd.BLit(S.BOOL, value=False)
    raise type_error(f"'{to_text(node)}' is a {b.type}, not a condition", node)


def _a(t: str) -> str:
    return f"a{'n' if t[0] in 'aeiou' else ''} {t}"


def check_numeric(x: Bd.B, node: A.Expr, fn: str) -> None:
    if x.type not in (S.NUMBER, S.INTEGER, S.JSON, S.BOOL, S.NULL, S.XACT):
        raise type_error(f"{fn}() needs numbers, but '{to_text(node)}' is {_a(x.type)}", node)


def check_datetime(b: Bd.B, node: A.Expr, fn: str) -> Bd.B:
    if b.type in (S.DATETIME, S.JSON, S.STRING, S.NULL):
        return b
    raise type_error(f"{fn}() needs a timestamp, but '{to_text(node)}' is {_a(b.type)}", node)


def check_text(b: Bd.B, node: A.Expr, fn: str) -> None:
    if b.type not in (S.STRING, S.JSON, S.NULL):
        raise type_error(f"{fn}() needs a string, but '{to_text(node)}' is {_a(b.type)}", node)


def check_arg(kind: str, b: Bd.B, node: A.Expr, fn: str) -> None:
    """The argument-kind checks of the catalogue (`functions.ArgKind`)."""
    t = b.type
    if kind == "timestamp":
        check_datetime(b, node, fn)
    elif kind == "text":
        check_text(b, node, fn)
    elif kind == "number":
        check_numeric(b, node, fn)
    elif kind == "scalar":
        if t in (S.ARRAY, S.MAP, S.INTERVAL):
            raise type_error(f"{fn}() cannot take {_a(t)}", node)
    elif kind == "collection":
        if t not in (S.ARRAY, S.JSON, S.STRING, S.MAP):
            raise type_error(f"{fn}() needs an array, object or string, not a {t}", node)
    elif kind == "convertible" and t in (S.MAP, S.INTERVAL):
        raise type_error(f"{fn}() cannot convert a {t}", node)
