"""Binding one expression: the AST visitor that resolves names and types each node.

Names resolve, in order, against: the first aggregation stage's columns (final_dimensions /
final_measures), names `unpivot:` introduced, output names (sort, final_filter), the row schema's
fields (span rows or summary rows), select aliases (substituted in filters), and finally extra
top-level keys of the row (with a warning, or a "did you mean" error when the name is close to a
known one). Operators are typed by `bind_operators`, function calls by `bind_functions`.
"""

from __future__ import annotations

import difflib

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.bind_context import BindContext
from loopline.btql.bind_functions import bind_call
from loopline.btql.bind_operators import binary, in_list, literal, literal_array
from loopline.btql.bind_types import as_condition, unify
from loopline.btql.errors import bind_error, type_error
from loopline.btql.field_refs import Path, span_field, summary_field, unknown_field
from loopline.btql.output_columns import OutputColumns
from loopline.btql.unparse import ident_text

# Conditions one AND may join (nested ANDs count together). ClickHouse's work on a conjunction of
# JSON-path comparisons grows with the square of its length even over an empty table (measured on
# 26.9: 500 took 1.3 s, 1,000 took 5-7 s, 2,000 took 18-25 s, holding the embedded store, and so
# the writer, meanwhile); the same comparisons ORed take 0.3 s per 1,000.
MAX_AND_CONDITIONS = 256
# Comparisons spent looking for "did you mean" names of unknown fields that are not errors (each
# such field is read as an extra top-level key): bounds that work for queries with many names.
_SUGGEST_BUDGET = 10_000
# names of summary rows besides the summary fields
_SUMMARY_NAMES = ("metrics", "_pagination_key", "log_id", "experiment_id", "dataset_id")


def _check_and_size(e: A.BoolOp) -> None:
    """Refuse an AND of more than MAX_AND_CONDITIONS conditions (nested ANDs flattened), at the
    first condition past it. Linear in the AND tree; the parser nests long chains in groups, so
    checking every AND node costs a small multiple of that."""
    n = 0
    stack: list[A.Expr] = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, A.BoolOp) and x.op == "and":
            stack.extend(reversed(x.args))
            continue
        n += 1
        if n > MAX_AND_CONDITIONS:
            raise bind_error(
                f"at most {MAX_AND_CONDITIONS} conditions may be joined by AND; "
                "split the query or use IN / OR where the conditions allow",
                x,
            )


class ExprBinder(A.ExprVisitor[Bd.B, BindContext]):
    """Binds expressions of one query. Besides the schema, it sees the names the clauses bound so
    far: `outputs` (the current stage's output columns), `stage1` (the first aggregation stage's,
    once `start_final_stage` moved past it) and `unpivot_names`. It collects the summary columns
    read (`summary_used`) and the warnings (`warnings`)."""

    def __init__(self, object_type: str, *, fast_json: bool) -> None:
        self.object_type = object_type
        self.fields = S.fields_for(object_type)
        self.fast_json = fast_json
        self.outputs = OutputColumns("c")
        self.stage1: OutputColumns | None = None
        self.unpivot_names: dict[str, Bd.B] = {}
        self.summary_used: set[str] = set()
        self.warnings: list[dict[str, str]] = []
        self._warned: set[tuple[str, str]] = set()
        self._suggest_left = _SUGGEST_BUDGET
        self._suggested: dict[str, str | None] = {}

    def start_final_stage(self) -> OutputColumns:
        """Move to the final aggregation stage: the outputs bound so far become the first stage's
        columns (the only names final_dimensions / final_measures see); returns the new outputs."""
        self.stage1 = self.outputs
        self.outputs = OutputColumns("f")
        return self.outputs

    def expr(self, e: A.Expr, ctx: BindContext) -> Bd.B:
        return e.accept(self, ctx)

    # ------------------------------------------------------------------------------ names
    def visit_ident(self, e: A.Ident, ctx: BindContext) -> Bd.B:
        head = e.path[0]
        if not isinstance(head, str):
            raise bind_error("a path must start with a field name", e)
        for seg in e.path:
            if isinstance(seg, int) and not -(2**31) <= seg < 2**31:
                raise type_error("array index is out of range", e)
        if ctx.stage2:
            return self._stage1_ref(e, ctx)
        rest = e.path[1:]
        # names introduced by unpivot
        if head in self.unpivot_names:
            return self._subpath(self.unpivot_names[head], rest, e)
        outputs = self.outputs
        # output names (sort / final_filter)
        if len(e.path) == 1 and (ctx.outputs_first or ctx.explicit_first):
            idx = outputs.by_name.get(head)
            if idx and (ctx.outputs_first or outputs.items[idx[0]].explicit):
                return outputs.ref(head, idx, e)
        known = self.fields
        if ctx.summary:
            if head in S.SUMMARY_BY_NAME or head in _SUMMARY_NAMES:
                if ctx.measure and not ctx.in_agg:
                    raise bind_error(f"'{ident_text(e.path)}' must be inside an aggregate in 'measures:'", e)
                return summary_field(head, rest, e, self.object_type, self.summary_used)
        elif head in known:
            if ctx.measure and not ctx.in_agg:
                raise bind_error(f"'{ident_text(e.path)}' must be inside an aggregate in 'measures:'", e)
            if head == "classifications" and len(rest) >= 2 and all(isinstance(p, str) for p in rest[:2]):
                return self._facet_key(known[head], rest, e)
            return span_field(known[head], rest, e, self.fast_json)
        elif head in S.FIELDS_BY_NAME:
            raise bind_error(f"field '{head}' is not available on {self.object_type} rows", e)
        # select aliases: implicit ones in sort, any in filter (substituted)
        if len(e.path) == 1:
            idx = outputs.by_name.get(head)
            if idx and (ctx.explicit_first or ctx.outputs_first):
                return outputs.ref(head, idx, e)
            if idx and ctx.alias_subst:
                if len(idx) > 1:
                    raise bind_error(f"'{head}' is ambiguous", e)
                b = outputs.items[idx[0]].expr
                if b.agg:
                    raise bind_error(f"'{head}' is an aggregate; use it in 'final_filter:'", e)
                return b
        if ctx.summary:
            raise unknown_field(head, [*list(S.SUMMARY_BY_NAME), "metrics"], e)
        close = self._close_name(head)
        if close is not None:
            raise bind_error(f"unknown field '{head}'; did you mean '{close}'?", e)
        # another top-level key of the row: kept in the `extra` JSON column
        if ctx.measure and not ctx.in_agg:
            raise bind_error(f"'{ident_text(e.path)}' must be inside an aggregate in 'measures:'", e)
        self._warn(
            "unknownField",
            f"'{head}' is not a known field; it is read as an extra top-level key (null when absent)",
        )
        return Bd.BJson(S.JSON, base=S.EXTRA_COLUMN, path=e.path)

    def _stage1_ref(self, e: A.Ident, ctx: BindContext) -> Bd.B:
        """A name in final_dimensions / final_measures: a column of the first aggregation stage."""
        assert self.stage1 is not None  # (stage2 contexts exist only after start_final_stage)
        head = e.path[0]
        names = self.stage1.by_name
        idx = names.get(head) if isinstance(head, str) else None
        if not idx:
            known = list(names)
            close = difflib.get_close_matches(str(head), known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f" (columns: {', '.join(known)})"
            raise bind_error(
                f"'{ctx.where}:' can only use the columns of dimensions/measures; unknown '{head}'{hint}", e
            )
        if len(idx) > 1:
            raise bind_error(f"'{head}' is ambiguous: it names more than one column", e)
        if ctx.measure and not ctx.in_agg:
            raise bind_error(f"'{ident_text(e.path)}' must be inside an aggregate in 'final_measures:'", e)
        o = self.stage1.items[idx[0]]
        ref = Bd.BOutRef(
            o.expr.type,
            index=idx[0],
            alias=f"c{idx[0]}",
            nonnull=isinstance(o.expr, Bd.BCol) and o.expr.nonnull,
        )
        rest = e.path[1:]
        if not rest:
            return ref
        if o.expr.type == S.JSON:
            return Bd.BJson(S.JSON, base=ref.alias, path=rest)
        raise type_error(f"'{head}' is a {o.expr.type}; it has no sub-fields", e)

    def _close_name(self, head: str) -> str | None:
        """A known field, output or unpivot name `head` is probably a typo of (else None: an extra
        key). Each name is looked up once; when the budget of comparisons is spent, only the
        row's fields are candidates (a query with thousands of unknown names stays linear)."""
        if head in self._suggested:
            return self._suggested[head]
        candidates = list(self.fields)
        out_names = self.outputs.by_name
        extra = len(out_names) + len(self.unpivot_names)
        if extra <= self._suggest_left:
            self._suggest_left -= extra
            candidates += list(out_names) + list(self.unpivot_names)
        close = difflib.get_close_matches(head, candidates, n=1, cutoff=0.75) if len(head) <= 200 else []
        found = close[0] if close else None
        self._suggested[head] = found
        return found

    def _subpath(self, base: Bd.B, rest: Path, node: A.Expr) -> Bd.B:
        if not rest:
            return base
        if isinstance(base, Bd.BJson):
            return Bd.BJson(S.JSON, base=base.base, path=base.path + rest)
        raise type_error(
            f"'{ident_text(node.path if isinstance(node, A.Ident) else ())}' has no sub-fields", node
        )

    def _facet_key(self, field: S.Field, rest: Path, e: A.Ident) -> Bd.B:
        """`classifications.<facet>.<key>` (Topics' filter `classifications.Intent.label = 'refund'`):
        a facet is an array of items in Braintrust's shape (what the classifier writes: one item,
        the decision), where the key is read from the first item; a facet logged as an object is
        read as it is. The value is the first of the two that is there:
        coalesce(classifications.<facet>[0].<key>, classifications.<facet>.<key>)."""
        first = span_field(field, (rest[0], 0, *rest[1:]), e, self.fast_json)
        plain = span_field(field, rest, e, self.fast_json)
        typ, mode = unify([first, plain], [e, e])
        f = Bd.BFunc(typ, name="coalesce", args=(first, plain), modes=(mode, mode))
        return Bd.BJson(S.JSON, base=f) if typ == S.JSON else f

    def _warn(self, code: str, message: str) -> None:
        if (code, message) not in self._warned:
            self._warned.add((code, message))
            self.warnings.append({"code": code, "message": message, "stage": "binder", "severity": "warning"})

    # ------------------------------------------------------------------------------ other nodes
    def visit_literal(self, e: A.Literal, ctx: BindContext) -> Bd.B:
        return literal(e)

    def visit_array(self, e: A.Array, ctx: BindContext) -> Bd.B:
        return literal_array(e)

    def visit_interval(self, e: A.Interval, ctx: BindContext) -> Bd.B:
        return Bd.BInterval(S.INTERVAL, value=e.value, unit=e.unit)

    def visit_star(self, e: A.Star, ctx: BindContext) -> Bd.B:
        raise bind_error("'*' is only allowed as a whole select item or in count(*)", e)

    def visit_boolop(self, e: A.BoolOp, ctx: BindContext) -> Bd.B:
        if e.op == "and":
            _check_and_size(e)
        args = tuple(as_condition(a.accept(self, ctx), a) for a in e.args)
        return Bd.BBool(S.BOOL, op=e.op, args=args, agg=any(a.agg for a in args))

    def visit_other(self, e: A.Expr, ctx: BindContext) -> Bd.B:
        raise bind_error(f"unsupported expression {type(e).__name__}", e)

    def visit_unary(self, e: A.Unary, ctx: BindContext) -> Bd.B:
        x = self.expr(e.expr, ctx)
        if e.op == "not":
            x = as_condition(x, e.expr)
            return Bd.BNot(S.BOOL, x=x, agg=x.agg)
        if e.op == "neg":
            if x.type == S.JSON:
                return Bd.BNeg(S.NUMBER, x=x, agg=x.agg)
            if x.type not in (S.NUMBER, S.INTEGER):
                raise type_error(f"cannot negate a {x.type}", e.expr)
            return Bd.BNeg(x.type, x=x, agg=x.agg)
        if e.op in ("isnull", "isnotnull"):
            return Bd.BIsNull(S.BOOL, x=x, negate=e.op == "isnotnull", agg=x.agg)
        raise bind_error(f"unknown operator {e.op}", e)

    def visit_if(self, e: A.If, ctx: BindContext) -> Bd.B:
        conds = [(as_condition(self.expr(c, ctx), c), self.expr(t, ctx)) for c, t in e.conds]
        els = self.expr(e.else_, ctx) if e.else_ is not None else Bd.BLit(S.NULL, value=None)
        branches = [t for _, t in conds] + [els]
        typ, mode = unify(branches, [t for _, t in e.conds] + [e.else_ or e])
        agg = any(c.agg or t.agg for c, t in conds) or els.agg
        return Bd.BIf(typ, conds=tuple(conds), else_=els, mode=mode, agg=agg)

    def visit_binary(self, e: A.Binary, ctx: BindContext) -> Bd.B:
        if e.op == "in":
            return in_list(self.expr(e.left, ctx), e)
        return binary(e, self.expr(e.left, ctx), self.expr(e.right, ctx))

    def visit_call(self, e: A.Call, ctx: BindContext) -> Bd.B:
        return bind_call(self, e, ctx)
