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


@dataclass(frozen=True, slots=True)
class BMapGet(B):
    """A numeric map entry: scores_map['x'] (NULL when the key is missing)."""

    col: str = ""
    key: str = ""


@dataclass(frozen=True, slots=True)
class BArrayIdx(B):
    arr: B = field(default_factory=B)
    index: int = 0


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


@dataclass(frozen=True, slots=True)
class BAgg(B):
    name: str = ""  # count, count_distinct, sum, avg, min, max, percentile, any_value
    arg: B | None = None
    mode: str | None = None
    p: float | None = None


@dataclass(frozen=True, slots=True)
class BCmp(B):
    op: str = "eq"  # eq ne lt le gt ge nseq nsne
    left: B = field(default_factory=B)
    right: B = field(default_factory=B)
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class BBool(B):
    op: str = "and"
    args: tuple[B, ...] = ()


@dataclass(frozen=True, slots=True)
class BNot(B):
    x: B = field(default_factory=B)


@dataclass(frozen=True, slots=True)
class BNeg(B):
    x: B = field(default_factory=B)


@dataclass(frozen=True, slots=True)
class BArith(B):
    op: str = "add"
    left: B = field(default_factory=B)
    right: B = field(default_factory=B)
    lmode: str | None = None
    rmode: str | None = None


@dataclass(frozen=True, slots=True)
class BIsNull(B):
    x: B = field(default_factory=B)
    negate: bool = False


@dataclass(frozen=True, slots=True)
class BIf(B):
    conds: tuple[tuple[B, B], ...] = ()
    else_: B | None = None
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class BIn(B):
    x: B = field(default_factory=B)
    values: BArr = field(default_factory=BArr)
    mode: str = "string"


@dataclass(frozen=True, slots=True)
class BLike(B):
    x: B = field(default_factory=B)
    pattern: B = field(default_factory=B)
    ci: bool = False


@dataclass(frozen=True, slots=True)
class BMatch(B):
    x: B = field(default_factory=B)
    tokens: tuple[str, ...] = ()
    query: str = ""


@dataclass(frozen=True, slots=True)
class BIncludes(B):
    hay: B = field(default_factory=B)
    needle: B = field(default_factory=B)
    mode: str = "string"


@dataclass(frozen=True, slots=True)
class BAnySpan(B):
    """Trace-level: true for every span of a trace that has a span matching `pred`."""

    pred: B = field(default_factory=B)


@dataclass(frozen=True, slots=True)
class BFilterSpans(B):
    pred: B = field(default_factory=B)


@dataclass(frozen=True, slots=True)
class BOutRef(B):
    """A reference to output column `index` (by its generated SQL alias)."""

    index: int = 0
    alias: str = ""
    nonnull: bool = False


def children(b: B) -> tuple[B, ...]:
    if isinstance(b, BJson):
        return (b.base,) if isinstance(b.base, B) else ()
    if isinstance(b, BArrayIdx):
        return (b.arr,)
    if isinstance(b, BFunc):
        return b.args
    if isinstance(b, BAgg):
        return (b.arg,) if b.arg is not None else ()
    if isinstance(b, BCmp | BArith):
        return (b.left, b.right)
    if isinstance(b, BBool):
        return b.args
    if isinstance(b, BNot | BNeg):
        return (b.x,)
    if isinstance(b, BIsNull):
        return (b.x,)
    if isinstance(b, BIf):
        out: list[B] = []
        for c, t in b.conds:
            out += [c, t]
        if b.else_ is not None:
            out.append(b.else_)
        return tuple(out)
    if isinstance(b, BIn):
        return (b.x,)
    if isinstance(b, BLike):
        return (b.x, b.pattern)
    if isinstance(b, BMatch):
        return (b.x,)
    if isinstance(b, BIncludes):
        return (b.hay, b.needle)
    if isinstance(b, BAnySpan | BFilterSpans):
        return (b.pred,)
    return ()


def contains(b: B, cls: type | tuple[type, ...]) -> bool:
    stack = [b]
    while stack:
        n = stack.pop()
        if isinstance(n, cls):
            return True
        stack.extend(children(n))
    return False


#: nodes whose value varies from row to row (a sort key or bound without one is a constant)
VARYING: tuple[type, ...] = (BCol, BJson, BMapGet, BArrayIdx, BOutRef, BAgg, BAnySpan)
