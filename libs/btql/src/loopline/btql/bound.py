"""Bound (resolved, typed) expressions: what the binder produces and the generator renders.

`sql` strings held by these nodes are trusted fragments from `schema.py` or generated aliases;
user-supplied values are held as Python values and become query parameters when rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class B:
    type: str = "null"
    agg: bool = field(default=False, kw_only=True)

    def children(self) -> tuple[B, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class BCol(B):
    """A typed column or trusted expression over columns."""

    sql: str = ""
    nonnull: bool = False
    sort_sql: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BJson(B):
    """A JSON value at `path` inside JSON text (a column, or another bound expression)."""

    base: str | B = ""
    path: tuple[str | int, ...] = ()
    fast: str | None = None  # JSON-type column for plain paths (metadata_json)
    root_kind: str = "any"  # 'object' when the base is known to hold an object (scores, metadata...)

    def children(self) -> tuple[B, ...]:
        return (self.base,) if isinstance(self.base, B) else ()


@dataclass(frozen=True, slots=True)
class BMapGet(B):
    """A numeric map entry: scores_map['x'] (NULL when the key is missing)."""

    col: str = ""
    key: str = ""


@dataclass(frozen=True, slots=True)
class BArrayIdx(B):
    arr: B = field(default_factory=B)
    index: int = 0

    def children(self) -> tuple[B, ...]:
        return (self.arr,)


@dataclass(frozen=True, slots=True)
class BLit(B):
    value: Any = None


@dataclass(frozen=True, slots=True)
class BArr(B):
    """An array literal (IN lists): python values, all of one element type."""

    values: tuple[Any, ...] = ()
    elem: str = "string"


@dataclass(frozen=True, slots=True)
class BInterval(B):
    value: int = 0
    unit: str = "day"


@dataclass(frozen=True, slots=True)
class BFunc(B):
    """A scalar function; `name` is our own allowlisted function name."""

    name: str = ""
    args: tuple[B, ...] = ()
    modes: tuple[str | None, ...] = ()  # how to render each argument
    opt: Any = None  # literal options (date unit, precision, ...)

    def children(self) -> tuple[B, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class BAgg(B):
    name: str = ""  # count, count_distinct, sum, avg, min, max, percentile, any_value
    arg: B | None = None
    mode: str | None = None
    p: float | None = None

    def children(self) -> tuple[B, ...]:
        return (self.arg,) if self.arg is not None else ()


@dataclass(frozen=True, slots=True)
class BCmp(B):
    op: str = "eq"  # eq ne lt le gt ge nseq nsne
    left: B = field(default_factory=B)
    right: B = field(default_factory=B)
    mode: str | None = None

    def children(self) -> tuple[B, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class BBool(B):
    op: str = "and"
    args: tuple[B, ...] = ()

    def children(self) -> tuple[B, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class BNot(B):
    x: B = field(default_factory=B)

    def children(self) -> tuple[B, ...]:
        return (self.x,)


@dataclass(frozen=True, slots=True)
class BNeg(B):
    x: B = field(default_factory=B)

    def children(self) -> tuple[B, ...]:
        return (self.x,)


@dataclass(frozen=True, slots=True)
class BArith(B):
    op: str = "add"
    left: B = field(default_factory=B)
    right: B = field(default_factory=B)
    lmode: str | None = None
    rmode: str | None = None

    def children(self) -> tuple[B, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class BIsNull(B):
    x: B = field(default_factory=B)
    negate: bool = False

    def children(self) -> tuple[B, ...]:
        return (self.x,)


@dataclass(frozen=True, slots=True)
class BIf(B):
    conds: tuple[tuple[B, B], ...] = ()
    else_: B | None = None
    mode: str | None = None

    def children(self) -> tuple[B, ...]:
        out = tuple(x for ct in self.conds for x in ct)
        return out if self.else_ is None else (*out, self.else_)


@dataclass(frozen=True, slots=True)
class BIn(B):
    x: B = field(default_factory=B)
    values: BArr = field(default_factory=BArr)
    mode: str = "string"

    def children(self) -> tuple[B, ...]:
        return (self.x,)


@dataclass(frozen=True, slots=True)
class BLike(B):
    x: B = field(default_factory=B)
    pattern: B = field(default_factory=B)
    ci: bool = False

    def children(self) -> tuple[B, ...]:
        return (self.x, self.pattern)


@dataclass(frozen=True, slots=True)
class BMatch(B):
    x: B = field(default_factory=B)
    tokens: tuple[str, ...] = ()
    query: str = ""

    def children(self) -> tuple[B, ...]:
        return (self.x,)


@dataclass(frozen=True, slots=True)
class BIncludes(B):
    hay: B = field(default_factory=B)
    needle: B = field(default_factory=B)
    mode: str = "string"

    def children(self) -> tuple[B, ...]:
        return (self.hay, self.needle)


@dataclass(frozen=True, slots=True)
class BAnySpan(B):
    """Trace-level: true for every span of a trace that has a span matching `pred`."""

    pred: B = field(default_factory=B)

    def children(self) -> tuple[B, ...]:
        return (self.pred,)


@dataclass(frozen=True, slots=True)
class BFilterSpans(B):
    pred: B = field(default_factory=B)

    def children(self) -> tuple[B, ...]:
        return (self.pred,)


@dataclass(frozen=True, slots=True)
class BOutRef(B):
    """A reference to output column `index` (by its generated SQL alias)."""

    index: int = 0
    alias: str = ""
    nonnull: bool = False


def children(b: B) -> tuple[B, ...]:
    """The sub-expressions of a bound node (`B.children`)."""
    return b.children()


def contains(b: B, cls: type | tuple[type, ...]) -> bool:
    stack = [b]
    while stack:
        n = stack.pop()
        if isinstance(n, cls):
            return True
        stack.extend(n.children())
    return False


#: nodes whose value varies from row to row (a sort key or bound without one is a constant)
VARYING: tuple[type, ...] = (BCol, BJson, BMapGet, BArrayIdx, BOutRef, BAgg, BAnySpan)
