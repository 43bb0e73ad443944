"""The JSON form of a query (spec §7, the SDK's `parsedQuerySchema`) ↔ the AST.

`from_json` accepts exactly what the Braintrust SDKs send (`{"select": [{"op": "star"}],
"from": {"op": "function", "name": {"op": "ident", "name": ["dataset"]}, "args": [...]}, ...}`),
including `{"btql": "<expression text>"}` snippets. `to_json` emits the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from loopline.btql import ast as A
from loopline.btql.errors import ParseError
from loopline.btql.parser import MAX_DEPTH, MAX_PATH_LENGTH, MAX_QUERY_LENGTH, parse_expr

_CMP = {"eq", "ne", "lt", "le", "gt", "ge", "ilike", "like", "match", "in"}
_ARITH = {"add", "sub", "mul", "div", "mod"}
_UNITS = {"year", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond"}


def _loc(node: Mapping[str, Any]) -> A.Pos | None:
    loc = node.get("loc")
    if isinstance(loc, Mapping):
        start = loc.get("start")
        if isinstance(start, Mapping):
            line, col = start.get("line"), start.get("col", start.get("column"))
            if isinstance(line, int) and isinstance(col, int):
                return A.Pos(line, col)
    return None


def _err(msg: str, node: Any = None) -> ParseError:
    p = _loc(node) if isinstance(node, Mapping) else None
    return ParseError(msg, p.line if p else None, p.column if p else None)


def _literal(value: Any, node: Mapping[str, Any], depth: int) -> A.Expr:
    if depth > MAX_DEPTH:
        raise _err(f"expression nesting is deeper than {MAX_DEPTH} levels", node)
    if value is None or isinstance(value, bool | str):
        return A.Literal(value=value, pos=_loc(node))
    if isinstance(value, int):
        return A.Literal(value=value, pos=_loc(node))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _err("number out of range", node)
        return A.Literal(value=value, pos=_loc(node))
    if isinstance(value, list):
        return A.Array(items=tuple(_literal(v, node, depth + 1) for v in value), pos=_loc(node))
    raise _err("object literals are not supported", node)


def expr_from_json(node: Any, depth: int = 0) -> A.Expr:
    if depth > MAX_DEPTH:
        raise _err(f"expression nesting is deeper than {MAX_DEPTH} levels", node)
    if not isinstance(node, Mapping):
        raise _err(f"expected an expression object, got {type(node).__name__}")
    d = depth + 1
    if "btql" in node and node.get("op", "btql") == "btql":
        text = node["btql"]
        if not isinstance(text, str):
            raise _err("'btql' snippet must be a string", node)
        return parse_expr(text)
    op = node.get("op")
    pos = _loc(node)
    if not isinstance(op, str):
        raise _err("expression 'op' must be a string", node)
    if op == "literal":
        return _literal(node.get("value"), node, d)
    if op == "interval":
        v, unit = node.get("value"), node.get("unit")
        if not isinstance(v, int) or isinstance(v, bool):
            raise _err("interval value must be an integer", node)
        if not isinstance(unit, str) or unit not in _UNITS:
            raise _err(f"invalid interval unit {unit!r}", node)
        return A.Interval(value=v, unit=unit, pos=pos)
    if op == "ident":
        name = node.get("name")
        if not isinstance(name, list) or not name:
            raise _err("ident.name must be a non-empty list", node)
        path: list[str | int] = []
        for seg in name:
            if isinstance(seg, bool) or not isinstance(seg, str | int):
                raise _err("ident.name items must be strings or integers", node)
            path.append(seg)
        if not isinstance(path[0], str):
            raise _err("a path must start with a field name", node)
        if len(path) > MAX_PATH_LENGTH:
            raise _err(f"a field path has more than {MAX_PATH_LENGTH} segments", node)
        return A.Ident(path=tuple(path), pos=pos)
    if op == "star":
        return A.Star(pos=pos)
    if op == "function":
        fname = _function_name(node)
        args = node.get("args") or []
        if not isinstance(args, list):
            raise _err("function.args must be a list", node)
        out = []
        for a in args:
            if isinstance(a, Mapping) and "expr" in a and "op" not in a:
                out.append(expr_from_json(a["expr"], d))
            else:
                out.append(expr_from_json(a, d))
        distinct = node.get("duplicate_treatment") == "Distinct"
        return A.Call(name=fname, args=tuple(out), distinct=distinct, pos=pos)
    if op in _CMP or op == "is":
        opname = "nseq" if op == "is" else op
        return A.Binary(
            op=opname,
            left=expr_from_json(node.get("left"), d),
            right=expr_from_json(node.get("right"), d),
            pos=pos,
        )
    if op == "includes":
        return A.Binary(
            op="includes",
            left=expr_from_json(node.get("haystack"), d),
            right=expr_from_json(node.get("needle"), d),
            pos=pos,
        )
    if op in ("and", "or"):
        children = node.get("children")
        if children is None:
            children = [c for c in (node.get("left"), node.get("right")) if c is not None]
        if not isinstance(children, list) or not children:
            raise _err(f"'{op}' needs children", node)
        items = tuple(expr_from_json(c, d) for c in children)
        return (
            items[0] if len(items) == 1 else A.BoolOp(op="and" if op == "and" else "or", args=items, pos=pos)
        )
    if op == "if":
        conds = node.get("conds")
        if not isinstance(conds, list) or not conds:
            raise _err("'if' needs conds", node)
        cs = []
        for c in conds:
            if not isinstance(c, Mapping):
                raise _err("'if' conds must be objects", node)
            cs.append((expr_from_json(c.get("cond"), d), expr_from_json(c.get("then"), d)))
        els = node.get("else")
        return A.If(conds=tuple(cs), else_=expr_from_json(els, d) if els is not None else None, pos=pos)
    if op in _ARITH:
        return A.Binary(
            op=op,
            left=expr_from_json(node.get("left"), d),
            right=expr_from_json(node.get("right"), d),
            pos=pos,
        )
    if op in ("neg", "not", "isnull", "isnotnull"):
        return A.Unary(op=op, expr=expr_from_json(node.get("expr"), d), pos=pos)
    if op == "singlespanfilter":
        return A.Call(name="any_span", args=(expr_from_json(node.get("expr"), d),), pos=pos)
    if op == "matchingspansfilter":
        return A.Call(name="filter_spans", args=(expr_from_json(node.get("expr"), d),), pos=pos)
    raise _err(f"unknown expression op {op!r}", node)


def _function_name(node: Mapping[str, Any]) -> str:
    name = node.get("name")
    if isinstance(name, Mapping):
        parts = name.get("name")
        if isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], str):
            return parts[0].lower()
    if isinstance(name, str):
        return name.lower()
    raise _err("function.name must be an ident", node)


def _alias_list(v: Any, what: str, allow_star: bool = False) -> tuple[Any, ...]:
    if not isinstance(v, list):
        raise _err(f"'{what}' must be a list")
    out: list[Any] = []
    for it in v:
        if not isinstance(it, Mapping):
            raise _err(f"'{what}' items must be objects")
        if it.get("op") == "star":
            if not allow_star:
                raise _err(f"'*' is not allowed in '{what}'", it)
            out.append(A.Star(pos=_loc(it)))
            continue
        if "expr" in it:
            alias = it.get("alias")
            if alias is not None and not isinstance(alias, str):
                raise _err("alias must be a string", it)
            e = expr_from_json(it["expr"])
            out.append(A.AliasExpr(expr=e, alias=alias, pos=e.pos))
        else:
            e = expr_from_json(it)
            alias = it.get("alias") if isinstance(it.get("alias"), str) else None
            out.append(A.AliasExpr(expr=e, alias=alias, pos=e.pos))
    return tuple(out)


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(f"'{what}' must be an integer")
    return v


# Bounds of a JSON query, whose body may be far larger than a text query: its elements (objects,
# lists and values), the characters of its strings, and those of its `{"btql": ...}` snippets
# (parsed as text, so held to the text limit). A text query within its 100,000 characters has
# fewer elements than this.
MAX_JSON_ELEMENTS = 100_000
MAX_JSON_TEXT = 10 * MAX_QUERY_LENGTH  # literal strings are cheap: parameters


def check_json_size(obj: Any) -> None:
    """Refuse a JSON query beyond the bounds above; stops counting at the first excess, so it
    costs at most the bounds, however large `obj` is."""
    elements = text = snippets = 0
    stack = [obj]
    while stack:
        v = stack.pop()
        elements += 1
        if elements > MAX_JSON_ELEMENTS:
            raise ParseError(f"the JSON query has more than {MAX_JSON_ELEMENTS} elements")
        if isinstance(v, Mapping):
            snippet = v.get("btql")
            if isinstance(snippet, str):
                snippets += len(snippet)
                if snippets > MAX_QUERY_LENGTH:
                    raise ParseError(
                        f"the JSON query's btql snippets are longer than {MAX_QUERY_LENGTH} characters"
                    )
            for k, x in v.items():
                text += len(k) if isinstance(k, str) else 0
                stack.append(x)
        elif isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, str):
            text += len(v)
        if text > MAX_JSON_TEXT:
            raise ParseError(f"the JSON query's strings are longer than {MAX_JSON_TEXT} characters")


def query_from_json(obj: Any) -> A.Query:
    """A JSON AST object → Query."""
    if not isinstance(obj, Mapping):
        raise ParseError("query must be a string or a JSON object")
    check_json_size(obj)
    known = {c if c != "from" else "from" for c in A.CLAUSES}
    unknown = [k for k in obj if k not in known]
    if unknown:
        raise ParseError(f"unknown query field {unknown[0]!r}")
    f: dict[str, Any] = {}
    for key in (
        "select",
        "dimensions",
        "measures",
        "pivot",
        "weighted_scores",
        "custom_columns",
        "final_dimensions",
        "final_measures",
    ):
        if obj.get(key) is not None:
            f[key] = _alias_list(obj[key], key, allow_star=key == "select")
    for key in ("filter", "span_filter", "trace_filter", "final_filter", "comparison_key"):
        if obj.get(key) is not None:
            f[key] = expr_from_json(obj[key])
    if obj.get("infer") is not None:
        if not isinstance(obj["infer"], list):
            raise _err("'infer' must be a list")
        f["infer"] = tuple(expr_from_json(x) for x in obj["infer"])
    if obj.get("unpivot") is not None:
        ups = []
        if not isinstance(obj["unpivot"], list):
            raise _err("'unpivot' must be a list")
        for it in obj["unpivot"]:
            if not isinstance(it, Mapping):
                raise _err("'unpivot' items must be objects")
            alias = it.get("alias")
            names = tuple(alias) if isinstance(alias, list) else (alias,)
            if not 1 <= len(names) <= 2 or not all(isinstance(n, str) for n in names):
                raise _err("unpivot alias must be a name or a [key, value] pair", it)
            e = expr_from_json(it.get("expr"))
            ups.append(A.Unpivot(expr=e, names=names, pos=e.pos))
        f["unpivot"] = tuple(ups)
    if obj.get("sort") is not None:
        if not isinstance(obj["sort"], list):
            raise _err("'sort' must be a list")
        items = []
        for it in obj["sort"]:
            if not isinstance(it, Mapping):
                raise _err("'sort' items must be objects")
            d = it.get("dir", "asc")
            if d not in ("asc", "desc"):
                raise _err("sort dir must be 'asc' or 'desc'", it)
            e = expr_from_json(it.get("expr"))
            items.append(A.SortItem(expr=e, dir=d, pos=e.pos))
        f["sort"] = tuple(items)
    if obj.get("from") is not None:
        f["from_"] = _source(obj["from"])
    for key in ("limit", "preview_length", "inference_budget"):
        if obj.get(key) is not None:
            f[key] = _int(obj[key], key)
    if obj.get("cursor") is not None:
        if not isinstance(obj["cursor"], str):
            raise _err("'cursor' must be a string")
        f["cursor"] = obj["cursor"]
    if obj.get("sample") is not None:
        f["sample"] = _sample(obj["sample"])
    return A.Query(syntax="json", **f)


def _source(node: Any) -> A.Source:
    if not isinstance(node, Mapping):
        raise _err("'from' must be an object")
    op = node.get("op")
    shape = node.get("shape")
    if shape is not None and shape not in ("spans", "traces", "summary"):
        raise _err(f"unknown shape {shape!r}: use spans, traces or summary", node)
    if op == "ident":
        name = node.get("name")
        if not isinstance(name, list) or len(name) != 1 or not isinstance(name[0], str):
            raise _err("from ident must have one name", node)
        return A.Source(name=name[0].lower(), is_call=False, shape=shape, pos=_loc(node))
    if op == "function":
        fname = _function_name(node)
        args: list[A.Expr] = []
        named: list[tuple[str, A.Expr]] = []
        given = node.get("args") or []
        if not isinstance(given, list):
            raise _err("from function args must be a list", node)
        for a in given:
            if isinstance(a, Mapping) and "expr" in a and "op" not in a:
                alias = a.get("alias")
                e = expr_from_json(a["expr"])
                if isinstance(alias, str) and alias.lower() == "shape":
                    if not (isinstance(e, A.Literal) and e.value in ("spans", "traces", "summary")):
                        raise _err("shape must be 'spans', 'traces' or 'summary'", node)
                    shape = str(e.value)
                elif isinstance(alias, str):
                    named.append((alias.lower(), e))
                else:
                    args.append(e)
            else:
                args.append(expr_from_json(a))
        return A.Source(name=fname, args=tuple(args), named=tuple(named), shape=shape, pos=_loc(node))
    raise _err("'from' must be an ident or a function", node)


def _sample(node: Any) -> A.Sample:
    if not isinstance(node, Mapping) or not isinstance(node.get("method"), Mapping):
        raise _err("'sample' must be {method: {type, value}, seed?}")
    m = node["method"]
    seed = node.get("seed")
    if seed is not None:
        seed = _int(seed, "sample.seed")
    if m.get("type") == "rate":
        v = m.get("value")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _err("sample rate must be a number", node)
        return A.Sample(rate=float(v), seed=seed)
    if m.get("type") == "count":
        return A.Sample(count=_int(m.get("value"), "sample count"), seed=seed)
    raise _err("sample method type must be 'rate' or 'count'", node)


# ---------------------------------------------------------------------------------------- to JSON

_REV = {"nseq": "is"}


class _JsonWriter(A.ExprVisitor[dict[str, Any], None]):
    def visit_other(self, e: A.Expr, arg: None) -> dict[str, Any]:
        raise TypeError(f"cannot serialize {type(e).__name__}")

    def visit_literal(self, e: A.Literal, arg: None) -> dict[str, Any]:
        return {"op": "literal", "value": e.value}

    def visit_array(self, e: A.Array, arg: None) -> dict[str, Any]:
        vals = []
        for it in e.items:
            if not isinstance(it, A.Literal):
                return {
                    "op": "function",
                    "name": {"op": "ident", "name": ["array"]},
                    "args": [x.accept(self, None) for x in e.items],
                }
            vals.append(it.value)
        return {"op": "literal", "value": vals}

    def visit_interval(self, e: A.Interval, arg: None) -> dict[str, Any]:
        return {"op": "interval", "value": e.value, "unit": e.unit}

    def visit_ident(self, e: A.Ident, arg: None) -> dict[str, Any]:
        return {"op": "ident", "name": list(e.path)}

    def visit_star(self, e: A.Star, arg: None) -> dict[str, Any]:
        return {"op": "star"}

    def visit_call(self, e: A.Call, arg: None) -> dict[str, Any]:
        if e.name == "any_span" and len(e.args) == 1:
            return {"op": "singlespanfilter", "expr": e.args[0].accept(self, None)}
        if e.name == "filter_spans" and len(e.args) == 1:
            return {"op": "matchingspansfilter", "expr": e.args[0].accept(self, None)}
        out: dict[str, Any] = {
            "op": "function",
            "name": {"op": "ident", "name": [e.name]},
            "args": [a.accept(self, None) for a in e.args],
        }
        if e.distinct:
            out["duplicate_treatment"] = "Distinct"
        return out

    def visit_binary(self, e: A.Binary, arg: None) -> dict[str, Any]:
        left, right = e.left.accept(self, None), e.right.accept(self, None)
        if e.op == "includes":
            return {"op": "includes", "haystack": left, "needle": right}
        return {"op": _REV.get(e.op, e.op), "left": left, "right": right}

    def visit_boolop(self, e: A.BoolOp, arg: None) -> dict[str, Any]:
        return {"op": e.op, "children": [a.accept(self, None) for a in e.args]}

    def visit_unary(self, e: A.Unary, arg: None) -> dict[str, Any]:
        return {"op": e.op, "expr": e.expr.accept(self, None)}

    def visit_if(self, e: A.If, arg: None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": "if",
            "conds": [{"cond": c.accept(self, None), "then": t.accept(self, None)} for c, t in e.conds],
        }
        if e.else_ is not None:
            out["else"] = e.else_.accept(self, None)
        return out


_JSON_WRITER = _JsonWriter()


def expr_to_json(e: A.Expr) -> dict[str, Any]:
    """The JSON AST (spec §7) of an expression."""
    return e.accept(_JSON_WRITER, None)


def _alias_json(it: A.AliasExpr | A.Star) -> dict[str, Any]:
    if isinstance(it, A.Star):
        return {"op": "star"}
    out: dict[str, Any] = {"expr": expr_to_json(it.expr)}
    if it.alias is not None:
        out["alias"] = it.alias
    return out


def query_to_json(q: A.Query) -> dict[str, Any]:
    """Query → the JSON AST (what `query_from_json` reads back)."""
    out: dict[str, Any] = {}
    for key in (
        "select",
        "dimensions",
        "measures",
        "pivot",
        "weighted_scores",
        "custom_columns",
        "final_dimensions",
        "final_measures",
    ):
        v = getattr(q, key)
        if v is not None:
            out[key] = [_alias_json(it) for it in v]
    for key in ("filter", "span_filter", "trace_filter", "final_filter", "comparison_key"):
        v = getattr(q, key)
        if v is not None:
            out[key] = expr_to_json(v)
    if q.infer is not None:
        out["infer"] = [expr_to_json(x) for x in q.infer]
    if q.unpivot is not None:
        out["unpivot"] = [
            {"expr": expr_to_json(u.expr), "alias": u.names[0] if len(u.names) == 1 else list(u.names)}
            for u in q.unpivot
        ]
    if q.sort is not None:
        out["sort"] = [{"expr": expr_to_json(s.expr), "dir": s.dir} for s in q.sort]
    if q.from_ is not None:
        s = q.from_
        if s.is_call:
            src: dict[str, Any] = {
                "op": "function",
                "name": {"op": "ident", "name": [s.name]},
                "args": [expr_to_json(a) for a in s.args]
                + [{"expr": expr_to_json(v), "alias": k} for k, v in s.named],
            }
        else:
            src = {"op": "ident", "name": [s.name]}
        if s.shape is not None:
            src["shape"] = s.shape
        out["from"] = src
    for key in ("limit", "cursor", "preview_length", "inference_budget"):
        v = getattr(q, key)
        if v is not None:
            out[key] = v
    if q.sample is not None:
        sm = q.sample
        method = (
            {"type": "rate", "value": sm.rate}
            if sm.rate is not None
            else {"type": "count", "value": sm.count}
        )
        out["sample"] = {"method": method}
        if sm.seed is not None:
            out["sample"]["seed"] = sm.seed
    return out
