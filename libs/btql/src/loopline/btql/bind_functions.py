"""Binding function calls: the catalogue's checks (`functions.py`: arity, DISTINCT, `*`, argument
kinds, result type), aggregates, the span functions ANY_SPAN / FILTER_SPANS, and the bind hooks
of the functions with odd rules (`FunctionSpec.hook` names one of the `bind_*` functions here)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import functions as F
from loopline.btql import schema as S
from loopline.btql.bind_context import BindContext
from loopline.btql.bind_operators import includes, match_tokens
from loopline.btql.bind_types import as_condition, check_arg, check_datetime, check_numeric, unify
from loopline.btql.errors import bind_error, type_error
from loopline.btql.grammar import INTERVAL_UNITS

if TYPE_CHECKING:
    from loopline.btql.bind_expr import ExprBinder

Hook = Callable[["ExprBinder", F.FunctionSpec, A.Call, BindContext], Bd.B]
_BY_HOOK_NAME: dict[str, Hook] = {}


def _hook(fn: Hook) -> Hook:
    """Register a bind hook under its function name (what `FunctionSpec.hook` names)."""
    _BY_HOOK_NAME[fn.__name__] = fn
    return fn


def bind_call(b: ExprBinder, e: A.Call, ctx: BindContext) -> Bd.B:
    """A function call: checked against its catalogue spec, then bound by kind or hook."""
    name = e.name
    spec = F.BY_NAME.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, F.NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise bind_error(f"unknown function '{name}'{hint}", e)
    if spec.kind == "aggregate":
        return bind_aggregate(b, e, ctx)
    if spec.kind == "span":
        return bind_span_function(b, e, ctx)
    lo, hi = spec.lo, spec.hi
    if not lo <= len(e.args) <= hi:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi < 99 else f"at least {lo}"
        raise bind_error(f"{name}() takes {want} argument{'s' if hi != 1 else ''}, got {len(e.args)}", e)
    if e.distinct:
        raise bind_error(f"DISTINCT is only allowed in aggregates, not in {name}()", e)
    if any(isinstance(a, A.Star) for a in e.args):
        raise bind_error(f"'*' is not an argument of {name}()", e)
    hook = _SCALAR_HOOKS.get(name)
    if hook is not None:
        return hook(b, spec, e, ctx)
    # a plain function: bind the arguments, check their kinds, type from the catalogue
    bargs = tuple(b.expr(a, ctx) for a in e.args)
    for i, (x, a) in enumerate(zip(bargs, e.args, strict=True)):
        check_arg(spec.arg(i).kind, x, a, name)
    return Bd.BFunc(
        spec.result,
        name=spec.bound_name,
        args=bargs,
        modes=tuple(spec.arg_mode for _ in bargs) if spec.arg_mode else (),
        opt=spec.opt,
        agg=any(x.agg for x in bargs),
    )


def bind_aggregate(b: ExprBinder, e: A.Call, ctx: BindContext) -> Bd.B:
    """An aggregate call (count, sum, percentile, ...)."""
    name = e.name
    if ctx.in_agg:
        raise bind_error(f"aggregates cannot be nested ({name}() inside another aggregate)", e)
    if not ctx.allow_agg:
        where = {"filter": "'filter:' (use 'final_filter:')", "dims": "'dimensions:'"}.get(
            ctx.where, f"'{ctx.where}:'"
        )
        raise bind_error(f"aggregate {name}() is not allowed in {where}", e)
    inner = ctx.inside_aggregate()
    if name == "count" and (not e.args or (len(e.args) == 1 and isinstance(e.args[0], A.Star))):
        return Bd.BAgg(S.INTEGER, name="count", agg=True)
    if (
        name == "count"
        and len(e.args) == 1
        and isinstance(e.args[0], A.Literal)
        and e.args[0].value is not None
        and not e.distinct
    ):
        return Bd.BAgg(S.INTEGER, name="count", agg=True)
    if name == "percentile":
        if len(e.args) != 2:
            raise bind_error("percentile() takes 2 arguments: a value and p in [0, 1]", e)
        pv = e.args[1]
        if not (
            isinstance(pv, A.Literal) and isinstance(pv.value, int | float) and not isinstance(pv.value, bool)
        ):
            raise type_error("percentile p must be a number literal between 0 and 1", pv)
        p = float(pv.value)
        if not 0.0 <= p <= 1.0:
            raise type_error(f"percentile p must be between 0 and 1, got {pv.value}", pv)
        x = b.expr(e.args[0], inner)
        check_numeric(x, e.args[0], name)
        return Bd.BAgg(S.NUMBER, name="percentile", arg=x, mode="number", p=p, agg=True)
    if len(e.args) != 1:
        raise bind_error(f"{name}() takes 1 argument, got {len(e.args)}", e)
    if isinstance(e.args[0], A.Star):
        raise bind_error("'*' is only allowed in count(*)", e)
    x = b.expr(e.args[0], inner)
    if x.type == S.INTERVAL:
        raise type_error("cannot aggregate an interval", e.args[0])
    if name == "count":
        return Bd.BAgg(
            S.INTEGER, name="count_distinct" if e.distinct else "count", arg=x, mode="value", agg=True
        )
    if name == "count_distinct":
        return Bd.BAgg(S.INTEGER, name="count_distinct", arg=x, mode="value", agg=True)
    if name in ("sum", "avg"):
        check_numeric(x, e.args[0], name)
        typ = S.INTEGER if name == "sum" and x.type == S.INTEGER else S.NUMBER
        return Bd.BAgg(typ, name=name, arg=x, mode="number", agg=True)
    if name in ("min", "max"):
        if x.type in (S.ARRAY, S.MAP):
            raise type_error(
                f"{name}() needs a value, not a{'n' if x.type[0] in 'aeiou' else ''} {x.type}", e.args[0]
            )
        if x.type == S.JSON:
            return Bd.BAgg(S.NUMBER, name=name, arg=x, mode="number", agg=True)
        return Bd.BAgg(x.type, name=name, arg=x, agg=True)
    # any_value
    if x.type == S.JSON:
        return Bd.BJson(
            S.JSON, base=Bd.BAgg(S.JSON, name="any_value", arg=x, mode="value", agg=True), agg=True
        )
    return Bd.BAgg(x.type, name="any_value", arg=x, agg=True)


def bind_span_function(b: ExprBinder, e: A.Call, ctx: BindContext) -> Bd.B:
    """ANY_SPAN(...) / FILTER_SPANS(...) (trace selection in filters)."""
    name = e.name
    if ctx.where == "filter_spans":
        raise bind_error(f"{name.upper()}() cannot be used inside FILTER_SPANS()", e)
    if not ctx.allow_span_filters:
        raise bind_error(f"{name.upper()}() is only allowed in 'filter:'", e)
    if len(e.args) != 1:
        raise bind_error(f"{name.upper()}() takes 1 argument", e)
    if ctx.summary:
        raise bind_error(f"{name.upper()}() is only allowed in 'filter:'", e)
    if name == "any_span":
        if ctx.span_depth >= 2:
            raise bind_error("ANY_SPAN() nesting deeper than two levels is not supported", e)
        inner = ctx.inside_any_span()
        pred = as_condition(b.expr(e.args[0], inner), e.args[0])
        return Bd.BAnySpan(S.BOOL, pred=pred)
    if ctx.span_depth:
        raise bind_error("FILTER_SPANS() cannot be used inside ANY_SPAN()", e)
    inner = ctx.inside_filter_spans()
    pred = as_condition(b.expr(e.args[0], inner), e.args[0])
    return Bd.BFilterSpans(S.BOOL, pred=pred)


# -------------------------------------------------------------------------------------- bind hooks


@_hook
def bind_date_trunc(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    args = e.args
    unit = args[0]
    if not (
        isinstance(unit, A.Literal) and isinstance(unit.value, str) and unit.value.lower() in F.DATE_UNITS
    ):
        raise type_error(
            "date_trunc unit must be one of 'second', 'minute', 'hour', 'day', 'week', 'month', 'year'",
            unit,
        )
    ts = check_datetime(b.expr(args[1], ctx), args[1], spec.name)
    return Bd.BFunc(
        S.DATETIME, name="trunc", args=(ts,), modes=("datetime",), opt=unit.value.lower(), agg=ts.agg
    )


@_hook
def bind_to_interval(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    return to_interval(e.args[0])


@_hook
def bind_contains(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    args = e.args
    hay, needle = b.expr(args[0], ctx), b.expr(args[1], ctx)
    return includes(
        hay,
        needle,
        A.Binary(op="includes", left=args[0], right=args[1], pos=e.pos),
        hay.agg or needle.agg,
    )


@_hook
def bind_json_extract(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    args = e.args
    src, key_b = b.expr(args[0], ctx), b.expr(args[1], ctx)
    agg = src.agg or key_b.agg
    key = args[1]
    if not (isinstance(key, A.Literal) and isinstance(key.value, str)):
        raise type_error("json_extract key must be a string literal", key)
    if src.type not in (S.JSON, S.STRING, S.NULL):
        raise type_error(f"json_extract needs JSON text, not a {src.type}", args[0])
    text = Bd.BFunc(S.STRING, name="as_string", args=(src,), modes=("string",), agg=agg)
    return Bd.BJson(S.JSON, base=text, path=(key.value,), agg=agg)


@_hook
def bind_coalesce(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    name, args = spec.name, e.args
    bargs = [b.expr(a, ctx) for a in args]
    agg = any(x.agg for x in bargs)
    typ, mode = unify(bargs, list(args))
    if name != "coalesce" and typ not in (S.NUMBER, S.INTEGER, S.DATETIME, S.STRING, S.XACT, S.JSON):
        raise type_error(f"{name}() needs comparable values", e)
    if typ == S.JSON and name != "coalesce":
        typ, mode = S.NUMBER, "number"
    f = Bd.BFunc(typ, name=name, args=tuple(bargs), modes=tuple(mode for _ in bargs), agg=agg)
    if typ == S.JSON:
        return Bd.BJson(S.JSON, base=f, agg=agg)
    return f


@_hook
def bind_nullif(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    args = e.args
    bargs = [b.expr(a, ctx) for a in args]
    agg = any(x.agg for x in bargs)
    typ, mode = unify(bargs, list(args))
    if typ == S.JSON:
        f = Bd.BFunc(S.JSON, name="nullif", args=tuple(bargs), modes=("value", "value"), agg=agg)
        return Bd.BJson(S.JSON, base=f, agg=agg)
    return Bd.BFunc(typ, name="nullif", args=tuple(bargs), modes=(mode, mode), agg=agg)


@_hook
def bind_round(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    args = e.args
    bargs = [b.expr(a, ctx) for a in args]
    agg = any(x.agg for x in bargs)
    check_numeric(bargs[0], args[0], spec.name)
    prec = 0
    if len(args) == 2:
        pa = args[1]
        if not (isinstance(pa, A.Literal) and isinstance(pa.value, int) and not isinstance(pa.value, bool)):
            raise type_error("round() precision must be an integer literal", pa)
        if not -20 <= pa.value <= 20:
            raise type_error("round() precision must be between -20 and 20", pa)
        prec = pa.value
    return Bd.BFunc(S.NUMBER, name="round", args=(bargs[0],), modes=("number",), opt=prec, agg=agg)


@_hook
def bind_isnull(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    x = b.expr(e.args[0], ctx)
    return Bd.BIsNull(S.BOOL, x=x, negate=spec.name == "isnotnull", agg=x.agg)


@_hook
def bind_search(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    q = e.args[0]
    if not (isinstance(q, A.Literal) and isinstance(q.value, str)):
        raise type_error("search() needs a string literal", q)
    toks = match_tokens(q.value)
    cols = [c for c in ("input", "output", "expected", "metadata", "span_attributes") if c in b.fields]
    parts = tuple(
        Bd.BMatch(S.BOOL, x=Bd.BJson(S.JSON, base=b.fields[c].sql), tokens=toks, query=q.value) for c in cols
    )
    return Bd.BBool(S.BOOL, op="or", args=parts)


@_hook
def bind_estimated_cost(b: ExprBinder, spec: F.FunctionSpec, e: A.Call, ctx: BindContext) -> Bd.B:
    if "metrics" not in b.fields:
        raise bind_error(f"estimated_cost() is not available on {b.object_type} rows", e)
    if ctx.summary:
        b.summary_used.add("m_estimated_cost")
        return Bd.BCol(S.NUMBER, sql="_s_m_estimated_cost")
    return Bd.BMapGet(S.NUMBER, col="metrics_map", key="estimated_cost")


_INTERVAL_TEXT = re.compile(r"\s*(?:interval\s+)?([+-]?[0-9]{1,12})\s*([a-z]+?)s?\s*", re.I)


def to_interval(a: A.Expr) -> Bd.BInterval:
    """`to_interval('2 hours')` (or of an interval): an interval known when the query compiles."""
    if isinstance(a, A.Interval):
        return Bd.BInterval(S.INTERVAL, value=a.value, unit=a.unit)
    if not (isinstance(a, A.Literal) and isinstance(a.value, str)):
        raise type_error("to_interval() needs a string literal such as '1 day' or '3 hours'", a)
    m = _INTERVAL_TEXT.fullmatch(a.value)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in INTERVAL_UNITS:
        raise type_error(
            f"to_interval() cannot read {a.value[:40]!r}: write '<integer> <unit>' with a unit of "
            + ", ".join(INTERVAL_UNITS),
            a,
        )
    return Bd.BInterval(S.INTERVAL, value=int(m.group(1)), unit=unit)


# the bind hooks of the catalogue's scalar functions, by function name (a catalogue entry naming
# a hook that does not exist fails here, at import)
_SCALAR_HOOKS: dict[str, Hook] = {
    f.name: _BY_HOOK_NAME[f.hook] for f in F.FUNCTIONS if f.kind == "scalar" and f.hook is not None
}
