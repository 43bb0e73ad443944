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


class _Unparser(A.ExprVisitor[str, None]):
    def visit_other(self, e: A.Expr, arg: None) -> str:
        return "?"

    def visit_literal(self, e: A.Literal, arg: None) -> str:
        v = e.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return quote_string(v)
        return repr(v)

    def visit_array(self, e: A.Array, arg: None) -> str:
        return "[" + ", ".join(x.accept(self, None) for x in e.items) + "]"

    def visit_interval(self, e: A.Interval, arg: None) -> str:
        return f"interval {e.value} {e.unit}"

    def visit_ident(self, e: A.Ident, arg: None) -> str:
        return ident_text(e.path)

    def visit_star(self, e: A.Star, arg: None) -> str:
        return "*"

    def visit_call(self, e: A.Call, arg: None) -> str:
        inner = ", ".join(a.accept(self, None) for a in e.args)
        return f"{e.name}({'DISTINCT ' if e.distinct else ''}{inner})"

    def visit_binary(self, e: A.Binary, arg: None) -> str:
        return f"({e.left.accept(self, None)} {_BIN[e.op]} {e.right.accept(self, None)})"

    def visit_boolop(self, e: A.BoolOp, arg: None) -> str:
        return "(" + f" {e.op.upper()} ".join(a.accept(self, None) for a in e.args) + ")"

    def visit_unary(self, e: A.Unary, arg: None) -> str:
        inner = e.expr.accept(self, None)
        if e.op == "not":
            # `NOT -1` would lex NOT as a name (`NOT - 1`); a parenthesised operand cannot
            return f"(NOT ({inner}))" if inner.startswith("-") else f"(NOT {inner})"
        if e.op == "neg":
            return f"(-{inner})"
        if e.op == "isnull":
            return f"({inner} IS NULL)"
        return f"({inner} IS NOT NULL)"

    def visit_if(self, e: A.If, arg: None) -> str:
        out = ""
        for c, t in e.conds:
            out += f"{c.accept(self, None)} ? {t.accept(self, None)} : "
        return "(" + out + (e.else_.accept(self, None) if e.else_ is not None else "null") + ")"


_UNPARSER = _Unparser()


def to_text(e: A.Expr) -> str:
    """Canonical BTQL text of an expression ("?" for a node no syntax writes)."""
    return e.accept(_UNPARSER, None)
