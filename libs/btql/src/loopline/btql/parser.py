"""Text → AST: the lark LALR parser (built once, lazily) plus the tree-building callbacks.

The callbacks run inline during the LALR parse (no intermediate parse tree), which keeps
parsing fast. Lark errors become `ParseError`s with line, column and what was expected.
The parser checks syntax only: a SQL-syntax statement comes out as an `ast.SqlSelect`, which
the lowering pass (`lower.py`) turns into a `Query` right after parsing; names, types and
every other question of meaning are the binder's.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from lark import Lark, Token, Transformer
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from loopline.btql import ast as A
from loopline.btql.errors import BtqlError, ParseError, node_position
from loopline.btql.grammar import FULL_GRAMMAR, OPERATOR_WORDS, TERMINAL_NAMES
from loopline.btql.lalr import FastLalr
from loopline.btql.lower import lower

MAX_QUERY_LENGTH = 100_000
MAX_DEPTH = 200
# segments of one field path (`a.b[0].c`): each step copies the path so far, so unbounded paths
# would cost quadratic time; no JSON document the store keeps is nested this deep
MAX_PATH_LENGTH = 200

_lock = threading.Lock()
_lark: Lark | None = None
_fast: FastLalr | None = None


# terms of one flattened and/or chain or ternary chain (longer ones nest: see `_Build._bool`)
_FLAT_MAX = 256


def _check_path_length(base: A.Ident) -> None:
    if len(base.path) >= MAX_PATH_LENGTH:
        raise ParseError(f"a field path has more than {MAX_PATH_LENGTH} segments", *node_position(base))


def _int(tok: Token) -> int:
    """An integer token; at most 20 digits (UInt64), so huge literals are clean errors."""
    text = str(tok)
    if len(text.lstrip("0")) > 20:
        raise ParseError(f"integer {text[:24]}… is out of range", tok.line, tok.column)
    return int(text)


def _pos(x: Any) -> A.Pos | None:
    if isinstance(x, Token):
        return A.Pos(x.line or 0, x.column or 0)
    p = getattr(x, "pos", None)
    return p if isinstance(p, A.Pos) else None


def _unquote_sq(s: str) -> str:
    return s[1:-1].replace("''", "'")


_DQ_ESC = re.compile(r'\\(u[0-9a-fA-F]{4}|.)|""', re.S)
_SIMPLE_ESC = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "/": "/",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def _unquote_dq(s: str) -> str:
    body = s[1:-1]

    def repl(m: re.Match[str]) -> str:
        g = m.group(1)
        if g is None:
            return '"'
        if len(g) == 5 and g[0] == "u":
            return chr(int(g[1:], 16))
        return _SIMPLE_ESC.get(g, "\\" + g)

    return _DQ_ESC.sub(repl, body) if ("\\" in body or '""' in body) else body


def _unquote_bq(s: str) -> str:
    return s[1:-1].replace("``", "`")


def _name_of(tok: Token) -> str:
    t = tok.type
    if t == "NAME":
        return str(tok)
    if t == "DQ_STRING":
        return _unquote_dq(tok)
    if t == "BQ_NAME":
        return _unquote_bq(tok)
    if t == "SQ_STRING":
        return _unquote_sq(tok)
    return str(tok)


_CMP = {
    "=": "eq",
    "==": "eq",
    "!=": "ne",
    "<>": "ne",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "<=>": "nseq",
    "<!=>": "nsne",
}
_ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod"}


def _not_operator_word(tok: Token) -> None:
    if tok.type == "NAME" and str(tok).lower() in OPERATOR_WORDS:
        raise ParseError(
            f"unexpected keyword {str(tok).upper()} (quote it with backticks to use it as a field name)",
            tok.line,
            tok.column,
        )


def _negated(e: A.Expr, negate: bool, pos: A.Pos | None) -> A.Expr:
    return A.Unary(op="not", expr=e, pos=pos) if negate else e


class _Build(Transformer[Token, Any]):
    """Inline LALR callbacks: children → AST nodes."""

    # ------------------------------------------------------------------ literals
    def sq_string(self, c: list[Any]) -> A.Literal:
        return A.Literal(value=_unquote_sq(c[0]), pos=_pos(c[0]))

    def dq_string(self, c: list[Any]) -> A.Literal:
        return A.Literal(value=_unquote_dq(c[0]), pos=_pos(c[0]))

    def int_(self, c: list[Any]) -> A.Literal:
        return A.Literal(value=_int(c[0]), pos=_pos(c[0]))

    def float_(self, c: list[Any]) -> A.Literal:
        v = float(c[0])
        if not math.isfinite(v):
            raise ParseError(f"number {str(c[0])[:40]} is out of range", *_lc(c[0]))
        return A.Literal(value=v, pos=_pos(c[0]))

    def true_(self, c: list[Any]) -> A.Literal:
        return A.Literal(value=True, pos=_pos(c[0]))

    def false_(self, c: list[Any]) -> A.Literal:
        return A.Literal(value=False, pos=_pos(c[0]))

    def null_(self, c: list[Any]) -> A.Literal:
        return A.Literal(value=None, pos=_pos(c[0]))

    def signed_int(self, c: list[Any]) -> tuple[int, A.Pos | None]:
        neg, tok = c
        return (-_int(tok) if neg is not None else _int(tok)), _pos(neg if neg is not None else tok)

    def number(self, c: list[Any]) -> float | int:
        tok = c[0]
        v = _int(tok) if tok.type == "INT" else float(tok)
        if isinstance(v, float) and not math.isfinite(v):
            raise ParseError("number out of range", *_lc(tok))
        return v

    def string(self, c: list[Any]) -> str:
        tok = c[0]
        return _unquote_sq(tok) if tok.type == "SQ_STRING" else _unquote_dq(tok)

    # ------------------------------------------------------------------ names and paths
    def name(self, c: list[Any]) -> A.Ident:
        tok = c[0]
        _not_operator_word(tok)
        return A.Ident(path=(_name_of(tok),), pos=_pos(tok))

    def segment(self, c: list[Any]) -> str:
        return _name_of(c[0])

    def index(self, c: list[Any]) -> int | str:
        v = c[0]
        out: int | str = v[0] if isinstance(v, tuple) else v
        return out

    def dot(self, c: list[Any]) -> A.Ident:
        base, seg = c
        if not isinstance(base, A.Ident):
            raise ParseError("'.' field access is only allowed on a field path", *node_position(base))
        _check_path_length(base)
        return A.Ident(path=(*base.path, seg), pos=base.pos)

    def subscript(self, c: list[Any]) -> A.Ident:
        base, idx = c
        if not isinstance(base, A.Ident):
            raise ParseError("'[...]' indexing is only allowed on a field path", *node_position(base))
        _check_path_length(base)
        return A.Ident(path=(*base.path, idx), pos=base.pos)

    def call(self, c: list[Any]) -> A.Call:
        tok, args = c
        _not_operator_word(tok)
        if args is None:
            return A.Call(name=str(tok).lower(), args=(), pos=_pos(tok))
        distinct, exprs = args
        return A.Call(name=str(tok).lower(), args=tuple(exprs), distinct=distinct, pos=_pos(tok))

    def call_keyword(self, c: list[Any]) -> A.Call:
        """`contains(tags, 'x')`: the function form of an operator keyword."""
        tok, args = c
        exprs = [] if args is None else args[1]
        return A.Call(name=str(tok).lower(), args=tuple(exprs), distinct=False, pos=_pos(tok))

    def match_against(self, c: list[Any]) -> A.Expr:
        """SQL `MATCH(a, b) AGAINST ('q')`: `a MATCH 'q' OR b MATCH 'q'`."""
        cols = [x for x in c[1:-2] if not isinstance(x, Token)]
        query = c[-1]
        tests = [A.Binary(op="match", left=col, right=query, pos=col.pos) for col in cols]
        if len(tests) == 1:
            return tests[0]
        return A.BoolOp(op="or", args=tuple(tests), pos=_pos(c[0]))

    def call_star(self, c: list[Any]) -> tuple[bool, list[A.Expr]]:
        return False, [A.Star(pos=_pos(c[0]))]

    def call_exprs(self, c: list[Any]) -> tuple[bool, list[A.Expr]]:
        return c[0] is not None, c[1:]

    def array(self, c: list[Any]) -> A.Array:
        items = tuple(x for x in c if x is not None)
        return A.Array(items=items, pos=_pos(items[0]) if items else None)

    def in_list(self, c: list[Any]) -> A.Array:
        items = tuple(x for x in c if x is not None)
        return A.Array(items=items, pos=_pos(items[0]) if items else None)

    def case(self, c: list[Any]) -> A.If:
        conds: list[tuple[A.Expr, A.Expr]] = []
        else_: A.Expr | None = None
        i = 1
        while i < len(c):
            t = c[i]
            if isinstance(t, Token) and t.type == "WHEN":
                conds.append((c[i + 1], c[i + 3]))
                i += 4
            elif isinstance(t, Token) and t.type == "ELSE":
                else_ = c[i + 1]
                i += 2
            else:
                i += 1
        return A.If(conds=tuple(conds), else_=else_, pos=_pos(c[0]))

    def interval(self, c: list[Any]) -> A.Interval:
        tok, (v, _), unit = c
        u = str(unit).lower()
        if u.endswith("s"):
            u = u[:-1]
        return A.Interval(value=v, unit=u, pos=_pos(tok))

    # ------------------------------------------------------------------ operators
    def neg(self, c: list[Any]) -> A.Expr:
        tok, x = c
        if isinstance(x, A.Literal) and isinstance(x.value, int | float) and not isinstance(x.value, bool):
            return A.Literal(value=-x.value, pos=_pos(tok))
        return A.Unary(op="neg", expr=x, pos=_pos(tok))

    def pos(self, c: list[Any]) -> A.Expr:
        e: A.Expr = c[1]
        return e

    def arith(self, c: list[Any]) -> A.Binary:
        lhs, op, r = c
        return A.Binary(op=_ARITH[str(op)], left=lhs, right=r, pos=lhs.pos)

    def compare(self, c: list[Any]) -> A.Binary:
        lhs, op, r = c
        return A.Binary(op=_CMP[str(op)], left=lhs, right=r, pos=lhs.pos)

    def _textop(self, op: str, c: list[Any]) -> A.Expr:
        lhs, neg, _kw, r = c
        return _negated(A.Binary(op=op, left=lhs, right=r, pos=lhs.pos), neg is not None, lhs.pos)

    def like(self, c: list[Any]) -> A.Expr:
        return self._textop("like", c)

    def ilike(self, c: list[Any]) -> A.Expr:
        return self._textop("ilike", c)

    def match_(self, c: list[Any]) -> A.Expr:
        return self._textop("match", c)

    def includes(self, c: list[Any]) -> A.Expr:
        return self._textop("includes", c)

    def in_(self, c: list[Any]) -> A.Expr:
        lhs, neg, _kw, arr = c
        return _negated(A.Binary(op="in", left=lhs, right=arr, pos=lhs.pos), neg is not None, lhs.pos)

    def is_null(self, c: list[Any]) -> A.Unary:
        lhs, _is, neg, _null = c
        return A.Unary(op="isnotnull" if neg is not None else "isnull", expr=lhs, pos=lhs.pos)

    def not_(self, c: list[Any]) -> A.Unary:
        return A.Unary(op="not", expr=c[1], pos=_pos(c[0]))

    def _bool(self, op: str, c: list[Any]) -> A.BoolOp:
        lhs, _tok, r = c
        # `a or b or c` is one BoolOp; each step copies the terms so far, so a chain is split
        # into nested BoolOps of at most _FLAT_MAX terms (the same logic, linear cost)
        flat = isinstance(lhs, A.BoolOp) and lhs.op == op and len(lhs.args) < _FLAT_MAX
        largs = lhs.args if flat else (lhs,)
        return A.BoolOp(op=op, args=(*largs, r), pos=lhs.pos)  # type: ignore[arg-type]

    def and_(self, c: list[Any]) -> A.BoolOp:
        return self._bool("and", c)

    def or_(self, c: list[Any]) -> A.BoolOp:
        return self._bool("or", c)

    def ternary(self, c: list[Any]) -> A.If:
        cond, then, els = c
        if isinstance(els, A.If) and els.else_ is not None and len(els.conds) < _FLAT_MAX:
            return A.If(conds=((cond, then), *els.conds), else_=els.else_, pos=cond.pos)
        return A.If(conds=((cond, then),), else_=els, pos=cond.pos)

    def expr_only(self, c: list[Any]) -> A.Expr:
        e: A.Expr = c[0]
        return e

    # ------------------------------------------------------------------ clause items
    def select_items(self, c: list[Any]) -> list[Any]:
        return c

    sql_select_items = select_items
    alias_items = select_items
    sort_items = select_items
    group_items = select_items

    def star_item(self, c: list[Any]) -> A.Star:
        return A.Star(pos=_pos(c[0]))

    def alias_item(self, c: list[Any]) -> A.AliasExpr:
        e, _as, name = c
        return A.AliasExpr(expr=e, alias=name, pos=e.pos)

    def alias_name(self, c: list[Any]) -> str:
        return _name_of(c[0])

    def unpivot_item(self, c: list[Any]) -> A.Unpivot:
        e, _as, n1, n2 = c
        return A.Unpivot(expr=e, names=(n1,) if n2 is None else (n1, n2), pos=e.pos)

    def infer_item(self, c: list[Any]) -> A.Expr:
        x = c[0]
        return A.Star(pos=_pos(x)) if isinstance(x, Token) else x

    def sort_item(self, c: list[Any]) -> A.SortItem:
        e, d = c
        return A.SortItem(expr=e, dir="desc" if d is not None and d.type == "DESC" else "asc", pos=e.pos)

    def source_call(self, c: list[Any]) -> A.Source:
        tok = c[0]
        args: list[A.Expr] = []
        named: list[tuple[str, A.Expr]] = []
        for a in c[1:]:
            if a is None:
                continue
            if isinstance(a, tuple):
                named.append(a)
            else:
                args.append(a)
        return A.Source(name=str(tok).lower(), args=tuple(args), named=tuple(named), pos=_pos(tok))

    def source_name(self, c: list[Any]) -> A.Source:
        return A.Source(name=str(c[0]).lower(), is_call=False, pos=_pos(c[0]))

    def source_arg(self, c: list[Any]) -> A.Expr:
        e: A.Expr = c[0]
        return e

    def named_arg(self, c: list[Any]) -> tuple[str, A.Expr]:
        return (str(c[0]).lower(), c[2])

    def shape(self, c: list[Any]) -> str:
        return str(c[0]).lower()

    # ------------------------------------------------------------------ clauses
    def _clause(self, name: str, c: list[Any], value: Any) -> tuple[str, Any, A.Pos | None]:
        return (name, value, _pos(c[0]))

    def c_select(self, c: list[Any]) -> Any:
        return self._clause("select", c, tuple(c[1]))

    def c_dimensions(self, c: list[Any]) -> Any:
        return self._clause("dimensions", c, tuple(c[1]))

    def c_measures(self, c: list[Any]) -> Any:
        return self._clause("measures", c, tuple(c[1]))

    def c_pivot(self, c: list[Any]) -> Any:
        return self._clause("pivot", c, tuple(c[1]))

    def c_unpivot(self, c: list[Any]) -> Any:
        return self._clause("unpivot", c, tuple(c[1:]))

    def c_infer(self, c: list[Any]) -> Any:
        return self._clause("infer", c, tuple(c[1:]))

    def c_from(self, c: list[Any]) -> Any:
        src: A.Source = c[1]
        if c[2] is not None:
            src = A.Source(src.name, src.args, src.named, c[2], src.is_call, pos=src.pos)
        return self._clause("from", c, src)

    def c_filter(self, c: list[Any]) -> Any:
        return self._clause("filter", c, c[1])

    def c_span_filter(self, c: list[Any]) -> Any:
        return self._clause("span_filter", c, c[1])

    def c_trace_filter(self, c: list[Any]) -> Any:
        return self._clause("trace_filter", c, c[1])

    def c_final_filter(self, c: list[Any]) -> Any:
        return self._clause("final_filter", c, c[1])

    def c_comparison_key(self, c: list[Any]) -> Any:
        return self._clause("comparison_key", c, c[1])

    def c_sort(self, c: list[Any]) -> Any:
        return self._clause("sort", c, tuple(c[1]))

    def c_limit(self, c: list[Any]) -> Any:
        return self._clause("limit", c, _int(c[1]))

    def c_cursor(self, c: list[Any]) -> Any:
        return self._clause("cursor", c, c[1])

    def c_weighted_scores(self, c: list[Any]) -> Any:
        return self._clause("weighted_scores", c, tuple(c[1]))

    def c_custom_columns(self, c: list[Any]) -> Any:
        return self._clause("custom_columns", c, tuple(c[1]))

    def c_final_dimensions(self, c: list[Any]) -> Any:
        return self._clause("final_dimensions", c, tuple(c[1]))

    def c_final_measures(self, c: list[Any]) -> Any:
        return self._clause("final_measures", c, tuple(c[1]))

    def c_preview_length(self, c: list[Any]) -> Any:
        return self._clause("preview_length", c, c[1][0])

    def c_inference_budget(self, c: list[Any]) -> Any:
        return self._clause("inference_budget", c, _int(c[1]))

    def c_sample(self, c: list[Any]) -> Any:
        head, num, pct, _seed_kw, seed = c
        p = _pos(head)
        if pct is not None:
            s = A.Sample(rate=float(num) / 100.0, seed=_int(seed) if seed is not None else None, pos=p)
        elif isinstance(num, float):
            s = A.Sample(rate=num, seed=_int(seed) if seed is not None else None, pos=p)
        else:
            s = A.Sample(count=int(num), seed=_int(seed) if seed is not None else None, pos=p)
        return self._clause("sample", c, s)

    def btql(self, c: list[Any]) -> A.Query:
        fields: dict[str, Any] = {}
        for name, value, pos in c:
            key = "from_" if name == "from" else name
            if key in fields:
                raise ParseError(f"duplicate clause '{name}:'", *(_lc_pos(pos)))
            fields[key] = value
        return A.Query(syntax="btql", **fields)

    # ------------------------------------------------------------------ SQL
    def sql_unpivot(self, c: list[Any]) -> A.Unpivot:
        # UNPIVOT ( value FOR key IN ( expr ) )
        _kw, value, _for, key, _in, e = c
        names = (value,) if key == "_" else (key, value)
        return A.Unpivot(expr=e, names=names, pos=_pos(_kw))

    def sql_pivot(self, c: list[Any]) -> A.SqlPivot:
        # PIVOT ( agg [AS alias], ... FOR column IN (ANY) )
        kw, items, _for, key, _in, values = c
        v = values.items
        if not (
            len(v) == 1
            and isinstance(v[0], A.Ident)
            and len(v[0].path) == 1
            and str(v[0].path[0]).lower() == "any"
        ):
            raise ParseError(
                "PIVOT supports only IN (ANY): the pivot values are found in the data", *node_position(values)
            )
        if not isinstance(key, A.Ident):
            raise ParseError(
                "the PIVOT column must be a single field, not an expression", *node_position(key)
            )
        return A.SqlPivot(measures=tuple(items), key=key, pos=_pos(kw))

    def sql(self, c: list[Any]) -> A.SqlSelect:
        return _sql_select(c)


def _lc(tok: Token) -> tuple[int | None, int | None]:
    return tok.line, tok.column


def _lc_pos(p: A.Pos | None) -> tuple[int | None, int | None]:
    return (p.line, p.column) if p else (None, None)


def _sql_select(c: list[Any]) -> A.SqlSelect:
    """Children of the `sql` rule → the statement as written (`lower.py` makes it a Query)."""
    items: list[A.SelectItem] = c[1]
    source: A.Source = c[3]
    rest = c[4:]
    unpivots = tuple(x for x in rest if isinstance(x, A.Unpivot))
    pivot = next((x for x in rest if isinstance(x, A.SqlPivot)), None)
    where = having = None
    group: list[A.Expr] | None = None
    order: list[A.SortItem] | None = None
    limit: int | None = None
    offset: str | None = None
    # the optional parts come as keyword tokens followed by their values (or None placeholders)
    i = 0
    vals = [x for x in rest if not isinstance(x, A.Unpivot)]
    while i < len(vals):
        x = vals[i]
        if isinstance(x, Token):
            t = x.type
            if t == "WHERE":
                where = vals[i + 1]
                i += 2
                continue
            if t == "GROUP":
                group = vals[i + 2]
                i += 3
                continue
            if t == "HAVING":
                having = vals[i + 1]
                i += 2
                continue
            if t == "ORDER":
                order = vals[i + 2]
                i += 3
                continue
            if t == "LIMIT":
                limit = _int(vals[i + 1])
                i += 2
                continue
            if t == "OFFSET":
                offset = vals[i + 1]
                i += 2
                continue
        i += 1
    return A.SqlSelect(
        items=tuple(items),
        source=source,
        unpivots=unpivots,
        pivot=pivot,
        where=where,
        group=None if group is None else tuple(group),
        having=having,
        order=None if order is None else tuple(order),
        limit=limit,
        offset=offset,
        pos=_pos(c[0]),
    )


def _cache_path() -> str | bool:
    """Where lark keeps its grammar analysis between processes: each process start saves about a
    second. The file (a pickle) lives in the user's own cache directory, never a shared temporary
    one; lark checks it against the grammar and options and rebuilds a file that does not match or
    load. `LOOPLINE_BTQL_GRAMMAR_CACHE=0` turns it off; an unwritable directory means no cache."""
    if os.environ.get("LOOPLINE_BTQL_GRAMMAR_CACHE", "1") == "0":
        return False
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "loopline"
        base.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):
        return False
    if not os.access(base, os.W_OK):
        return False
    return str(base / f"btql-grammar-lark-{lark_version}.pickle")


def _get_lark() -> Lark:
    global _lark, _fast
    if _lark is None:
        with _lock:
            if _lark is None:
                lark = Lark(
                    FULL_GRAMMAR,
                    parser="lalr",
                    lexer="contextual",
                    start=["btql", "sql", "expr_only"],
                    transformer=_Build(),
                    maybe_placeholders=True,
                    propagate_positions=False,
                    cache=_cache_path(),
                )
                _fast = FastLalr.build(lark)
                _lark = lark
    return _lark


def warm_up() -> None:
    """Build the parser now (about 1 to 2 s of grammar analysis), not on the first query."""
    _get_lark()


# ---------------------------------------------------------------------------------------- errors

_CLAUSE_NAMES = [c for c in A.CLAUSES]


def _expected(names: Any) -> tuple[str, ...]:
    out: list[str] = []
    for n in sorted(names or ()):
        h = TERMINAL_NAMES.get(n)
        if h is None:
            if n.startswith("__ANON") or n.startswith("_"):
                continue
            h = n
        if h not in out:
            out.append(h)
    return tuple(out)


def _convert(text: str, e: UnexpectedInput) -> ParseError:
    line = getattr(e, "line", None)
    col = getattr(e, "column", None)
    if isinstance(line, int) and line < 0:
        line = None
    if isinstance(col, int) and col < 0:
        col = None
    if isinstance(e, UnexpectedCharacters):
        at = e.pos_in_stream or 0
        ch = text[at] if 0 <= at < len(text) else ""
        expected = _expected(e.allowed)
        if ch in ("'", '"', "`"):
            return ParseError("unterminated string literal", line, col, expected=expected)
        word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[at:])
        if word and "UNIT" in (e.allowed or ()):
            return ParseError(f"invalid interval unit '{word.group(0)}'", line, col, expected=expected)
        if word and re.match(r"\s*:", text[at + len(word.group(0)) :]):
            return _unknown_clause(word.group(0), line, col, expected)
        if word and "SPANS" in (e.allowed or ()):
            return ParseError(
                f"unknown shape '{word.group(0)}': use spans, traces or summary", line, col, expected=expected
            )
        shown = word.group(0) if word else ch
        return ParseError(f"unexpected {shown!r}", line, col, expected=expected)
    if isinstance(e, UnexpectedToken):
        tok = e.token
        expected = _expected(e.expected)
        if tok.type == "$END":
            return ParseError("unexpected end of query", line, col, expected=expected)
        allowed = set(e.expected or ())
        if "UNIT" in allowed:
            if tok.type in ("FLOAT", "INT"):
                return ParseError("interval value must be an integer", line, col, expected=expected)
            return ParseError(f"invalid interval unit '{tok}'", line, col, expected=expected)
        if tok.type == "NAME" and tok.end_pos is not None and re.match(r"\s*:", text[tok.end_pos :]):
            return _unknown_clause(str(tok), line, col, expected)
        if "SPANS" in allowed and tok.type == "NAME":
            return ParseError(
                f"unknown shape '{tok}': use spans, traces or summary", line, col, expected=expected
            )
        val = str(tok)
        if len(val) > 40:
            val = val[:40] + "…"
        return ParseError(f"unexpected {val!r}", line, col, expected=expected)
    if isinstance(e, UnexpectedEOF):
        return ParseError("unexpected end of query", None, None, expected=_expected(e.expected))
    return ParseError(str(e).splitlines()[0], line, col)


def _unknown_clause(word: str, line: int | None, col: int | None, expected: tuple[str, ...]) -> ParseError:
    close = difflib.get_close_matches(word.lower(), _CLAUSE_NAMES, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}:'?" if close else ""
    return ParseError(f"unknown clause '{word}:'{hint}", line, col, expected=expected)


# ---------------------------------------------------------------------------------------- entry points

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_FIRST_CHAR = re.compile(r"\s*(\S)")
_SQL_START = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*(select|with)\b(?!\s*:)", re.I | re.S)


def detect_syntax(text: str) -> str:
    """'sql' when the text starts with SELECT/WITH followed by whitespace, else 'btql'."""
    m = _SQL_START.match(text)
    if not m:
        return "btql"
    return "sql" if m.group(1).lower() == "select" else "with"


def _check_depth(root: A.Expr) -> None:
    node = A.depth_exceeding(root, MAX_DEPTH)
    if node is not None:
        raise ParseError(f"expression nesting is deeper than {MAX_DEPTH} levels", *node_position(node))


def _run(text: str, start: str) -> Any:
    """Parse with the lean runtime; on an error, lark's own runtime reports it exactly."""
    lark = _get_lark()
    try:
        if _fast is not None:
            out = _fast.parse(text, start)
            if out is not None:
                return out
        return lark.parse(text, start=start)
    except UnexpectedInput as e:
        raise _convert(text, e) from None
    except BtqlError:
        raise
    except RecursionError:
        raise ParseError(f"query nesting is deeper than {MAX_DEPTH} levels") from None


def _guard(text: str) -> None:
    if len(text) > MAX_QUERY_LENGTH:
        raise ParseError(f"query is longer than {MAX_QUERY_LENGTH} characters", 1, 1)
    if text.count("(") + text.count("[") <= MAX_DEPTH:
        return  # cannot nest deeper than it has brackets
    depth = 0
    worst = 0
    for ch in text:
        if ch in "([":
            depth += 1
            if depth > worst:
                worst = depth
        elif ch in ")]":
            depth -= 1
    if worst > MAX_DEPTH:
        raise ParseError(f"query nesting is deeper than {MAX_DEPTH} levels", 1, 1)


# Parsed queries are cached by their text (dashboards and SDK reads repeat the same ones), but only
# short texts: a tree costs about 15x its text in memory, and 250 distinct 90 KB queries held
# 356 MiB that never came back (soak, issue 10 defect 7). Longer texts are parsed every time.
CACHED_TEXT_CHARS = 8192
_T = TypeVar("_T")
_CACHE_ENTRIES = 2048


class _SizeBoundCache(Generic[_T]):
    """`fn` memoised for texts of at most CACHED_TEXT_CHARS characters (LRU, _CACHE_ENTRIES)."""

    def __init__(self, fn: Callable[[str], _T]) -> None:
        self._fn = fn
        self._cached = functools.lru_cache(maxsize=_CACHE_ENTRIES)(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, text: str) -> _T:
        if isinstance(text, str) and len(text) <= CACHED_TEXT_CHARS:
            return self._cached(text)
        return self._fn(text)

    def cache_clear(self) -> None:
        self._cached.cache_clear()

    def cache_info(self) -> Any:
        return self._cached.cache_info()


def _parse_text(text: str) -> A.Query:
    """Parse BTQL (pipe/clause) or SQL text into a Query."""
    if not isinstance(text, str):
        raise ParseError("query must be a string or a JSON object")
    _guard(text)
    syntax = detect_syntax(text)
    if syntax == "with":
        raise ParseError("WITH (common table expressions) is not supported", 1, 1)
    first = _FIRST_CHAR.match(text)
    if first is None or (first.group(1) in "-/" and not _COMMENTS.sub("", text).strip()):
        raise ParseError("empty query", 1, 1)
    q = lower(_run(text, syntax))
    if len(text) >= 2 * MAX_DEPTH:  # shorter texts cannot nest that deep
        for e in q.expressions():
            _check_depth(e)
    return q


def _parse_expr(text: str) -> A.Expr:
    """Parse a bare expression (a filter body, or the text of a JSON `{btql: ...}` snippet)."""
    if not isinstance(text, str):
        raise ParseError("expression must be a string")
    _guard(text)
    e: A.Expr = _run(text, "expr_only")
    _check_depth(e)
    return e


parse_text = _SizeBoundCache(_parse_text)
parse_expr = _SizeBoundCache(_parse_expr)
