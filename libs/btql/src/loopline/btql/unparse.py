"""AST → canonical BTQL text (names of un-aliased computed columns, round-trip tests)."""

from __future__ import annotations

import re

from loopline.btql import ast as A

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BIN = {
    "eq": "=",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "nseq": "<=>",
    "nsne": "<!=>",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "MATCH",
    "includes": "INCLUDES",
    "in": "IN",
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "mod": "%",
}


def quote_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# words the parser reads as operators/keywords: a name spelled like one must be quoted
_RESERVED = frozenset(
    [
        "and",
        "or",
        "not",
        "is",
        "null",
        "true",
        "false",
        "like",
        "ilike",
        "match",
        "in",
        "includes",
        "case",
        "when",
        "then",
        "else",
        "end",
        "interval",
        "distinct",
        "as",
        "asc",
        "desc",
        "between",
    ]
)


def _segment(s: str | int, first: bool) -> str:
    if isinstance(s, int):
        return f"[{s}]"
    if _PLAIN.match(s) and not (first and s.lower() in _RESERVED):
        return s if first else "." + s
    q = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return ("`" + s.replace("`", "``") + "`") if first else "." + q


def ident_text(path: tuple[str | int, ...]) -> str:
    return "".join(_segment(s, i == 0) for i, s in enumerate(path))


def to_text(e: A.Expr) -> str:
    if isinstance(e, A.Literal):
        v = e.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return quote_string(v)
        return repr(v)
    if isinstance(e, A.Array):
        return "[" + ", ".join(to_text(x) for x in e.items) + "]"
    if isinstance(e, A.Interval):
        return f"interval {e.value} {e.unit}"
    if isinstance(e, A.Ident):
        return ident_text(e.path)
    if isinstance(e, A.Star):
        return "*"
    if isinstance(e, A.Call):
        inner = ", ".join(to_text(a) for a in e.args)
        return f"{e.name}({'DISTINCT ' if e.distinct else ''}{inner})"
    if isinstance(e, A.Binary):
        return f"({to_text(e.left)} {_BIN[e.op]} {to_text(e.right)})"
    if isinstance(e, A.BoolOp):
        return "(" + f" {e.op.upper()} ".join(to_text(a) for a in e.args) + ")"
    if isinstance(e, A.Unary):
        if e.op == "not":
            inner = to_text(e.expr)
            # `NOT -1` would lex NOT as a name (`NOT - 1`); a parenthesised operand cannot
            return f"(NOT ({inner}))" if inner.startswith("-") else f"(NOT {inner})"
        if e.op == "neg":
            return f"(-{to_text(e.expr)})"
        if e.op == "isnull":
            return f"({to_text(e.expr)} IS NULL)"
        return f"({to_text(e.expr)} IS NOT NULL)"
    if isinstance(e, A.If):
        out = ""
        for c, t in e.conds:
            out += f"{to_text(c)} ? {to_text(t)} : "
        return "(" + out + (to_text(e.else_) if e.else_ is not None else "null") + ")"
    return "?"
