"""Bound expressions → ClickHouse SQL text. User values only ever become query parameters
(`{p0:String}`, bound by clickhouse-connect); the SQL text is built from trusted fragments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from loopline.btql import bound as Bd
from loopline.btql import functions as F
from loopline.btql import schema as S
from loopline.btql.plan import ScopedSource

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INTERVAL_FN = {
    "year": "toIntervalYear",
    "month": "toIntervalMonth",
    "week": "toIntervalWeek",
    "day": "toIntervalDay",
    "hour": "toIntervalHour",
    "minute": "toIntervalMinute",
    "second": "toIntervalSecond",
    "millisecond": "toIntervalMillisecond",
    "microsecond": "toIntervalMicrosecond",
}
_TRUNC = {
    "second": "toStartOfSecond({})",
    "minute": "toStartOfMinute({})",
    "hour": "toStartOfHour({})",
    "day": "toStartOfDay({})",
    "week": "toMonday({})",
    "month": "toStartOfMonth({})",
    "year": "toStartOfYear({})",
}
_CMP_SQL = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "nseq": "<=>"}
_ARITH_SQL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_JSON_TYPES = {
    "string": "Nullable(String)",
    "number": "Nullable(Float64)",
    "bool": "Nullable(Bool)",
    "xact": "Nullable(UInt64)",
    "integer": "Nullable(Int64)",
}
_ARRAY_TYPES = {
    "string": "Array(Nullable(String))",
    "number": "Array(Nullable(Float64))",
    "bool": "Array(Nullable(Bool))",
}
_DT = "parseDateTime64BestEffortOrNull({}, 6, 'UTC')"
INT64_MAX = 2**63 - 1


def quote_ident(name: str) -> str:
    """Backquote an identifier that passed the plain-name allowlist."""
    if not _PLAIN.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f"`{name}`"


class Gen:
    """Renders bound expressions; collects parameters."""

    def __init__(
        self,
        *,
        tz_offset: int = 0,
        text_casefold: dict[str, bool] | None = None,
        spans: ScopedSource | None = None,
        out_exprs: list[Bd.B] | None = None,
    ) -> None:
        self.params: dict[str, Any] = {}
        self._memo: dict[tuple[str, Any, Any], str] = {}
        self._n = 0
        self.tz_offset = tz_offset
        self.text_casefold = text_casefold if text_casefold is not None else S.TEXT_INDEXED
        # fixed for the whole compilation (the generator is never reconfigured between calls):
        # the scope's rows, which ANY_SPAN reads (None: ANY_SPAN cannot be rendered) ...
        self.spans = spans
        # ... and, in rows queries, the output expressions that output references stand for
        self.out_exprs = out_exprs
        # aggregates answered from partial aggregates (a pre-aggregated read's merge stage,
        # `rollup.py`): the SQL of each aggregate node, by identity
        self.agg_sql: dict[int, str] | None = None

    # ---------------------------------------------------------------------- parameters
    def param(self, value: Any, chtype: str) -> str:
        tv = type(value)
        # strings and integers are their own keys; other values (floats: -0.0, nan) by repr
        memo_key = (chtype, tv, value) if tv is str or tv is int else (chtype, tv.__name__, repr(value))
        ref = self._memo.get(memo_key)
        if ref is not None:
            return ref
        name = f"p{self._n}"
        self._n += 1
        self.params[name] = value
        ref = "{" + name + ":" + chtype + "}"
        self._memo[memo_key] = ref
        return ref

    def lit(self, value: Any, mode: str | None = None) -> str:
        if value is None:
            return "NULL"
        if mode == "datetime":
            return _DT.format(self.param(str(value), "String"))
        if mode == "xact":
            v = int(value)
            return self.param(v, "UInt64") if v >= 0 else self.param(v, "Int64")
        if mode == "string":
            if isinstance(value, bool):
                return self.param("true" if value else "false", "String")
            return self.param(str(value), "String")
        if mode == "raw":
            return self.param(json.dumps(value, ensure_ascii=False, separators=(",", ":")), "String")
        if mode == "bool":
            return self.param(bool(value), "Bool")
        if isinstance(value, bool):
            return self.param(value, "Bool") if mode != "number" else self.param(float(value), "Float64")
        if isinstance(value, int):
            if mode == "number" and not -(2**63) <= value <= INT64_MAX:
                return self.param(float(value), "Float64")
            return self.param(value, "Int64" if value <= INT64_MAX else "UInt64")
        if isinstance(value, float):
            return self.param(value, "Float64")
        if mode == "number":
            return f"toFloat64OrNull({self.param(str(value), 'String')})"
        return self.param(str(value), "String")

    # ---------------------------------------------------------------------- JSON
    def _keys(self, path: tuple[str | int, ...]) -> str:
        out = []
        for k in path:
            if isinstance(k, int):
                out.append(self.param(k + 1 if k >= 0 else k, "Int64"))
            else:
                out.append(self.param(k, "String"))
        return "".join(", " + x for x in out)

    def _json_base(self, b: Bd.BJson) -> str:
        return b.base if isinstance(b.base, str) else self.r(b.base)

    def json(self, b: Bd.BJson, mode: str | None) -> str:
        base = self._json_base(b)
        if (
            b.fast
            and b.path
            and mode in ("string", "number")
            and all(isinstance(k, str) and _PLAIN.match(k) for k in b.path)
        ):
            sub = b.fast + "." + ".".join(quote_ident(str(k)) for k in b.path)
            if mode == "string":
                return f"CAST({sub}, 'Nullable(String)')"
            return f"accurateCastOrNull({sub}, 'Float64')"
        keys = self._keys(b.path)
        if mode in (None, "raw", "value"):
            raw = f"JSONExtractRaw({base}{keys})" if b.path else base
            if mode != "value":
                return raw
            value = f"nullIf(nullIf({raw}, ''), 'null')"
            if b.fast and b.path and all(isinstance(k, str) and _PLAIN.match(k) for k in b.path):
                # Only the typed column is read (a reference to the text column reads all of it,
                # even in a branch never taken): a leaf is `json.a.b`, an object is the sub-object
                # `json.^a.b`. The JSON type keeps no empty objects, so `{}` reads as null here.
                dotted = ".".join(quote_ident(str(k)) for k in b.path)
                sub = f"{b.fast}.{dotted}"
                return f"if(isNull({sub}), nullIf(toJSONString({b.fast}.^{dotted}), '{{}}'), toJSONString({sub}))"
            return value
        if mode == "datetime":
            return _DT.format(f"JSONExtract({base}{keys}, 'Nullable(String)')")
        if mode in _JSON_TYPES:
            return f"JSONExtract({base}{keys}, '{_JSON_TYPES[mode]}')"
        if mode.startswith("array_"):
            return f"JSONExtract({base}{keys}, '{_ARRAY_TYPES[mode[6:]]}')"
        raise ValueError(f"unknown JSON mode {mode}")

    def json_isnull(self, b: Bd.BJson, negate: bool) -> str:
        base = self._json_base(b)
        raw = f"JSONExtractRaw({base}{self._keys(b.path)})" if b.path else base
        if not isinstance(b.base, str) and not b.path:
            raw = f"ifNull({raw}, '')"
        return f"({raw} {'NOT IN' if negate else 'IN'} ('', 'null'))"

    # ---------------------------------------------------------------------- rendering
    def r(self, b: Bd.B, mode: str | None = None) -> str:
        fn = _DISPATCH.get(type(b))
        if fn is None:
            raise TypeError(f"cannot render {type(b).__name__}")
        sql = fn(self, b, mode)
        if mode is not None:
            c = _COERCIONS.get((b.type, mode))
            if c is not None and type(b) not in _SELF_COERCING:
                sql = c[0] + sql + c[1]
        return sql

    def cond(self, b: Bd.B) -> str:
        return self.r(b, "bool")

    def col(self, b: Bd.BCol, mode: str | None) -> str:
        return b.sql

    def outref(self, b: Bd.BOutRef, mode: str | None) -> str:
        if self.out_exprs is not None:
            return self.r(self.out_exprs[b.index], mode)
        if b.type == S.JSON and mode not in (None, "raw", "value"):
            # the column holds JSON text: read it in the wanted type
            return self.json(Bd.BJson(S.JSON, base=b.alias), mode)
        if mode is not None and b.type not in (S.JSON, S.NULL):
            return coerce(b.alias, b.type, mode)
        return b.alias

    def mapget(self, b: Bd.BMapGet, mode: str | None) -> str:
        k = self.param(b.key, "String")
        return f"if(mapContains({b.col}, {k}), {b.col}[{k}], NULL)"

    def arrayidx(self, b: Bd.BArrayIdx, mode: str | None) -> str:
        arr = self.r(b.arr)
        i = b.index
        if i >= 0:
            n = self.param(i, "Int64")
            return f"if(length({arr}) > {n}, arrayElement({arr}, {n} + 1), NULL)"
        n = self.param(-i, "Int64")
        return f"if(length({arr}) >= {n}, arrayElement({arr}, -{n}), NULL)"

    def blit(self, b: Bd.BLit, mode: str | None) -> str:
        if b.value is None:
            return "NULL"
        return self.lit(b.value, mode)

    def barr(self, b: Bd.BArr, mode: str | None) -> str:
        return self._array_param(b, mode or "string")

    def _array_param(self, b: Bd.BArr, mode: str) -> str:
        if mode == "number":
            return self.param([float(v) for v in b.values], "Array(Float64)")
        if mode == "xact":
            return self.param([int(v) for v in b.values], "Array(UInt64)")
        if mode == "bool":
            return self.param([bool(v) for v in b.values], "Array(Bool)")
        if mode == "datetime":
            return (
                f"arrayMap(s -> {_DT.format('s')}, {self.param([str(v) for v in b.values], 'Array(String)')})"
            )
        return self.param([str(v) for v in b.values], "Array(String)")

    def interval(self, b: Bd.BInterval, mode: str | None) -> str:
        return f"{_INTERVAL_FN[b.unit]}({self.param(b.value, 'Int64')})"

    def _tz(self, sql: str, fmt: str) -> str:
        if not self.tz_offset:
            return f"toDateTime64({fmt.format(sql)}, 6, 'UTC')"
        off = self.param(self.tz_offset, "Int64")
        shifted = f"({sql} - toIntervalMinute({off}))"
        return f"(toDateTime64({fmt.format(shifted)}, 6, 'UTC') + toIntervalMinute({off}))"

    def narrow_group_key(self, b: Bd.B) -> str | None:
        """For a UTC time bucket (`hour(created)`, ...), the bucket as `toStartOf*` returns it.

        That is a DateTime (or Date): grouping by it and widening to DateTime64 per group is
        cheaper than widening every row. None for anything else (with a time-zone offset too).
        """
        if isinstance(b, Bd.BFunc) and b.name == "trunc" and not self.tz_offset:
            return _TRUNC[b.opt].format(self.r(b.args[0], "datetime"))
        return None

    def func(self, b: Bd.BFunc, mode: str | None) -> str:
        n = b.name
        a = b.args
        m = b.modes
        tpl = F.TEMPLATES.get(n)
        if tpl is not None:  # a plain function: the catalogue's template
            parts = [self.r(x, mm) for x, mm in zip(a, m, strict=True)]
            return tpl.format(*parts, args=", ".join(parts))
        if n == "trunc":
            return self._tz(self.r(a[0], "datetime"), _TRUNC[b.opt])
        if n == "today":
            return self._tz("now64(6, 'UTC')", _TRUNC["day"])
        if n == "len":
            arg = a[0]
            if arg.type == S.ARRAY:
                return f"toInt64(length({self.r(arg)}))"
            if arg.type == S.MAP:
                return f"toInt64(length(mapKeys({self.r(arg)})))"
            if arg.type == S.STRING:
                return f"toInt64(lengthUTF8({self.r(arg)}))"
            assert isinstance(arg, Bd.BJson)
            base = self._json_base(arg)
            keys = self._keys(arg.path)
            raw = f"JSONExtractRaw({base}{keys})" if arg.path else base
            return (
                f"if({raw} IN ('', 'null'), NULL, if(JSONType({base}{keys}) = 'String', "
                f"toInt64(lengthUTF8(JSONExtractString({base}{keys}))), toInt64(JSONLength({base}{keys}))))"
            )
        if n == "as_string":
            return self.r(a[0], "string")
        if n in ("coalesce", "least", "greatest"):
            return f"{n}(" + ", ".join(self._branch(x, mm, b.type) for x, mm in zip(a, m, strict=True)) + ")"
        if n == "nullif":
            return f"nullIf({self.r(a[0], m[0])}, {self.r(a[1], m[1])})"
        if n == "round":
            return f"round({self.r(a[0], 'number')}, {self.param(int(b.opt), 'Int64')})"
        if n == "to_bool":
            return self.r(a[0], "bool")
        x: Bd.B | None = a[0] if a else None
        if n == "to_string":
            assert x is not None
            if x.type == S.JSON:
                return self.r(x, "string")
            if x.type == S.STRING:
                return self.r(x)
            if x.type == S.DATETIME:
                return f"formatDateTime({self.r(x)}, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC')"
            if x.type == S.ARRAY:
                return f"toJSONString({self.r(x)})"
            return f"toString({self.r(x)})"
        if n == "to_number":
            assert x is not None
            if x.type == S.JSON:
                return self.r(x, "number")
            if x.type == S.STRING:
                return f"toFloat64OrNull({self.r(x)})"
            if x.type == S.DATETIME:
                return f"(toUnixTimestamp64Micro({self.r(x)}) / 1000000)"
            if x.type == S.ARRAY:
                return "NULL"
            return f"toFloat64({self.r(x)})"
        if n == "to_integer":
            assert x is not None
            if x.type == S.JSON:
                return f"accurateCastOrNull(trunc({self.r(x, 'number')}), 'Int64')"
            if x.type == S.STRING:
                return f"accurateCastOrNull(trunc(toFloat64OrNull({self.r(x)})), 'Int64')"
            if x.type == S.DATETIME:
                return f"intDiv(toUnixTimestamp64Micro({self.r(x)}), 1000000)"
            if x.type == S.ARRAY:
                return "NULL"
            return f"accurateCastOrNull(trunc(toFloat64({self.r(x)})), 'Int64')"
        if n == "to_boolean":
            assert x is not None
            if x.type == S.JSON:
                return self.r(x, "bool")
            if x.type == S.STRING:
                s = f"lower({self.r(x)})"
                return f"multiIf({s} IN ('true', '1', 'yes', 't'), true, {s} IN ('false', '0', 'no', 'f'), false, NULL)"
            if x.type == S.BOOL:
                return self.r(x)
            if x.type in (S.NUMBER, S.INTEGER, S.XACT):
                return f"({self.r(x)} != 0)"
            return "NULL"
        if n in ("to_date", "to_datetime"):
            assert x is not None
            if x.type in (S.NUMBER, S.INTEGER):
                ts = f"fromUnixTimestamp64Micro(toInt64({self.r(x)} * 1000000), 'UTC')"
            else:
                ts = self.r(x, "datetime")
            return self._tz(ts, _TRUNC["day"]) if n == "to_date" else ts
        raise ValueError(f"unknown function {n}")

    def agg(self, b: Bd.BAgg, mode: str | None) -> str:
        if self.agg_sql is not None:
            return self.agg_sql[id(b)]
        n = b.name
        if n == "count" and b.arg is None:
            return "toInt64(count())"
        assert b.arg is not None
        tpl = F.TEMPLATES.get(n)
        if tpl is None:
            raise ValueError(f"unknown aggregate {n}")
        x = self.r(b.arg, b.mode)
        if n == "percentile":
            return tpl.format(x, p=self.param(float(b.p or 0.0), "Float64"))
        return tpl.format(x)

    def cmp(self, b: Bd.BCmp, mode: str | None) -> str:
        m = b.mode
        lhs, rhs = self.r(b.left, m), self.r(b.right, m)
        if b.op == "nsne":
            return f"(NOT ({lhs} <=> {rhs}))"
        return f"({lhs} {_CMP_SQL[b.op]} {rhs})"

    def boolop(self, b: Bd.BBool, mode: str | None) -> str:
        if not b.args:
            return "true" if b.op == "and" else "false"
        sep = " AND " if b.op == "and" else " OR "
        return "(" + sep.join(self.cond(a) for a in b.args) + ")"

    def bnot(self, b: Bd.BNot, mode: str | None) -> str:
        return f"(NOT {self.cond(b.x)})"

    def bneg(self, b: Bd.BNeg, mode: str | None) -> str:
        return f"(-{self.r(b.x, 'number')})"

    def arith(self, b: Bd.BArith, mode: str | None) -> str:
        if b.type == S.DATETIME:
            dt = self.r(b.left, "datetime")
            iv = self.r(b.right)
            return f"({dt} {'+' if b.op == 'add' else '-'} {iv})"
        if b.op == "dtdiff":
            left, right = self.r(b.left, "datetime"), self.r(b.right, "datetime")
            return f"((toUnixTimestamp64Micro({left}) - toUnixTimestamp64Micro({right})) / 1000000)"
        lhs, rhs = self.r(b.left, b.lmode), self.r(b.right, b.rmode)
        if b.op == "mod":
            return f"if(({rhs}) = 0, NULL, ({lhs}) % ({rhs}))"
        return f"({lhs} {_ARITH_SQL[b.op]} {rhs})"

    def isnull(self, b: Bd.BIsNull, mode: str | None) -> str:
        x = b.x
        if isinstance(x, Bd.BJson):
            return self.json_isnull(x, b.negate)
        if x.type == S.ARRAY:
            return f"{'notEmpty' if b.negate else 'empty'}({self.r(x)})"
        if x.type == S.MAP:
            return f"{'notEmpty' if b.negate else 'empty'}(mapKeys({self.r(x)}))"
        return f"{'isNotNull' if b.negate else 'isNull'}({self.r(x)})"

    def bif(self, b: Bd.BIf, mode: str | None) -> str:
        bm = b.mode
        if b.type == S.JSON:
            bm = mode if mode in ("string", "number", "bool", "datetime", "xact") else "value"
        parts: list[str] = []
        for c, t in b.conds:
            parts += [self.cond(c), self._branch(t, bm, b.type)]
        parts.append(self._branch(b.else_, bm, b.type) if b.else_ is not None else "NULL")
        return "multiIf(" + ", ".join(parts) + ")"

    def _branch(self, x: Bd.B, mode: str | None, result_type: str) -> str:
        """One branch of a value chosen among several (multiIf, coalesce, least, greatest). Where
        numbers and integers mix, the integers are read as Float64: ClickHouse would otherwise
        make the result a Variant(Float64, Int64), which aggregates and comparisons refuse."""
        sql = self.r(x, mode)
        if result_type == S.NUMBER and x.type == S.INTEGER:
            return f"toFloat64({sql})"
        return sql

    def bin_(self, b: Bd.BIn, mode: str | None) -> str:
        if not b.values.values:
            return "false"
        x = self.r(b.x, b.mode)
        if b.mode == "datetime":
            return f"has({self._array_param(b.values, 'datetime')}, {x})"
        return f"({x} IN {self._array_param(b.values, b.mode)})"

    def like(self, b: Bd.BLike, mode: str | None) -> str:
        fn = "ilike" if b.ci else "like"
        pat = b.pattern
        if isinstance(pat, Bd.BLit) and isinstance(pat.value, str):
            v = pat.value
            # a lone trailing backslash is an escape of nothing: ClickHouse rejects it; match it literally
            if (len(v) - len(v.rstrip("\\"))) % 2 == 1:
                v += "\\"
            p = self.param(v, "String")
        else:
            q = self.r(pat, "string")
            p = f"if((length({q}) - length(trim(TRAILING '\\\\' FROM {q}))) % 2 = 1, concat({q}, '\\\\'), {q})"
        return f"{fn}({self.r(b.x, 'string')}, {p})"

    def match(self, b: Bd.BMatch, mode: str | None) -> str:
        if not b.tokens:
            return "false"
        toks = self.param(list(b.tokens), "Array(String)")
        x = b.x
        if isinstance(x, Bd.BJson) and isinstance(x.base, str) and not x.path:
            if self.text_casefold.get(x.base):
                return f"hasAllTokens({x.base}, {toks})"
            return f"hasAllTokens(lower({x.base}), {toks})"
        if x.type == S.ARRAY:
            text = f"arrayStringConcat({self.r(x)}, ' ')"
        elif isinstance(x, Bd.BJson):
            text = f"ifNull({self.json(x, 'raw')}, '')"
        else:
            text = f"ifNull({self.r(x, 'string')}, '')"
        return f"hasAllTokens(lower({text}), {toks})"

    def includes(self, b: Bd.BIncludes, mode: str | None) -> str:
        if b.mode == "mapkey":
            return f"mapContains({self.r(b.hay)}, {self.r(b.needle, 'string')})"
        needle = self.r(b.needle, b.mode)
        if b.hay.type == S.ARRAY:
            return f"has({self.r(b.hay)}, {needle})"
        return f"has({self.r(b.hay, 'array_' + b.mode)}, {needle})"

    def any_span(self, b: Bd.BAnySpan, mode: str | None) -> str:
        if self.spans is None:
            raise ValueError("ANY_SPAN outside a span context")
        return self.spans.member(
            "object_id, root_span_id", ("object_id", "root_span_id"), (self.cond(b.pred),)
        )

    def filter_spans(self, b: Bd.BFilterSpans, mode: str | None) -> str:
        return self.cond(b.pred)

    def jsonnode(self, b: Bd.BJson, mode: str | None) -> str:
        return self.json(b, mode)


def coerce(sql: str, t: str, mode: str) -> str:
    """Convert a typed SQL value to what a context wants (the binder allowed the combination)."""
    if mode == "string":
        if t in (S.XACT, S.NUMBER, S.INTEGER, S.BOOL):
            return f"toString({sql})"
        if t == S.DATETIME:
            return f"formatDateTime({sql}, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC')"
        if t in (S.ARRAY, S.MAP):
            return f"toJSONString({sql})"
    elif mode == "number":
        if t in (S.BOOL, S.XACT):
            return f"toFloat64({sql})"
        if t == S.STRING:
            return f"toFloat64OrNull({sql})"
        if t == S.DATETIME:
            return f"(toUnixTimestamp64Micro({sql}) / 1000000)"
    elif mode == "xact":
        if t == S.STRING:
            return f"toUInt64OrNull({sql})"
        if t == S.NUMBER:
            return f"accurateCastOrNull({sql}, 'UInt64')"
    elif mode == "datetime":
        if t == S.STRING:
            return _DT.format(sql)
    elif mode == "bool":
        if t in (S.NUMBER, S.INTEGER, S.XACT):
            return f"({sql} != 0)"
    elif mode == "raw":
        return f"toJSONString({sql})"
    return sql


_DISPATCH: dict[type, Callable[[Gen, Any, str | None], str]] = {
    Bd.BCol: Gen.col,
    Bd.BJson: Gen.jsonnode,
    Bd.BMapGet: Gen.mapget,
    Bd.BArrayIdx: Gen.arrayidx,
    Bd.BLit: Gen.blit,
    Bd.BArr: Gen.barr,
    Bd.BInterval: Gen.interval,
    Bd.BFunc: Gen.func,
    Bd.BAgg: Gen.agg,
    Bd.BCmp: Gen.cmp,
    Bd.BBool: Gen.boolop,
    Bd.BNot: Gen.bnot,
    Bd.BNeg: Gen.bneg,
    Bd.BArith: Gen.arith,
    Bd.BIsNull: Gen.isnull,
    Bd.BIf: Gen.bif,
    Bd.BIn: Gen.bin_,
    Bd.BLike: Gen.like,
    Bd.BMatch: Gen.match,
    Bd.BIncludes: Gen.includes,
    Bd.BAnySpan: Gen.any_span,
    Bd.BFilterSpans: Gen.filter_spans,
    Bd.BOutRef: Gen.outref,
}

# nodes that read the wanted mode themselves
_SELF_COERCING: frozenset[type] = frozenset({Bd.BLit, Bd.BArr, Bd.BJson, Bd.BIf, Bd.BOutRef, Bd.BInterval})


def _coercions() -> dict[tuple[str, str], tuple[str, str]]:
    """`coerce` as a table: (type, mode) -> the SQL before and after the value (JSON and null
    values are never coerced; combinations `coerce` leaves alone are absent)."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for t in (S.STRING, S.NUMBER, S.INTEGER, S.BOOL, S.DATETIME, S.XACT, S.ARRAY, S.MAP, S.INTERVAL):
        for mode in ("string", "number", "xact", "datetime", "bool", "raw", "value"):
            sql = coerce("\x00", t, mode)
            if sql != "\x00":
                pre, suf = sql.split("\x00")
                out[(t, mode)] = (pre, suf)
    return out


_COERCIONS = _coercions()
