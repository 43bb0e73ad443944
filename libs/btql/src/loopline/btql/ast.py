"""The BTQL syntax tree: immutable (frozen, slotted) dataclasses.

Both text syntaxes (pipe/clause BTQL and SQL) and the JSON AST (spec §7) produce these nodes.
Positions (`pos`) are carried for error messages but ignored by equality and hashing, so two
queries that differ only in layout compare equal (and share cache entries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TLiteral

Scalar = None | bool | int | float | str


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Expr:
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: Scalar = None


@dataclass(frozen=True, slots=True)
class Array(Expr):
    items: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Interval(Expr):
    value: int = 0
    unit: str = "day"  # year|month|week|day|hour|minute|second|millisecond|microsecond


@dataclass(frozen=True, slots=True)
class Ident(Expr):
    """A field path: string keys and integer (0-based, negative from the end) indexes."""

    path: tuple[str | int, ...] = ()


@dataclass(frozen=True, slots=True)
class Star(Expr):
    pass


@dataclass(frozen=True, slots=True)
class Call(Expr):
    name: str = ""  # lower-cased
    args: tuple[Expr, ...] = ()
    distinct: bool = False


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    """eq ne lt le gt ge nseq nsne like ilike match includes in add sub mul div mod."""

    op: str = ""
    left: Expr = field(default_factory=Expr)
    right: Expr = field(default_factory=Expr)


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: TLiteral["and", "or"] = "and"
    args: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    """not, neg, isnull, isnotnull."""

    op: str = ""
    expr: Expr = field(default_factory=Expr)


@dataclass(frozen=True, slots=True)
class If(Expr):
    conds: tuple[tuple[Expr, Expr], ...] = ()
    else_: Expr | None = None


# ---------------------------------------------------------------------------------------- clauses


@dataclass(frozen=True, slots=True)
class AliasExpr:
    expr: Expr
    alias: str | None = None
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class SortItem:
    expr: Expr
    dir: TLiteral["asc", "desc"] = "asc"
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Unpivot:
    expr: Expr
    names: tuple[str, ...]  # (value,) for arrays; (key, value) for objects
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # lower-cased source function (project_logs, experiment, dataset, ...)
    args: tuple[Expr, ...] = ()
    named: tuple[tuple[str, Expr], ...] = ()
    shape: str | None = None  # spans|traces|summary (None = spans)
    is_call: bool = True
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Sample:
    rate: float | None = None  # in [0, 1]
    count: int | None = None
    seed: int | None = None
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


SelectItem = AliasExpr | Star


@dataclass(frozen=True, slots=True)
class Query:
    select: tuple[SelectItem, ...] | None = None
    dimensions: tuple[AliasExpr, ...] | None = None
    measures: tuple[AliasExpr, ...] | None = None
    pivot: tuple[AliasExpr, ...] | None = None
    unpivot: tuple[Unpivot, ...] | None = None
    infer: tuple[Expr, ...] | None = None
    filter: Expr | None = None
    span_filter: Expr | None = None
    trace_filter: Expr | None = None
    final_filter: Expr | None = None
    from_: Source | None = None
    sort: tuple[SortItem, ...] | None = None
    limit: int | None = None
    cursor: str | None = None
    comparison_key: Expr | None = None
    weighted_scores: tuple[AliasExpr, ...] | None = None
    custom_columns: tuple[AliasExpr, ...] | None = None
    preview_length: int | None = None
    inference_budget: int | None = None
    sample: Sample | None = None
    final_dimensions: tuple[AliasExpr, ...] | None = None
    final_measures: tuple[AliasExpr, ...] | None = None
    syntax: str = field(default="btql", compare=False)
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)

    @property
    def shape(self) -> str:
        return (self.from_.shape if self.from_ else None) or "spans"


CLAUSES: tuple[str, ...] = (
    "select",
    "dimensions",
    "measures",
    "pivot",
    "unpivot",
    "infer",
    "filter",
    "span_filter",
    "trace_filter",
    "final_filter",
    "from",
    "sort",
    "limit",
    "cursor",
    "comparison_key",
    "weighted_scores",
    "custom_columns",
    "preview_length",
    "inference_budget",
    "sample",
    "final_dimensions",
    "final_measures",
)

AGGREGATES: frozenset[str] = frozenset(
    {"count", "count_distinct", "sum", "avg", "min", "max", "percentile", "any_value"}
)


def walk(e: Expr) -> list[Expr]:
    """Every node of an expression tree (iterative, pre-order)."""
    out: list[Expr] = []
    stack: list[Expr] = [e]
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, Binary):
            stack += (n.right, n.left)
        elif isinstance(n, BoolOp | Array):
            stack.extend(reversed(n.args if isinstance(n, BoolOp) else n.items))
        elif isinstance(n, Call):
            stack.extend(reversed(n.args))
        elif isinstance(n, Unary):
            stack.append(n.expr)
        elif isinstance(n, If):
            if n.else_ is not None:
                stack.append(n.else_)
            for c, t in reversed(n.conds):
                stack += (t, c)
    return out


def has_aggregate(e: Expr) -> bool:
    return any(isinstance(n, Call) and n.name in AGGREGATES for n in walk(e))
