"""Binder: AST → bound query, clause by clause. Resolves names against the row schema, checks
types and where aggregates may appear, names output columns, and raises BindError / TypeError
with positions.

This module holds the clause order (which clause is bound when, in which context, and the rules
that combine clauses); the work on one expression is `bind_expr.ExprBinder`'s, the contexts are
`bind_context`'s, output naming is `output_columns`', what `*` expands to is `star_expansion`'s.
"""

from __future__ import annotations

import difflib

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import schema as S
from loopline.btql.bind_context import BindContext, for_clause
from loopline.btql.bind_expr import MAX_AND_CONDITIONS, ExprBinder
from loopline.btql.bind_types import as_condition
from loopline.btql.bound_query import BoundQuery, Output, Unpivoted
from loopline.btql.errors import BindError, bind_error, node_position, type_error
from loopline.btql.field_refs import span_field
from loopline.btql.options import SourceRef
from loopline.btql.output_columns import MAX_COLUMNS, OutputColumns
from loopline.btql.star_expansion import star_columns, star_item
from loopline.btql.unparse import to_text

__all__ = ["MAX_AND_CONDITIONS", "MAX_COLUMNS", "Binder", "BoundQuery", "Output", "Unpivoted"]

DEFAULT_INFERENCE_BUDGET = 1000
MAX_INFERENCE_BUDGET = 100_000
_INFER_EXCLUSIVE = (
    "select",
    "dimensions",
    "measures",
    "pivot",
    "unpivot",
    "sort",
    "cursor",
    "sample",
    "comparison_key",
    "custom_columns",
    "weighted_scores",
    "final_filter",
    "final_dimensions",
    "final_measures",
)
# filter conjuncts on these columns let the store skip parts (segment elimination)
_RANGE_KEYS = frozenset({"created", "_xact_id", "_pagination_key", "root_span_id", "id"})


class Binder:
    def __init__(
        self, q: A.Query, source: SourceRef, *, fast_json: bool = True, audit_log: bool = False
    ) -> None:
        self.q = q
        self.audit_log = audit_log  # `select: *` includes `audit_data`
        self.source = source
        self.object_type = source.object_type
        self.shape = source.shape
        self.fast_json = fast_json and self.object_type != S.DATASET
        self.exprs = ExprBinder(self.object_type, fast_json=self.fast_json)
        self._out_exprs: tuple[int, set[Bd.B]] | None = None

    def _expr(self, e: A.Expr, ctx: BindContext) -> Bd.B:
        return e.accept(self.exprs, ctx)

    # ------------------------------------------------------------------------------ query
    def bind(self) -> BoundQuery:
        """Bind the clauses in order: unpivot (its names are usable everywhere), the outputs
        (dimensions/measures or select), the filters, final_filter, the final aggregation stage,
        sort, pivot; then the checks that combine clauses."""
        q = self.q
        if q.inference_budget is not None and q.infer is None:
            raise BindError("'inference_budget:' only applies to 'infer:'", *node_position(q.from_))
        if q.infer is not None:
            return self._bind_infer()
        if q.select is not None and (q.dimensions is not None or q.measures is not None):
            raise BindError(
                "use either 'select:' or 'dimensions:'/'measures:', not both", *node_position(q.select[0])
            )
        if self.shape not in ("spans", "traces", "summary"):
            raise BindError(f"unknown shape '{self.shape}'", *node_position(q.from_))
        summary = self.shape == "summary"
        unpivots = [self._unpivot(u, i, summary) for i, u in enumerate(q.unpivot or ())]
        bq = BoundQuery(
            source=self.source, shape=self.shape, aggregate=False, outputs=self.exprs.outputs.items
        )
        bq.unpivots = unpivots
        self._bind_paging(bq)
        bq.aggregate = aggregate = self._is_aggregate()
        if aggregate:
            self._bind_dimensions_measures(bq, summary)
        else:
            self._bind_select(summary)
        if aggregate and q.comparison_key is not None:
            raise bind_error(
                "'comparison_key:' keys rows (select queries); it cannot be combined with dimensions/measures",
                q.comparison_key,
            )
        self._bind_filters(bq, summary)
        if q.final_filter is not None:
            ctx = for_clause("final_filter", summary, aggregate)
            bq.final_filter = as_condition(self._expr(q.final_filter, ctx), q.final_filter)
        if q.final_dimensions is not None or q.final_measures is not None:
            self._bind_final_stage(bq)
        self._bind_sort(bq, summary)
        if q.pivot is not None:
            self._bind_pivot(bq, q.pivot)
        # the shapes and sampling that unpivot combines with
        if q.unpivot and self.shape != "spans":
            raise BindError("'unpivot:' is only supported with the spans shape", *node_position(q.unpivot[0]))
        if q.unpivot and q.sample is not None and q.sample.count is not None:
            raise BindError("count sampling cannot be combined with 'unpivot:'", *node_position(q.sample))
        bq.summary_used = self.exprs.summary_used
        bq.warnings = self.exprs.warnings
        return bq

    def _bind_paging(self, bq: BoundQuery) -> None:
        """preview_length, limit, cursor and sample: checked and copied."""
        q = self.q
        bq.preview_length = q.preview_length
        if q.preview_length is not None and q.preview_length < -1:
            raise BindError("preview_length must be >= -1", *node_position(q.from_))
        bq.limit = q.limit
        bq.cursor = q.cursor
        if q.limit is not None and q.limit < 0:
            raise BindError("limit must be >= 0", *node_position(q.from_))
        if q.sample is not None:
            smp = q.sample
            if smp.rate is not None and not 0.0 <= smp.rate <= 1.0:
                raise BindError("sample rate must be between 0% and 100%", *node_position(smp))
            if smp.count is not None and smp.count < 1:
                raise BindError("sample count must be at least 1", *node_position(smp))
            bq.sample = smp

    def _is_aggregate(self) -> bool:
        """Whether the query aggregates: dimensions/measures, or a `select:` made only of
        aggregates (global measures)."""
        q = self.q
        if q.dimensions is not None or q.measures is not None:
            return True
        items = q.select
        if items is None or not any(isinstance(it, A.AliasExpr) and A.has_aggregate(it.expr) for it in items):
            return False
        for it in items:
            if not (isinstance(it, A.AliasExpr) and A.has_aggregate(it.expr)):
                raise bind_error("mixing aggregates and plain fields in 'select:' needs 'dimensions:'", it)
        return True

    def _bind_dimensions_measures(self, bq: BoundQuery, summary: bool) -> None:
        q = self.q
        outputs = self.exprs.outputs
        dims = tuple(q.dimensions or ())
        measures = (
            tuple(q.measures or ())
            if q.measures is not None
            else tuple(it for it in (q.select or ()) if isinstance(it, A.AliasExpr))
        )
        self._bind_groups(bq, outputs, dims, measures, summary, final=False)
        if not outputs.items:
            raise BindError("an aggregate query needs at least one dimension or measure", 1, 1)

    def _bind_select(self, summary: bool) -> None:
        """select (`*` expanded), then custom_columns, weighted_scores and comparison_key."""
        q = self.q
        outputs = self.exprs.outputs
        items = q.select if q.select is not None else (A.Star(),)
        outputs.check_aliases([it for it in items if isinstance(it, A.AliasExpr)])
        ctx = for_clause("select", summary, False)
        for it in items:
            if isinstance(it, A.Star):
                for name, b, preview in self._star(summary):
                    if outputs.explicitly_named(name):
                        raise bind_error(f"duplicate alias '{name}'", it)
                    outputs.add(star_item(name), b, preview=preview, star=True, at=it)
            else:
                outputs.add(it, self._expr(it.expr, ctx))
        for extra_col in (q.custom_columns or ()) + (q.weighted_scores or ()):
            outputs.check_aliases([extra_col], extend=True)
            outputs.add(extra_col, self._expr(extra_col.expr, ctx))
        if q.comparison_key is not None:
            key = A.AliasExpr(q.comparison_key, "comparison_key", pos=q.comparison_key.pos)
            outputs.check_aliases([key], extend=True)
            outputs.add(key, self._expr(q.comparison_key, ctx))

    def _star(self, summary: bool) -> list[tuple[str, Bd.B, bool]]:
        exprs = self.exprs
        return star_columns(
            self.object_type,
            summary=summary,
            audit_log=self.audit_log,
            fast_json=self.fast_json,
            unpivot_names=exprs.unpivot_names,
            summary_used=exprs.summary_used,
        )

    def _bind_filters(self, bq: BoundQuery, summary: bool) -> None:
        """filter (+ trace_filter) and span_filter: the row filter and the span-level filter that
        selects traces (traces/summary shapes; in the spans shape both filter rows)."""
        q = self.q
        filt = q.filter
        if q.trace_filter is not None:
            filt = q.trace_filter if filt is None else A.BoolOp(op="and", args=(filt, q.trace_filter))
        if filt is not None:
            b = as_condition(self._expr(filt, for_clause("filter", summary, bq.aggregate)), filt)
            bq.filter, bq.filter_spans = self._split_filter_spans(b, filt)
            bq.has_range_filter = _range_filtered(filt)
        if q.span_filter is not None:
            part = q.span_filter
            b = as_condition(self._expr(part, for_clause("span_filter", False, False)), part)
            bq.filter_spans = (
                b if bq.filter_spans is None else Bd.BBool("bool", op="and", args=(bq.filter_spans, b))
            )
        if self.shape == "spans" and bq.filter_spans is not None:
            bq.filter = (
                bq.filter_spans
                if bq.filter is None
                else Bd.BBool("bool", op="and", args=(bq.filter, bq.filter_spans))
            )
            bq.filter_spans = None

    def _bind_sort(self, bq: BoundQuery, summary: bool) -> None:
        aggregate = bq.aggregate
        ctx = for_clause("sort", summary, aggregate)
        for s in self.q.sort or ():
            b = self._expr(s.expr, ctx)
            if b.type in (S.ARRAY, S.MAP, S.INTERVAL):
                raise type_error(f"cannot sort by '{to_text(s.expr)}' (a {b.type})", s.expr)
            if aggregate and not b.agg and not isinstance(b, Bd.BOutRef) and not self._is_dim(b):
                raise bind_error(
                    f"sort key '{to_text(s.expr)}' must be a dimension, a measure or an aggregate", s.expr
                )
            if b.type == S.NULL:
                # rows queries sort by what an output reference stands for
                target = (
                    self.exprs.outputs.items[b.index].expr
                    if isinstance(b, Bd.BOutRef) and not aggregate
                    else b
                )
                if Bd.contains(target, Bd.VARYING):  # (a constant null orders nothing and is dropped)
                    raise bind_error("cannot sort by a null", s.expr)
            bq.sort.append((b, s.dir))

    def _bind_pivot(self, bq: BoundQuery, pivot: tuple[A.AliasExpr, ...]) -> None:
        if bq.stage1 is not None:
            raise bind_error(
                "'pivot:' cannot be combined with 'final_dimensions:'/'final_measures:'", pivot[0].expr
            )
        if not bq.aggregate or not bq.ndims:
            raise bind_error("'pivot:' needs 'dimensions:' and 'measures:'", pivot[0].expr)
        outputs = self.exprs.outputs
        for it in pivot:
            e = it.expr
            if not (isinstance(e, A.Ident) and len(e.path) == 1 and isinstance(e.path[0], str)):
                raise bind_error("pivot items must name measures", e)
            name = e.path[0]
            idx = outputs.by_name.get(name, [])
            if len(idx) != 1 or idx[0] < bq.ndims:
                known = [o.name for o in outputs.items[bq.ndims :]]
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise bind_error(f"pivot names an unknown measure '{name}'{hint}", e)
            bq.pivot.append(name)

    # ------------------------------------------------------------------------------ final stage
    def _bind_final_stage(self, bq: BoundQuery) -> None:
        """final_dimensions / final_measures: aggregate the rows of the first aggregation (after
        final_filter) again. Their names resolve only against the first stage's columns."""
        q = self.q
        items = (q.final_dimensions or ()) + (q.final_measures or ())
        if not items:
            raise BindError(
                "'final_dimensions:'/'final_measures:' need at least one item", *node_position(q.from_)
            )
        first = items[0].expr
        if not bq.aggregate:
            raise bind_error(
                "'final_dimensions:'/'final_measures:' aggregate the result of 'dimensions:'/'measures:'; "
                "add those first",
                first,
            )
        bq.stage1 = self.exprs.outputs.items
        bq.stage1_ndims = bq.ndims
        outputs = self.exprs.start_final_stage()
        bq.outputs = outputs.items
        dims = tuple(q.final_dimensions or ())
        measures = tuple(q.final_measures or ())
        self._bind_groups(bq, outputs, dims, measures, False, final=True)

    def _bind_groups(
        self,
        bq: BoundQuery,
        outputs: OutputColumns,
        dims: tuple[A.AliasExpr, ...],
        measures: tuple[A.AliasExpr, ...],
        summary: bool,
        *,
        final: bool,
    ) -> None:
        """The dimensions, then the measures, of one aggregation stage (`final`: the second)."""
        outputs.check_aliases(list(dims) + list(measures))
        ctx = for_clause("final_dimensions" if final else "dims", summary, True)
        for it in dims:
            b = self._expr(it.expr, ctx)
            _check_groupable(b, it.expr)
            outputs.add(it, b)
        bq.ndims = len(dims)
        ctx = for_clause("final_measures" if final else "measures", summary, True)
        for it in measures:
            if not A.has_aggregate(it.expr):
                raise bind_error(
                    f"final measure '{to_text(it.expr)}' is not an aggregate"
                    if final
                    else f"measure '{to_text(it.expr)}' is not an aggregate (use count, sum, avg, min, max, "
                    "percentile, count_distinct or any_value)",
                    it.expr,
                )
            outputs.add(it, self._expr(it.expr, ctx))

    # ------------------------------------------------------------------------------ infer
    def _bind_infer(self) -> BoundQuery:
        q = self.q
        for clause in _INFER_EXCLUSIVE:
            v = getattr(q, clause)
            if v is not None:
                node = v[0] if isinstance(v, tuple) and v else v
                raise BindError(f"'infer:' cannot be combined with '{clause}:'", *node_position(node))
        if self.shape != "spans":
            raise BindError("'infer:' works on the spans shape only", *node_position(q.from_))
        budget = DEFAULT_INFERENCE_BUDGET if q.inference_budget is None else q.inference_budget
        if not 1 <= budget <= MAX_INFERENCE_BUDGET:
            raise BindError(
                f"inference_budget must be between 1 and {MAX_INFERENCE_BUDGET}", *node_position(q.from_)
            )
        items: list[tuple[str, Bd.B]] = []
        ctx = for_clause("infer", False, False)
        for it in q.infer or ():
            if isinstance(it, A.Star):
                for f in S.SPAN_FIELDS:
                    if f.type == S.JSON and self.object_type in f.sources and f.star:
                        items.append((f.name, span_field(f, (), None, self.fast_json)))
                continue
            b = self._expr(it, ctx)
            if b.type != S.JSON:
                raise type_error(f"'infer:' lists JSON fields, but '{to_text(it)}' is a {b.type}", it)
            items.append((to_text(it), b))
        seen: dict[str, Bd.B] = {}
        for name, b in items:
            seen.setdefault(name, b)
        bq = BoundQuery(
            source=self.source, shape=self.shape, aggregate=True, outputs=self.exprs.outputs.items
        )
        bq.infer = list(seen.items())
        bq.inference_budget = budget
        bq.limit = q.limit
        if q.limit is not None and q.limit < 0:
            raise BindError("limit must be >= 0", *node_position(q.from_))
        if q.filter is not None:
            ctx = for_clause("infer_filter", False, False)
            bq.filter = as_condition(self._expr(q.filter, ctx), q.filter)
            bq.has_range_filter = _range_filtered(q.filter)
        bq.warnings = self.exprs.warnings
        return bq

    # ------------------------------------------------------------------------------ unpivot
    def _unpivot(self, u: A.Unpivot, i: int, summary: bool) -> Unpivoted:
        names = self.exprs.unpivot_names
        src = self._expr(u.expr, for_clause("unpivot", summary, False))
        alias = f"_u{i}"
        for n in u.names:
            if n in names:
                raise bind_error(f"duplicate unpivot name '{n}'", u.expr)
        if len(u.names) == 2:
            if src.type == S.MAP or (isinstance(src, Bd.BCol) and src.type == S.MAP):
                kind = "map"
            elif src.type == S.JSON:
                kind = "object"
            else:
                raise type_error(
                    f"key/value unpivot needs an object, but '{to_text(u.expr)}' is a{'n' if src.type[0] in 'aeiou' else ''} {src.type}",
                    u.expr,
                )
            if isinstance(src, Bd.BJson) and src.base in ("scores", "metrics") and not src.path:
                kind = "map"
                src = Bd.BCol(S.MAP, sql=f"{src.base}_map", nonnull=True)
            names[u.names[0]] = Bd.BCol(S.STRING, sql=f"{alias}k", nonnull=True)
            if kind == "map":
                names[u.names[1]] = Bd.BCol(S.NUMBER, sql=f"{alias}v", nonnull=True)
            else:
                names[u.names[1]] = Bd.BJson(S.JSON, base=f"{alias}v")
            return Unpivoted(kind, src, u.names, alias)
        if src.type == S.ARRAY:
            names[u.names[0]] = Bd.BCol(S.STRING, sql=f"{alias}v", nonnull=True)
            return Unpivoted("array", src, u.names, alias)
        if src.type == S.JSON:
            names[u.names[0]] = Bd.BJson(S.JSON, base=f"{alias}v")
            return Unpivoted("json_array", src, u.names, alias)
        raise type_error(f"array unpivot needs an array, but '{to_text(u.expr)}' is a {src.type}", u.expr)

    # ------------------------------------------------------------------------------ helpers
    def _is_dim(self, b: Bd.B) -> bool:
        """Whether `b` is the expression of an output column (sort keys of aggregate queries)."""
        items = self.exprs.outputs.items
        try:
            if self._out_exprs is None or self._out_exprs[0] != len(items):
                self._out_exprs = (len(items), {o.expr for o in items})
            return b in self._out_exprs[1]
        except TypeError:  # an unhashable literal value somewhere: compare one by one
            return any(o.expr == b for o in items)

    def _split_filter_spans(self, b: Bd.B, node: A.Expr) -> tuple[Bd.B | None, Bd.B | None]:
        """Pull top-level FILTER_SPANS(...) conjuncts out of the filter."""
        conj = list(b.args) if isinstance(b, Bd.BBool) and b.op == "and" else [b]
        keep: list[Bd.B] = []
        spans: list[Bd.B] = []
        for c in conj:
            if isinstance(c, Bd.BFilterSpans):
                spans.append(c.pred)
            else:
                if Bd.contains(c, Bd.BFilterSpans):
                    raise bind_error("FILTER_SPANS(...) must be a top-level AND term of the filter", node)
                keep.append(c)
        f = None if not keep else keep[0] if len(keep) == 1 else Bd.BBool(S.BOOL, op="and", args=tuple(keep))
        fs = (
            None
            if not spans
            else spans[0]
            if len(spans) == 1
            else Bd.BBool(S.BOOL, op="and", args=tuple(spans))
        )
        if self.shape == "spans" and fs is not None:
            f = fs if f is None else Bd.BBool(S.BOOL, op="and", args=(f, fs))
            fs = None
        return f, fs


def _check_groupable(b: Bd.B, node: A.Expr) -> None:
    if b.agg:
        raise bind_error(f"dimension '{to_text(node)}' cannot contain an aggregate", node)
    if b.type == S.INTERVAL:
        raise type_error("cannot group by an interval", node)


def _range_filtered(e: A.Expr) -> bool:
    """Whether a top-level conjunct of the filter compares a column that lets the store skip parts."""
    conj = e.args if isinstance(e, A.BoolOp) and e.op == "and" else (e,)
    for c in conj:
        if isinstance(c, A.Binary) and c.op in ("eq", "lt", "le", "gt", "ge", "in"):
            for side in (c.left, c.right):
                if isinstance(side, A.Ident) and side.path[0] in _RANGE_KEYS and len(side.path) == 1:
                    return True
    return False
