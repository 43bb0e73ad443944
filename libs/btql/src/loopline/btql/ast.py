"""The BTQL syntax tree: immutable (frozen, slotted) dataclasses.

Both text syntaxes (pipe/clause BTQL and SQL) and the JSON AST (spec §7) produce these nodes.
Positions (`pos`) are carried for error messages but ignored by equality and hashing, so two
queries that differ only in layout compare equal (and share cache entries).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from typing import Literal as TLiteral

from loopline.btql.functions import AGGREGATE_NAMES

Scalar = None | bool | int | float | str
R = TypeVar("R")
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Expr:
    """An expression node. `children()` lists its sub-expressions (in source order) and
    `accept(visitor, arg)` calls the visitor's method for the node's type (`ExprVisitor`)."""

    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)

    def children(self) -> tuple[Expr, ...]:
        return ()

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_other(self, arg)


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: Scalar = None

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_literal(self, arg)


@dataclass(frozen=True, slots=True)
class Array(Expr):
    items: tuple[Expr, ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return self.items

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_array(self, arg)


@dataclass(frozen=True, slots=True)
class Interval(Expr):
    value: int = 0
    unit: str = "day"  # year|month|week|day|hour|minute|second|millisecond|microsecond

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_interval(self, arg)


@dataclass(frozen=True, slots=True)
class Ident(Expr):
    """A field path: string keys and integer (0-based, negative from the end) indexes."""

    path: tuple[str | int, ...] = ()

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_ident(self, arg)


@dataclass(frozen=True, slots=True)
class Star(Expr):
    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_star(self, arg)


@dataclass(frozen=True, slots=True)
class Call(Expr):
    name: str = ""  # lower-cased
    args: tuple[Expr, ...] = ()
    distinct: bool = False

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_call(self, arg)


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    """eq ne lt le gt ge nseq nsne like ilike match includes in add sub mul div mod."""

    op: str = ""
    left: Expr = field(default_factory=Expr)
    right: Expr = field(default_factory=Expr)

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_binary(self, arg)


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: TLiteral["and", "or"] = "and"
    args: tuple[Expr, ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_boolop(self, arg)


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    """not, neg, isnull, isnotnull."""

    op: str = ""
    expr: Expr = field(default_factory=Expr)

    def children(self) -> tuple[Expr, ...]:
        return (self.expr,)

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_unary(self, arg)


@dataclass(frozen=True, slots=True)
class If(Expr):
    conds: tuple[tuple[Expr, Expr], ...] = ()
    else_: Expr | None = None

    def children(self) -> tuple[Expr, ...]:
        out = tuple(x for ct in self.conds for x in ct)
        return out if self.else_ is None else (*out, self.else_)

    def accept(self, v: ExprVisitor[R, C], arg: C) -> R:
        return v.visit_if(self, arg)


class ExprVisitor(ABC, Generic[R, C]):
    """One method per expression node type; `visit(e, arg)` dispatches through `e.accept`.

    Expression binder (`bind_expr.ExprBinder`, `C` = its `BindContext`), unparser, JSON writer:
    a new node type is a new abstract method here, so mypy and instantiation point at every
    visitor that must handle it.
    """

    def visit(self, e: Expr, arg: C) -> R:
        return e.accept(self, arg)

    def visit_other(self, e: Expr, arg: C, /) -> R:
        """A node of no concrete type (the bare `Expr` placeholder)."""
        raise TypeError(f"unsupported expression {type(e).__name__}")

    @abstractmethod
    def visit_literal(self, e: Literal, arg: C, /) -> R: ...

    @abstractmethod
    def visit_array(self, e: Array, arg: C, /) -> R: ...

    @abstractmethod
    def visit_interval(self, e: Interval, arg: C, /) -> R: ...

    @abstractmethod
    def visit_ident(self, e: Ident, arg: C, /) -> R: ...

    @abstractmethod
    def visit_star(self, e: Star, arg: C, /) -> R: ...

    @abstractmethod
    def visit_call(self, e: Call, arg: C, /) -> R: ...

    @abstractmethod
    def visit_binary(self, e: Binary, arg: C, /) -> R: ...

    @abstractmethod
    def visit_boolop(self, e: BoolOp, arg: C, /) -> R: ...

    @abstractmethod
    def visit_unary(self, e: Unary, arg: C, /) -> R: ...

    @abstractmethod
    def visit_if(self, e: If, arg: C, /) -> R: ...


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

    def expressions(self) -> Iterator[Expr]:
        """Every top-level expression of the clauses (filters, items, sort keys, unpivots, source
        arguments): the roots a whole-query check (nesting depth, ...) walks."""
        for e in (self.filter, self.span_filter, self.trace_filter, self.final_filter, self.comparison_key):
            if e is not None:
                yield e
        for items in (
            self.select,
            self.dimensions,
            self.measures,
            self.pivot,
            self.weighted_scores,
            self.custom_columns,
            self.final_dimensions,
            self.final_measures,
        ):
            for it in items or ():
                if isinstance(it, AliasExpr):
                    yield it.expr
        for s in self.sort or ():
            yield s.expr
        for u in self.unpivot or ():
            yield u.expr
        if self.from_:
            yield from self.from_.args


# ------------------------------------------------------------------- SQL syntax (before lowering)


@dataclass(frozen=True, slots=True)
class SqlPivot:
    """`PIVOT (agg [AS alias], … FOR column IN (ANY))` as written."""

    measures: tuple[AliasExpr, ...]
    key: Ident
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class SqlSelect:
    """A SQL-syntax statement as the parser reads it; `lower.py` turns it into a `Query`
    (GROUP BY → dimensions/measures, HAVING → final_filter, PIVOT → pivot, `shape =>`)."""

    items: tuple[SelectItem, ...]
    source: Source
    unpivots: tuple[Unpivot, ...] = ()
    pivot: SqlPivot | None = None
    where: Expr | None = None
    group: tuple[Expr, ...] | None = None
    having: Expr | None = None
    order: tuple[SortItem, ...] | None = None
    limit: int | None = None
    offset: str | None = None
    pos: Pos | None = field(default=None, compare=False, repr=False, kw_only=True)


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

#: names of the aggregate functions (from the function catalogue)
AGGREGATES: frozenset[str] = AGGREGATE_NAMES


def walk(e: Expr) -> list[Expr]:
    """Every node of an expression tree (iterative, pre-order)."""
    out: list[Expr] = []
    stack: list[Expr] = [e]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.children()))
    return out


def depth_exceeding(e: Expr, limit: int) -> Expr | None:
    """The first node nested deeper than `limit` levels (iterative), or None."""
    stack: list[tuple[Expr, int]] = [(e, 1)]
    while stack:
        node, d = stack.pop()
        if d > limit:
            return node
        stack.extend((c, d + 1) for c in node.children())
    return None


def has_aggregate(e: Expr) -> bool:
    """Whether an aggregate call occurs in the expression (stops at the first)."""
    stack: list[Expr] = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, Call) and n.name in AGGREGATES:
            return True
        stack.extend(n.children())
    return False
