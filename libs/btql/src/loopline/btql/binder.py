"""Binder: AST → bound query. Resolves names against the row schema, checks types and where
aggregates may appear, names output columns, and raises BindError / TypeError with positions.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loopline.btql import ast as A
from loopline.btql import bound as Bd
from loopline.btql import functions as F
from loopline.btql import schema as S
from loopline.btql.errors import BindError, BtqlTypeError
from loopline.btql.grammar import INTERVAL_UNITS
from loopline.btql.options import SourceRef
from loopline.btql.unparse import ident_text, to_text

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(rb"[A-Za-z0-9\x80-\xff]+")


def _where(node: Any) -> tuple[int | None, int | None]:
    p = getattr(node, "pos", None)
    return (p.line, p.column) if p else (None, None)


def _terr(msg: str, node: Any) -> BtqlTypeError:
    return BtqlTypeError(msg, *_where(node))


def _berr(msg: str, node: Any) -> BindError:
    return BindError(msg, *_where(node))


def match_tokens(q: str) -> tuple[str, ...]:
    """Tokens of a MATCH query, as ClickHouse's splitByNonAlpha splits them, lower-cased."""
    toks = [t.decode("utf-8", "replace").lower() for t in _TOKEN.findall(q.encode("utf-8"))]
    return tuple(dict.fromkeys(toks))


@dataclass
class Output:
    name: str
    expr: Bd.B
    explicit: bool = False
    hidden: bool = False
    preview: bool = False
    full_name: str = ""  # the item's full text, used when two implicit names collide


@dataclass
class Unpivoted:
    kind: str  # 'object' | 'array'
    source: Bd.B
    names: tuple[str, ...]
    alias: str  # SQL alias (_u0)


@dataclass
class BoundQuery:
    source: SourceRef
    shape: str
    aggregate: bool
    outputs: list[Output]
    ndims: int = 0
    filter: Bd.B | None = None
    filter_spans: Bd.B | None = None
    final_filter: Bd.B | None = None
    sort: list[tuple[Bd.B, str]] = field(default_factory=list)
    limit: int | None = None
    cursor: str | None = None
    sample: A.Sample | None = None
    unpivots: list[Unpivoted] = field(default_factory=list)
    pivot: list[str] = field(default_factory=list)
    preview_length: int | None = None
    summary_used: set[str] = field(default_factory=set)
    warnings: list[dict[str, str]] = field(default_factory=list)
    has_range_filter: bool = False
    # second aggregation stage (final_dimensions / final_measures): `outputs`/`ndims` are the final
    # stage's, these the first stage's (its columns are c0.., the final stage's f0..)
    stage1: list[Output] | None = None
    stage1_ndims: int = 0
    # `infer:` (schema inference over JSON fields): (field name, bound JSON value), rows sampled
    infer: list[tuple[str, Bd.B]] | None = None
    inference_budget: int = 0


# Result columns of one query (after `*` expands): every column costs binding, SQL, the store's
# work and the response's size once per row; no real query comes near this.
MAX_COLUMNS = 1000
# Conditions one AND may join (nested ANDs count together). ClickHouse's work on a conjunction of
# JSON-path comparisons grows with the square of its length even over an empty table (measured on
# 26.9: 500 took 1.3 s, 1,000 took 5-7 s, 2,000 took 18-25 s, holding the embedded store, and so
# the writer, meanwhile); the same comparisons ORed take 0.3 s per 1,000.
MAX_AND_CONDITIONS = 256
# Comparisons spent looking for "did you mean" names of unknown fields that are not errors (each
# such field is read as an extra top-level key): bounds that work for queries with many names.
_SUGGEST_BUDGET = 10_000

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
            raise _berr(
                f"at most {MAX_AND_CONDITIONS} conditions may be joined by AND; "
                "split the query or use IN / OR where the conditions allow",
                x,
            )


@dataclass
class _Ctx:
    """Where an expression is being bound."""

    where: str  # filter | select | dims | measures | sort | final_filter | pivot | unpivot
    summary: bool = False  # names resolve against summary rows
    allow_agg: bool = False
    in_agg: bool = False
    allow_span_filters: bool = False
    span_depth: int = 0
    outputs_first: bool = False  # output names shadow fields (aggregate sort/final_filter)
    explicit_first: bool = False  # explicit select aliases shadow fields (rows sort)
    alias_subst: bool = False  # select aliases usable by substitution (filter)
    measure: bool = False  # fields must be inside an aggregate
    stage2: bool = False  # names resolve only against the first aggregation stage's columns

    def derive(self, **changes: Any) -> _Ctx:
        """A copy with some flags changed (the context of a sub-expression)."""
        c = object.__new__(_Ctx)
        c.__dict__.update(self.__dict__, **changes)
        return c


class Binder(A.ExprVisitor[Bd.B, _Ctx]):
    def __init__(
        self, q: A.Query, source: SourceRef, *, fast_json: bool = True, audit_log: bool = False
    ) -> None:
        self.q = q
        self.audit_log = audit_log  # `select: *` includes `audit_data`
        self.source = source
        self.object_type = source.object_type
        self.shape = source.shape
        self.fields = S.fields_for(self.object_type)
        self.fast_json = fast_json and self.object_type != S.DATASET
        self.unpivot_names: dict[str, Bd.B] = {}
        self.outputs: list[Output] = []
        self.out_names: dict[str, list[int]] = {}
        # the output names in use (name -> how many outputs carry it) and, per base name, the
        # lowest `_<i>` suffix that may still be free: unique names without rescanning outputs
        self._taken: dict[str, int] = {}
        self._next_suffix: dict[str, int] = {}
        self.summary_used: set[str] = set()
        self.warnings: list[dict[str, str]] = []
        self._warned: set[tuple[str, str]] = set()
        self._suggest_left = _SUGGEST_BUDGET
        self._suggested: dict[str, str | None] = {}
        self._out_exprs: tuple[int, set[Bd.B]] | None = None
        self._uid = 0
        self._out_prefix = "c"  # SQL alias prefix of output columns ("f" in the final stage)
        self.stage1_outputs: list[Output] = []
        self.stage1_names: dict[str, list[int]] = {}

    # ------------------------------------------------------------------------------ query
    def bind(self) -> BoundQuery:
        q = self.q
        if q.inference_budget is not None and q.infer is None:
            raise BindError("'inference_budget:' only applies to 'infer:'", *_where(q.from_))
        if q.infer is not None:
            return self._bind_infer()
        if q.select is not None and (q.dimensions is not None or q.measures is not None):
            raise BindError(
                "use either 'select:' or 'dimensions:'/'measures:', not both", *_where(q.select[0])
            )
        if self.shape not in ("spans", "traces", "summary"):
            raise BindError(f"unknown shape '{self.shape}'", *_where(q.from_))
        summary = self.shape == "summary"

        # unpivot first: it introduces names usable everywhere
        unpivots = [self._unpivot(u, i, summary) for i, u in enumerate(q.unpivot or ())]

        bq = BoundQuery(source=self.source, shape=self.shape, aggregate=False, outputs=self.outputs)
        bq.unpivots = unpivots
        bq.preview_length = q.preview_length
        if q.preview_length is not None and q.preview_length < -1:
            raise BindError("preview_length must be >= -1", *_where(q.from_))
        bq.limit = q.limit
        bq.cursor = q.cursor
        if q.limit is not None and q.limit < 0:
            raise BindError("limit must be >= 0", *_where(q.from_))
        if q.sample is not None:
            smp = q.sample
            if smp.rate is not None and not 0.0 <= smp.rate <= 1.0:
                raise BindError("sample rate must be between 0% and 100%", *_where(smp))
            if smp.count is not None and smp.count < 1:
                raise BindError("sample count must be at least 1", *_where(smp))
            bq.sample = smp

        # span-level filter (trace selection in traces/summary shapes)
        span_filter_parts: list[A.Expr] = []
        if q.span_filter is not None:
            span_filter_parts.append(q.span_filter)
        filt = q.filter
        if q.trace_filter is not None:
            filt = q.trace_filter if filt is None else A.BoolOp(op="and", args=(filt, q.trace_filter))

        aggregate = q.dimensions is not None or q.measures is not None
        select_items = q.select
        # `select:` made only of aggregates = global measures
        if select_items is not None and any(
            isinstance(it, A.AliasExpr) and A.has_aggregate(it.expr) for it in select_items
        ):
            if not all(isinstance(it, A.AliasExpr) and A.has_aggregate(it.expr) for it in select_items):
                bad = next(
                    it
                    for it in select_items
                    if not (isinstance(it, A.AliasExpr) and A.has_aggregate(it.expr))
                )
                raise _berr("mixing aggregates and plain fields in 'select:' needs 'dimensions:'", bad)
            aggregate = True
        bq.aggregate = aggregate

        if aggregate:
            dims = tuple(q.dimensions or ())
            measures = (
                tuple(q.measures or ())
                if q.measures is not None
                else tuple(it for it in (select_items or ()) if isinstance(it, A.AliasExpr))
            )
            self._names_for(list(dims) + list(measures))
            for it in dims:
                ctx = _Ctx("dims", summary=summary)
                b = self.expr(it.expr, ctx)
                self._check_groupable(b, it.expr)
                self._add_output(it, b)
            bq.ndims = len(dims)
            for it in measures:
                if not A.has_aggregate(it.expr):
                    raise _berr(
                        f"measure '{to_text(it.expr)}' is not an aggregate (use count, sum, avg, min, max, "
                        "percentile, count_distinct or any_value)",
                        it.expr,
                    )
                ctx = _Ctx("measures", summary=summary, allow_agg=True, measure=True)
                self._add_output(it, self.expr(it.expr, ctx))
            if not self.outputs:
                raise BindError("an aggregate query needs at least one dimension or measure", 1, 1)
        else:
            items = select_items if select_items is not None else (A.Star(),)
            self._select(items, summary)
            for extra_col in (q.custom_columns or ()) + (q.weighted_scores or ()):
                self._names_for([extra_col], extend=True)
                self._add_output(extra_col, self.expr(extra_col.expr, _Ctx("select", summary=summary)))
            if q.comparison_key is not None:
                key = A.AliasExpr(q.comparison_key, "comparison_key", pos=q.comparison_key.pos)
                self._names_for([key], extend=True)
                b = self.expr(q.comparison_key, _Ctx("select", summary=summary))
                self._add_output(key, b)
        if aggregate and q.comparison_key is not None:
            raise _berr(
                "'comparison_key:' keys rows (select queries); it cannot be combined with dimensions/measures",
                q.comparison_key,
            )

        if filt is not None:
            ctx = _Ctx("filter", allow_span_filters=True, alias_subst=not aggregate and not summary)
            b = self.expr(filt, ctx)
            b = self._boolean(b, filt)
            bq.filter, bq.filter_spans = self._split_filter_spans(b, filt)
            bq.has_range_filter = self._range_filtered(filt)
        for part in span_filter_parts:
            b = self._boolean(self.expr(part, _Ctx("filter")), part)
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

        if q.final_filter is not None:
            ctx = _Ctx(
                "final_filter",
                summary=summary,
                allow_agg=aggregate,
                outputs_first=True,
            )
            bq.final_filter = self._boolean(self.expr(q.final_filter, ctx), q.final_filter)

        if q.final_dimensions is not None or q.final_measures is not None:
            self._final_stage(bq)

        for s in q.sort or ():
            if aggregate:
                ctx = _Ctx("sort", summary=summary, allow_agg=True, outputs_first=True)
            else:
                ctx = _Ctx("sort", summary=summary, explicit_first=True)
            b = self.expr(s.expr, ctx)
            if b.type in (S.ARRAY, S.MAP, S.INTERVAL):
                raise _terr(f"cannot sort by '{to_text(s.expr)}' (a {b.type})", s.expr)
            if aggregate and not b.agg and not isinstance(b, Bd.BOutRef) and not self._is_dim(b):
                raise _berr(
                    f"sort key '{to_text(s.expr)}' must be a dimension, a measure or an aggregate", s.expr
                )
            if b.type == S.NULL:
                # rows queries sort by what an output reference stands for
                target = self.outputs[b.index].expr if isinstance(b, Bd.BOutRef) and not aggregate else b
                if Bd.contains(target, Bd.VARYING):  # (a constant null orders nothing and is dropped)
                    raise _berr("cannot sort by a null", s.expr)
            bq.sort.append((b, s.dir))

        if q.pivot is not None:
            if bq.stage1 is not None:
                raise _berr(
                    "'pivot:' cannot be combined with 'final_dimensions:'/'final_measures:'", q.pivot[0].expr
                )
            if not aggregate or not bq.ndims:
                raise _berr("'pivot:' needs 'dimensions:' and 'measures:'", q.pivot[0].expr)
            for it in q.pivot:
                e = it.expr
                if not (isinstance(e, A.Ident) and len(e.path) == 1 and isinstance(e.path[0], str)):
                    raise _berr("pivot items must name measures", e)
                name = e.path[0]
                idx = self.out_names.get(name, [])
                if len(idx) != 1 or idx[0] < bq.ndims:
                    known = [o.name for o in self.outputs[bq.ndims :]]
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"; did you mean '{close[0]}'?" if close else ""
                    raise _berr(f"pivot names an unknown measure '{name}'{hint}", e)
                bq.pivot.append(name)

        # the shapes and sampling that unpivot combines with
        if q.unpivot and self.shape != "spans":
            raise BindError("'unpivot:' is only supported with the spans shape", *_where(q.unpivot[0]))
        if q.unpivot and q.sample is not None and q.sample.count is not None:
            raise BindError("count sampling cannot be combined with 'unpivot:'", *_where(q.sample))
        bq.summary_used = self.summary_used
        bq.warnings = self.warnings
        return bq

    # ------------------------------------------------------------------------------ final stage
    def _final_stage(self, bq: BoundQuery) -> None:
        """final_dimensions / final_measures: aggregate the rows of the first aggregation (after
        final_filter) again. Their names resolve only against the first stage's columns."""
        q = self.q
        items = (q.final_dimensions or ()) + (q.final_measures or ())
        if not items:
            raise BindError("'final_dimensions:'/'final_measures:' need at least one item", *_where(q.from_))
        first = items[0].expr
        if not bq.aggregate:
            raise _berr(
                "'final_dimensions:'/'final_measures:' aggregate the result of 'dimensions:'/'measures:'; "
                "add those first",
                first,
            )
        bq.stage1 = self.outputs
        bq.stage1_ndims = bq.ndims
        self.stage1_outputs = self.outputs
        self.stage1_names = self.out_names
        self.outputs = []
        self.out_names = {}
        self._taken = {}
        self._next_suffix = {}
        bq.outputs = self.outputs
        self._out_prefix = "f"
        dims = tuple(q.final_dimensions or ())
        measures = tuple(q.final_measures or ())
        self._names_for(list(dims) + list(measures))
        for it in dims:
            b = self.expr(it.expr, _Ctx("final_dimensions", stage2=True))
            self._check_groupable(b, it.expr)
            self._add_output(it, b)
        bq.ndims = len(dims)
        for it in measures:
            if not A.has_aggregate(it.expr):
                raise _berr(f"final measure '{to_text(it.expr)}' is not an aggregate", it.expr)
            self._add_output(
                it, self.expr(it.expr, _Ctx("final_measures", stage2=True, allow_agg=True, measure=True))
            )

    def _stage1_ref(self, e: A.Ident, ctx: _Ctx) -> Bd.B:
        head = e.path[0]
        idx = self.stage1_names.get(head) if isinstance(head, str) else None
        if not idx:
            known = list(self.stage1_names)
            close = difflib.get_close_matches(str(head), known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f" (columns: {', '.join(known)})"
            raise _berr(
                f"'{ctx.where}:' can only use the columns of dimensions/measures; unknown '{head}'{hint}", e
            )
        if len(idx) > 1:
            raise _berr(f"'{head}' is ambiguous: it names more than one column", e)
        if ctx.measure and not ctx.in_agg:
            raise _berr(f"'{ident_text(e.path)}' must be inside an aggregate in 'final_measures:'", e)
        o = self.stage1_outputs[idx[0]]
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
        raise _terr(f"'{head}' is a {o.expr.type}; it has no sub-fields", e)

    # ------------------------------------------------------------------------------ infer
    def _bind_infer(self) -> BoundQuery:
        q = self.q
        for clause in _INFER_EXCLUSIVE:
            v = getattr(q, clause)
            if v is not None:
                node = v[0] if isinstance(v, tuple) and v else v
                raise BindError(f"'infer:' cannot be combined with '{clause}:'", *_where(node))
        if self.shape != "spans":
            raise BindError("'infer:' works on the spans shape only", *_where(q.from_))
        budget = DEFAULT_INFERENCE_BUDGET if q.inference_budget is None else q.inference_budget
        if not 1 <= budget <= MAX_INFERENCE_BUDGET:
            raise BindError(
                f"inference_budget must be between 1 and {MAX_INFERENCE_BUDGET}", *_where(q.from_)
            )
        items: list[tuple[str, Bd.B]] = []
        for it in q.infer or ():
            if isinstance(it, A.Star):
                for f in S.SPAN_FIELDS:
                    if f.type == S.JSON and self.object_type in f.sources and f.star:
                        items.append((f.name, self._field(f, (), None)))
                continue
            b = self.expr(it, _Ctx("infer"))
            if b.type != S.JSON:
                raise _terr(f"'infer:' lists JSON fields, but '{to_text(it)}' is a {b.type}", it)
            items.append((to_text(it), b))
        seen: dict[str, Bd.B] = {}
        for name, b in items:
            seen.setdefault(name, b)
        bq = BoundQuery(source=self.source, shape=self.shape, aggregate=True, outputs=self.outputs)
        bq.infer = list(seen.items())
        bq.inference_budget = budget
        bq.limit = q.limit
        if q.limit is not None and q.limit < 0:
            raise BindError("limit must be >= 0", *_where(q.from_))
        if q.filter is not None:
            b = self._boolean(self.expr(q.filter, _Ctx("filter")), q.filter)
            bq.filter = b
            bq.has_range_filter = self._range_filtered(q.filter)
        bq.warnings = self.warnings
        return bq

    # ------------------------------------------------------------------------------ select / names
    def _implicit(self, e: A.Expr) -> str:
        if isinstance(e, A.Ident):
            strs = [s for s in e.path if isinstance(s, str)]
            return strs[-1] if strs else to_text(e)
        return to_text(e)

    def _names_for(self, items: list[A.AliasExpr], extend: bool = False) -> None:
        """Check explicit duplicates (documented error) before binding. `extend`: the items are
        added to the outputs bound so far, whose names are taken too."""
        seen: dict[str, A.AliasExpr] = {}
        for it in items:
            if it.alias is not None:
                if it.alias in seen or (extend and it.alias in self._taken):
                    raise _berr(f"duplicate alias '{it.alias}'", it.expr)
                seen[it.alias] = it
        for it in items:
            if it.alias is None:
                name = self._implicit(it.expr)
                prev = seen.get(name)
                if prev is not None and prev.alias is not None:
                    raise _berr(f"duplicate alias '{name}'", it.expr)

    def _select(self, items: tuple[A.SelectItem, ...], summary: bool) -> None:
        alias_items = [it for it in items if isinstance(it, A.AliasExpr)]
        self._names_for(alias_items)
        for it in items:
            if isinstance(it, A.Star):
                for name, b, preview in self._star(summary):
                    if self._explicitly_named(name):
                        raise _berr(f"duplicate alias '{name}'", it)
                    self._add_output(_star_item(name), b, preview=preview, star=True, at=it)
            else:
                ctx = _Ctx("select", summary=summary)
                self._add_output(it, self.expr(it.expr, ctx))

    def _add_output(
        self, it: A.AliasExpr, b: Bd.B, *, preview: bool = False, star: bool = False, at: Any = None
    ) -> None:
        if b.type == S.INTERVAL:
            raise _terr("an interval is not a value; add it to a timestamp", it.expr)
        if len(self.outputs) >= MAX_COLUMNS:
            raise _berr(
                f"a query returns at most {MAX_COLUMNS} columns"
                + (" ('*' expands to every field)" if star else ""),
                at if at is not None else it.expr,
            )
        explicit = it.alias is not None and not star
        name = it.alias if it.alias is not None else self._implicit(it.expr)
        full = (
            name
            if explicit or star
            else ident_text(it.expr.path)
            if isinstance(it.expr, A.Ident)
            else to_text(it.expr)
        )
        group = self.out_names.get(name)
        if group is not None:
            # two implicit names collide: name both by their full path; references become ambiguous.
            # Only the group's first output can be explicit or still carry the short name: every
            # later one was added here, implicit and named by its full path.
            if explicit or self._explicitly_named(name):
                raise _berr(f"duplicate alias '{name}'", it.expr)
            if len(group) == 1:
                first = self.outputs[group[0]]
                if first.name == name and first.full_name != name:
                    self._rename(first, self._unique(first.full_name))
            group.append(len(self.outputs))
            self._append(Output(self._unique(full), b, explicit=False, preview=preview, full_name=full))
            return
        self.out_names[name] = [len(self.outputs)]
        self._append(Output(name, b, explicit=explicit, preview=preview, full_name=full))

    def _explicitly_named(self, name: str) -> bool:
        """Whether an explicit alias already names `name` (it is then the first of its group)."""
        group = self.out_names.get(name)
        return group is not None and self.outputs[group[0]].explicit

    def _append(self, o: Output) -> None:
        self.outputs.append(o)
        self._taken[o.name] = self._taken.get(o.name, 0) + 1

    def _rename(self, o: Output, name: str) -> None:
        left = self._taken[o.name] - 1
        if left:
            self._taken[o.name] = left
        else:  # the name is free again: a suffix search of its base may now find it
            del self._taken[o.name]
            base, _, digits = o.name.rpartition("_")
            if digits.isdigit():
                self._next_suffix.pop(base, None)
        o.name = name
        self._taken[name] = self._taken.get(name, 0) + 1

    def _unique(self, base: str) -> str:
        """`base`, or `base_<i>` with the lowest i >= 1 no output name takes."""
        taken = self._taken
        if base not in taken:
            return base
        i = self._next_suffix.get(base, 1)
        while f"{base}_{i}" in taken:
            i += 1
        self._next_suffix[base] = i  # every lower suffix is taken (until a rename frees one)
        return f"{base}_{i}"

    def _star(self, summary: bool) -> list[tuple[str, Bd.B, bool]]:
        out: list[tuple[str, Bd.B, bool]] = []
        if summary:
            for sf in S.SUMMARY_FIELDS:
                if sf.name == "object_id":
                    name = S.SUMMARY_OBJECT_ID_NAME[self.object_type]
                    out.append((name, self._summary_field("object_id", (), None), False))
                    continue
                if sf.name == "span_count":
                    continue
                out.append((sf.name, self._summary_field(sf.name, (), None), sf.preview))
            out.append(("metrics", self._summary_field("metrics", (), None), False))
            return out
        key = (self.object_type, self.audit_log, self.fast_json)
        fields = _STAR_FIELDS.get(key)
        if fields is None:  # the bound fields of `*` depend only on the key: computed once
            fields = []
            for f in S.SPAN_FIELDS:
                star = f.star or (self.audit_log and f.name == "audit_data")
                if star and self.object_type in f.sources:
                    fields.append((f.name, self._field(f, (), None), False))
            _STAR_FIELDS[key] = fields
        out += fields
        for name, b in self.unpivot_names.items():
            out.append((name, b, False))
        return out

    # ------------------------------------------------------------------------------ unpivot
    def _unpivot(self, u: A.Unpivot, i: int, summary: bool) -> Unpivoted:
        src = self.expr(u.expr, _Ctx("unpivot", summary=summary))
        alias = f"_u{i}"
        for n in u.names:
            if n in self.unpivot_names:
                raise _berr(f"duplicate unpivot name '{n}'", u.expr)
        if len(u.names) == 2:
            if src.type == S.MAP or (isinstance(src, Bd.BCol) and src.type == S.MAP):
                kind = "map"
            elif src.type == S.JSON:
                kind = "object"
            else:
                raise _terr(
                    f"key/value unpivot needs an object, but '{to_text(u.expr)}' is a{'n' if src.type[0] in 'aeiou' else ''} {src.type}",
                    u.expr,
                )
            if isinstance(src, Bd.BJson) and src.base in ("scores", "metrics") and not src.path:
                kind = "map"
                src = Bd.BCol(S.MAP, sql=f"{src.base}_map", nonnull=True)
            self.unpivot_names[u.names[0]] = Bd.BCol(S.STRING, sql=f"{alias}k", nonnull=True)
            if kind == "map":
                self.unpivot_names[u.names[1]] = Bd.BCol(S.NUMBER, sql=f"{alias}v", nonnull=True)
            else:
                self.unpivot_names[u.names[1]] = Bd.BJson(S.JSON, base=f"{alias}v")
            return Unpivoted(kind, src, u.names, alias)
        if src.type == S.ARRAY:
            self.unpivot_names[u.names[0]] = Bd.BCol(S.STRING, sql=f"{alias}v", nonnull=True)
            return Unpivoted("array", src, u.names, alias)
        if src.type == S.JSON:
            self.unpivot_names[u.names[0]] = Bd.BJson(S.JSON, base=f"{alias}v")
            return Unpivoted("json_array", src, u.names, alias)
        raise _terr(f"array unpivot needs an array, but '{to_text(u.expr)}' is a {src.type}", u.expr)

    # ------------------------------------------------------------------------------ helpers
    def _boolean(self, b: Bd.B, node: A.Expr) -> Bd.B:
        if b.type == S.BOOL:
            return b
        if b.type == S.JSON:
            return Bd.BFunc(S.BOOL, name="to_bool", args=(b,), modes=("bool",), agg=b.agg)
        if b.type == S.NULL:
            return Bd.BLit(S.BOOL, value=False)
        raise _terr(f"'{to_text(node)}' is a {b.type}, not a condition", node)

    def _check_groupable(self, b: Bd.B, node: A.Expr) -> None:
        if b.agg:
            raise _berr(f"dimension '{to_text(node)}' cannot contain an aggregate", node)
        if b.type == S.INTERVAL:
            raise _terr("cannot group by an interval", node)

    def _is_dim(self, b: Bd.B) -> bool:
        """Whether `b` is the expression of an output column (sort keys of aggregate queries)."""
        try:
            if self._out_exprs is None or self._out_exprs[0] != len(self.outputs):
                self._out_exprs = (len(self.outputs), {o.expr for o in self.outputs})
            return b in self._out_exprs[1]
        except TypeError:  # an unhashable literal value somewhere: compare one by one
            return any(o.expr == b for o in self.outputs)

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
                    raise _berr("FILTER_SPANS(...) must be a top-level AND term of the filter", node)
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

    def _range_filtered(self, e: A.Expr) -> bool:
        conj = e.args if isinstance(e, A.BoolOp) and e.op == "and" else (e,)
        keys = {"created", "_xact_id", "_pagination_key", "root_span_id", "id"}
        for c in conj:
            if isinstance(c, A.Binary) and c.op in ("eq", "lt", "le", "gt", "ge", "in"):
                for side in (c.left, c.right):
                    if isinstance(side, A.Ident) and side.path[0] in keys and len(side.path) == 1:
                        return True
        return False

    # ------------------------------------------------------------------------------ names
    def _field(self, f: S.Field, rest: tuple[str | int, ...], node: A.Expr | None) -> Bd.B:
        if f.type == S.JSON:
            if not rest:
                if f.json_prefix:
                    return Bd.BJson(S.JSON, base=f.sql, path=f.json_prefix)
                kind = (
                    "object"
                    if f.name in ("scores", "metadata", "metrics", "span_attributes", "origin", "context")
                    else "any"
                )
                return Bd.BJson(S.JSON, base=f.sql, root_kind=kind)
            if len(rest) == 1 and isinstance(rest[0], str):
                if f.map_col:
                    return Bd.BMapGet(S.NUMBER, col=f.map_col, key=rest[0])
                for sub, sql, typ in f.subfields:
                    if sub == rest[0]:
                        return Bd.BCol(typ, sql=sql)
            fast = None
            if f.json_fast and self.fast_json and all(isinstance(s, str) and _PLAIN.match(s) for s in rest):
                fast = f.json_fast
            return Bd.BJson(S.JSON, base=f.sql, path=f.json_prefix + rest, fast=fast)
        if f.type == S.ARRAY:
            if not rest:
                return Bd.BCol(S.ARRAY, sql=f.sql, nonnull=True)
            if len(rest) == 1 and isinstance(rest[0], int):
                return Bd.BArrayIdx(S.STRING, arr=Bd.BCol(S.ARRAY, sql=f.sql, nonnull=True), index=rest[0])
            raise _terr(f"'{f.name}' is an array of strings; index it like {f.name}[0]", node)
        if rest:
            raise _terr(f"'{f.name}' is a {f.type}; it has no sub-fields", node)
        return Bd.BCol(f.type, sql=f.sql, nonnull=f.nonnull, sort_sql=f.sort_sql)

    def _summary_field(self, name: str, rest: tuple[str | int, ...], node: A.Expr | None) -> Bd.B:
        if name in ("log_id", "experiment_id", "dataset_id"):
            if name != S.SUMMARY_OBJECT_ID_NAME[self.object_type]:
                raise _berr(f"field '{name}' is not available on {self.object_type} rows", node)
            name = "object_id"
        if name == "_pagination_key":
            self.summary_used.add("created")
            return Bd.BCol(
                S.STRING,
                sql="concat('p', leftPad(toString(toUnixTimestamp64Micro(_s_created)), 20, '0'), ':', _s_root_span_id)",
                nonnull=True,
                sort_sql=("_s_created", "_s_root_span_id"),
            )
        if name == "metrics":
            if not rest:
                self.summary_used.add("metrics")
                return Bd.BJson(S.JSON, base="_s_metrics", root_kind="object")
            key = rest[0]
            if len(rest) != 1 or not isinstance(key, str) or key not in S.SUMMARY_METRIC_BY_NAME:
                close = difflib.get_close_matches(str(key), list(S.SUMMARY_METRIC_BY_NAME), n=1)
                hint = f"; did you mean 'metrics.{close[0]}'?" if close else ""
                raise _berr(f"unknown summary metric '{ident_text(('metrics', *rest))}'{hint}", node)
            self.summary_used.add("m_" + key)
            return Bd.BCol(S.SUMMARY_METRIC_BY_NAME[key][1], sql=f"_s_m_{key}")
        sf = S.SUMMARY_BY_NAME.get(name)
        if sf is None:
            raise self._unknown(name, [*list(S.SUMMARY_BY_NAME), "metrics", "_pagination_key"], node)
        self.summary_used.add(name)
        col = f"_s_{name}"
        if sf.type == S.JSON:
            return Bd.BJson(S.JSON, base=col, path=rest, root_kind="object" if name != "input" else "any")
        if sf.type == S.MAP:
            if not rest:
                return Bd.BCol(S.MAP, sql=col, nonnull=True)
            if len(rest) == 1 and isinstance(rest[0], str):
                return Bd.BMapGet(S.NUMBER, col=col, key=rest[0])
            raise _terr(f"'{name}' values are numbers; they have no sub-fields", node)
        if sf.type == S.ARRAY:
            if not rest:
                return Bd.BCol(S.ARRAY, sql=col, nonnull=True)
            if len(rest) == 1 and isinstance(rest[0], int):
                return Bd.BArrayIdx(S.STRING, arr=Bd.BCol(S.ARRAY, sql=col, nonnull=True), index=rest[0])
            raise _terr(f"'{name}' is an array of strings; index it like {name}[0]", node)
        if rest:
            raise _terr(f"'{name}' is a {sf.type}; it has no sub-fields", node)
        return Bd.BCol(sf.type, sql=col, nonnull=sf.nonnull, sort_sql=(col,) if sf.nonnull else ())

    def _unknown(self, name: str, known: list[str], node: Any) -> BindError:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return _berr(f"unknown field '{name}'{hint}", node)

    def ident(self, e: A.Ident, ctx: _Ctx) -> Bd.B:
        head = e.path[0]
        if not isinstance(head, str):
            raise _berr("a path must start with a field name", e)
        for seg in e.path:
            if isinstance(seg, int) and not -(2**31) <= seg < 2**31:
                raise _terr("array index is out of range", e)
        if ctx.stage2:
            return self._stage1_ref(e, ctx)
        rest = e.path[1:]
        # names introduced by unpivot
        if head in self.unpivot_names:
            return self._subpath(self.unpivot_names[head], rest, e)
        # output names (sort / final_filter)
        if len(e.path) == 1 and (ctx.outputs_first or ctx.explicit_first):
            idx = self.out_names.get(head)
            if idx and (ctx.outputs_first or self.outputs[idx[0]].explicit):
                return self._out_ref(head, idx, e)
        known = self.fields
        if ctx.summary:
            sname = head
            if sname in S.SUMMARY_BY_NAME or sname in (
                "metrics",
                "_pagination_key",
                "log_id",
                "experiment_id",
                "dataset_id",
            ):
                if ctx.measure and not ctx.in_agg:
                    raise _berr(f"'{ident_text(e.path)}' must be inside an aggregate in 'measures:'", e)
                return self._summary_field(sname, rest, e)
        elif head in known:
            if ctx.measure and not ctx.in_agg:
                raise _berr(f"'{ident_text(e.path)}' must be inside an aggregate in 'measures:'", e)
            return self._field(known[head], rest, e)
        elif head in S.FIELDS_BY_NAME:
            raise _berr(f"field '{head}' is not available on {self.object_type} rows", e)
        # select aliases: implicit ones in sort, any in filter (substituted)
        if len(e.path) == 1:
            idx = self.out_names.get(head)
            if idx and (ctx.explicit_first or ctx.outputs_first):
                return self._out_ref(head, idx, e)
            if idx and ctx.alias_subst:
                if len(idx) > 1:
                    raise _berr(f"'{head}' is ambiguous", e)
                b = self.outputs[idx[0]].expr
                if b.agg:
                    raise _berr(f"'{head}' is an aggregate; use it in 'final_filter:'", e)
                return b
        if ctx.summary:
            raise self._unknown(head, [*list(S.SUMMARY_BY_NAME), "metrics"], e)
        close = self._close_name(head)
        if close is not None:
            raise _berr(f"unknown field '{head}'; did you mean '{close}'?", e)
        # another top-level key of the row: kept in the `extra` JSON column
        if ctx.measure and not ctx.in_agg:
            raise _berr(f"'{ident_text(e.path)}' must be inside an aggregate in 'measures:'", e)
        self._warn(
            "unknownField",
            f"'{head}' is not a known field; it is read as an extra top-level key (null when absent)",
        )
        if self.object_type == S.DATASET:
            pass
        return Bd.BJson(S.JSON, base=S.EXTRA_COLUMN, path=e.path)

    def _close_name(self, head: str) -> str | None:
        """A known field, output or unpivot name `head` is probably a typo of (else None: an extra
        key). Each name is looked up once; when the budget of comparisons is spent, only the
        row's fields are candidates (a query with thousands of unknown names stays linear)."""
        if head in self._suggested:
            return self._suggested[head]
        candidates = list(self.fields)
        extra = len(self.out_names) + len(self.unpivot_names)
        if extra <= self._suggest_left:
            self._suggest_left -= extra
            candidates += list(self.out_names) + list(self.unpivot_names)
        close = difflib.get_close_matches(head, candidates, n=1, cutoff=0.75) if len(head) <= 200 else []
        found = close[0] if close else None
        self._suggested[head] = found
        return found

    def _out_ref(self, name: str, idx: list[int], node: A.Expr) -> Bd.B:
        if len(idx) > 1:
            raise _berr(f"'{name}' is ambiguous: it names more than one column", node)
        o = self.outputs[idx[0]]
        nonnull = isinstance(o.expr, Bd.BCol) and o.expr.nonnull
        return Bd.BOutRef(
            o.expr.type, index=idx[0], alias=f"{self._out_prefix}{idx[0]}", nonnull=nonnull, agg=o.expr.agg
        )

    def _subpath(self, base: Bd.B, rest: tuple[str | int, ...], node: A.Expr) -> Bd.B:
        if not rest:
            return base
        if isinstance(base, Bd.BJson):
            return Bd.BJson(S.JSON, base=base.base, path=base.path + rest)
        raise _terr(f"'{ident_text(node.path if isinstance(node, A.Ident) else ())}' has no sub-fields", node)

    def _warn(self, code: str, message: str) -> None:
        if (code, message) not in self._warned:
            self._warned.add((code, message))
            self.warnings.append({"code": code, "message": message, "stage": "binder", "severity": "warning"})

    # ------------------------------------------------------------------------------ expressions
    def expr(self, e: A.Expr, ctx: _Ctx) -> Bd.B:
        return e.accept(self, ctx)

    # the AST visitor (`ast.ExprVisitor`): one method per node type
    def visit_literal(self, e: A.Literal, ctx: _Ctx) -> Bd.B:
        return self._lit(e)

    def visit_array(self, e: A.Array, ctx: _Ctx) -> Bd.B:
        return self._array(e)

    def visit_interval(self, e: A.Interval, ctx: _Ctx) -> Bd.B:
        return Bd.BInterval(S.INTERVAL, value=e.value, unit=e.unit)

    def visit_star(self, e: A.Star, ctx: _Ctx) -> Bd.B:
        raise _berr("'*' is only allowed as a whole select item or in count(*)", e)

    def visit_boolop(self, e: A.BoolOp, ctx: _Ctx) -> Bd.B:
        if e.op == "and":
            _check_and_size(e)
        args = tuple(self._boolean(a.accept(self, ctx), a) for a in e.args)
        return Bd.BBool(S.BOOL, op=e.op, args=args, agg=any(a.agg for a in args))

    def visit_other(self, e: A.Expr, ctx: _Ctx) -> Bd.B:
        raise _berr(f"unsupported expression {type(e).__name__}", e)

    def _lit(self, e: A.Literal) -> Bd.B:
        v = e.value
        if v is None:
            return Bd.BLit(S.NULL, value=None)
        if isinstance(v, bool):
            return Bd.BLit(S.BOOL, value=v)
        if isinstance(v, int):
            if not -(2**63) <= v < 2**64:
                raise _terr("integer literal is out of range", e)
            return Bd.BLit(S.INTEGER, value=v)
        if isinstance(v, float):
            return Bd.BLit(S.NUMBER, value=v)
        return Bd.BLit(S.STRING, value=v)

    def _array(self, e: A.Array) -> Bd.BArr:
        vals: list[Any] = []
        kinds: set[str] = set()
        for it in e.items:
            if not isinstance(it, A.Literal):
                raise _terr("array items must be literal values", it)
            v = it.value
            if v is None:
                continue
            b = self._lit(it)
            kinds.add(S.NUMBER if b.type in (S.INTEGER, S.NUMBER) else b.type)
            vals.append(v)
        if len(kinds) > 1:
            raise _terr("array items must all be strings, all numbers or all booleans", e)
        elem = kinds.pop() if kinds else S.STRING
        return Bd.BArr(S.ARRAY, values=tuple(vals), elem=elem)

    def _unary(self, e: A.Unary, ctx: _Ctx) -> Bd.B:
        x = self.expr(e.expr, ctx)
        if e.op == "not":
            x = self._boolean(x, e.expr)
            return Bd.BNot(S.BOOL, x=x, agg=x.agg)
        if e.op == "neg":
            if x.type == S.JSON:
                return Bd.BNeg(S.NUMBER, x=x, agg=x.agg)
            if x.type not in (S.NUMBER, S.INTEGER):
                raise _terr(f"cannot negate a {x.type}", e.expr)
            return Bd.BNeg(x.type, x=x, agg=x.agg)
        if e.op in ("isnull", "isnotnull"):
            return Bd.BIsNull(S.BOOL, x=x, negate=e.op == "isnotnull", agg=x.agg)
        raise _berr(f"unknown operator {e.op}", e)

    def _if(self, e: A.If, ctx: _Ctx) -> Bd.B:
        conds = [(self._boolean(self.expr(c, ctx), c), self.expr(t, ctx)) for c, t in e.conds]
        els = self.expr(e.else_, ctx) if e.else_ is not None else Bd.BLit(S.NULL, value=None)
        branches = [t for _, t in conds] + [els]
        typ, mode = self._unify([b for b in branches], [t for _, t in e.conds] + [e.else_ or e])
        agg = any(c.agg or t.agg for c, t in conds) or els.agg
        return Bd.BIf(typ, conds=tuple(conds), else_=els, mode=mode, agg=agg)

    def _unify(self, items: list[Bd.B], nodes: list[Any]) -> tuple[str, str | None]:
        """Common type of branches (ternary, coalesce, ...) and the mode to render JSON ones."""
        types = {b.type for b in items if b.type not in (S.NULL, S.JSON)}
        has_json = any(b.type == S.JSON for b in items)
        if not types:
            return (S.JSON, "value") if has_json else (S.NULL, None)
        if types <= {S.INTEGER}:
            return S.INTEGER, "number"
        if types <= {S.NUMBER, S.INTEGER}:
            return S.NUMBER, "number"
        if len(types) == 1:
            t = types.pop()
            return t, _mode_for(t)
        if types <= {S.XACT, S.INTEGER}:
            return S.XACT, "xact"
        raise _terr(f"branches have different types: {', '.join(sorted(types))}", nodes[0])

    # ---------------------------------------------------------------------- binary operators
    def _binary(self, e: A.Binary, ctx: _Ctx) -> Bd.B:
        op = e.op
        if op == "in":
            return self._in(e, ctx)
        lhs = self.expr(e.left, ctx)
        r = self.expr(e.right, ctx)
        agg = lhs.agg or r.agg
        if op in ("eq", "ne", "lt", "le", "gt", "ge", "nseq", "nsne"):
            return self._cmp(op, lhs, r, e, agg)
        if op in ("add", "sub", "mul", "div", "mod"):
            return self._arith(op, lhs, r, e, agg)
        if op in ("like", "ilike"):
            if r.type not in (S.STRING, S.JSON) and not (r.type == S.NULL):
                raise _terr(f"the {op.upper()} pattern must be a string, got a {r.type}", e.right)
            if lhs.type not in (S.STRING, S.JSON, S.NULL):
                raise _terr(f"{op.upper()} needs a string, but '{to_text(e.left)}' is a {lhs.type}", e.left)
            return Bd.BLike(S.BOOL, x=lhs, pattern=r, ci=op == "ilike", agg=agg)
        if op == "match":
            if not (isinstance(r, Bd.BLit) and isinstance(r.value, str)):
                raise _terr("MATCH needs a string literal on the right", e.right)
            if lhs.type not in (S.STRING, S.JSON, S.ARRAY):
                raise _terr(f"MATCH needs text, but '{to_text(e.left)}' is a {lhs.type}", e.left)
            return Bd.BMatch(S.BOOL, x=lhs, tokens=match_tokens(r.value), query=r.value, agg=agg)
        if op == "includes":
            return self._includes(lhs, r, e, agg)
        raise _berr(f"unknown operator {op}", e)

    def _cmp(self, op: str, lhs: Bd.B, r: Bd.B, e: A.Binary, agg: bool) -> Bd.B:
        if (isinstance(r, Bd.BLit) and r.value is None) or (isinstance(lhs, Bd.BLit) and lhs.value is None):
            other = lhs if isinstance(r, Bd.BLit) and r.value is None else r
            if op in ("eq", "nseq"):
                return Bd.BIsNull(S.BOOL, x=other, agg=agg)
            if op in ("ne", "nsne"):
                return Bd.BIsNull(S.BOOL, x=other, negate=True, agg=agg)
            raise _terr("cannot order-compare with null; use IS NULL / IS NOT NULL", e)
        mode = self._cmp_mode(lhs, r, e, ordering=op in ("lt", "le", "gt", "ge"))
        return Bd.BCmp(S.BOOL, op=op, left=lhs, right=r, mode=mode, agg=agg)

    def _cmp_mode(self, lhs: Bd.B, r: Bd.B, e: A.Binary, ordering: bool) -> str:
        lt, rt = lhs.type, r.type
        if lt == S.JSON and rt == S.JSON:
            return "number" if ordering else "raw"
        if lt == S.JSON or rt == S.JSON:
            t = rt if lt == S.JSON else lt
            other = r if lt == S.JSON else lhs
            if t in (S.ARRAY, S.MAP, S.INTERVAL):
                raise _terr(f"cannot compare with a{'n' if t[0] in 'aeiou' else ''} {t}", e)
            if t == S.STRING and isinstance(other, Bd.BLit) and ordering:
                return "string"
            return _mode_for(t)
        for a, b in ((lhs, r), (r, lhs)):
            if a.type == S.DATETIME and b.type == S.STRING:
                return "datetime"
            if a.type == S.XACT and b.type == S.STRING:
                if isinstance(b, Bd.BLit) and not str(b.value).isdigit():
                    raise _terr(f"'{b.value}' is not a transaction id", e)
                return "xact"
            if a.type == S.XACT and b.type in (S.INTEGER, S.XACT):
                return "xact"
        if lt in (S.NUMBER, S.INTEGER) and rt in (S.NUMBER, S.INTEGER):
            return "number"
        if lt == rt and lt in (S.STRING, S.BOOL, S.DATETIME):
            return _mode_for(lt)
        if {lt, rt} == {S.BOOL, S.INTEGER}:
            return "bool"
        raise _terr(
            f"cannot compare a{'n' if lt[0] in 'aeiou' else ''} {lt} with a{'n' if rt[0] in 'aeiou' else ''} {rt}",
            e,
        )

    def _arith(self, op: str, lhs: Bd.B, r: Bd.B, e: A.Binary, agg: bool) -> Bd.B:
        lt, rt = lhs.type, r.type
        if lt == S.DATETIME and rt == S.INTERVAL and op in ("add", "sub"):
            return Bd.BArith(S.DATETIME, op=op, left=lhs, right=r, agg=agg)
        if lt == S.INTERVAL and rt == S.DATETIME and op == "add":
            return Bd.BArith(S.DATETIME, op=op, left=r, right=lhs, agg=agg)
        if S.INTERVAL in (lt, rt):
            raise _terr("an interval can only be added to or subtracted from a timestamp", e)
        if lt == S.DATETIME and rt == S.DATETIME and op == "sub":
            return Bd.BArith(S.NUMBER, op="dtdiff", left=lhs, right=r, agg=agg)
        if S.DATETIME in (lt, rt):
            raise _terr("a timestamp can only be shifted by an interval (e.g. created + interval 1 day)", e)
        ok = {S.NUMBER, S.INTEGER, S.JSON, S.NULL, S.BOOL}
        for side, t, node in ((lhs, lt, e.left), (r, rt, e.right)):
            if t not in ok:
                raise _terr(
                    f"arithmetic needs numbers, but '{to_text(node)}' is a{'n' if t[0] in 'aeiou' else ''} {t}",
                    node,
                )
            del side
        typ = S.INTEGER if lt == rt == S.INTEGER and op in ("add", "sub", "mul", "mod") else S.NUMBER
        return Bd.BArith(typ, op=op, left=lhs, right=r, lmode="number", rmode="number", agg=agg)

    def _in(self, e: A.Binary, ctx: _Ctx) -> Bd.B:
        x = self.expr(e.left, ctx)
        if not isinstance(e.right, A.Array):
            raise _terr("IN needs a list of values", e.right)
        arr = self._array(e.right)
        if x.type == S.JSON:
            mode = {S.STRING: "string", S.NUMBER: "number", S.BOOL: "bool"}.get(arr.elem, "string")
        elif x.type in (S.NUMBER, S.INTEGER) and arr.elem == S.NUMBER:
            mode = "number"
        elif x.type == S.XACT and arr.elem in (S.NUMBER, S.STRING):
            if not all(str(v).isdigit() for v in arr.values):
                raise _terr("IN values for _xact_id must be transaction ids", e.right)
            mode = "xact"
        elif x.type == S.DATETIME and arr.elem == S.STRING:
            mode = "datetime"
        elif x.type == arr.elem and x.type in (S.STRING, S.BOOL):
            mode = _mode_for(x.type)
        elif not arr.values:
            mode = "string"
        else:
            raise _terr(f"cannot test a {x.type} against a list of {arr.elem}s", e)
        return Bd.BIn(S.BOOL, x=x, values=arr, mode=mode, agg=x.agg)

    def _includes(self, hay: Bd.B, needle: Bd.B, e: A.Binary, agg: bool) -> Bd.B:
        if needle.type in (S.ARRAY, S.MAP, S.INTERVAL):
            raise _terr("INCLUDES needs a single value to look for", e.right)
        if hay.type == S.ARRAY:
            if needle.type not in (S.STRING, S.JSON):
                raise _terr(f"'{to_text(e.left)}' holds strings, not {needle.type}s", e.right)
            return Bd.BIncludes(S.BOOL, hay=hay, needle=needle, mode="string", agg=agg)
        if hay.type == S.JSON:
            mode = (
                "number"
                if needle.type in (S.NUMBER, S.INTEGER)
                else "bool"
                if needle.type == S.BOOL
                else "string"
            )
            return Bd.BIncludes(S.BOOL, hay=hay, needle=needle, mode=mode, agg=agg)
        if hay.type == S.MAP:
            if needle.type not in (S.STRING,):
                raise _terr("INCLUDES on scores looks for a key name (a string)", e.right)
            return Bd.BIncludes(S.BOOL, hay=hay, needle=needle, mode="mapkey", agg=agg)
        raise _terr(
            f"INCLUDES needs an array, but '{to_text(e.left)}' is a{'n' if hay.type[0] in 'aeiou' else ''} {hay.type}",
            e.left,
        )

    # ---------------------------------------------------------------------- functions
    def _agg(self, e: A.Call, ctx: _Ctx) -> Bd.B:
        name = e.name
        if ctx.in_agg:
            raise _berr(f"aggregates cannot be nested ({name}() inside another aggregate)", e)
        if not ctx.allow_agg:
            where = {"filter": "'filter:' (use 'final_filter:')", "dims": "'dimensions:'"}.get(
                ctx.where, f"'{ctx.where}:'"
            )
            raise _berr(f"aggregate {name}() is not allowed in {where}", e)
        inner = ctx.derive(in_agg=True, allow_agg=False)
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
                raise _berr("percentile() takes 2 arguments: a value and p in [0, 1]", e)
            pv = e.args[1]
            if not (
                isinstance(pv, A.Literal)
                and isinstance(pv.value, int | float)
                and not isinstance(pv.value, bool)
            ):
                raise _terr("percentile p must be a number literal between 0 and 1", pv)
            p = float(pv.value)
            if not 0.0 <= p <= 1.0:
                raise _terr(f"percentile p must be between 0 and 1, got {pv.value}", pv)
            x = self.expr(e.args[0], inner)
            self._numeric(x, e.args[0], name)
            return Bd.BAgg(S.NUMBER, name="percentile", arg=x, mode="number", p=p, agg=True)
        if len(e.args) != 1:
            raise _berr(f"{name}() takes 1 argument, got {len(e.args)}", e)
        if isinstance(e.args[0], A.Star):
            raise _berr("'*' is only allowed in count(*)", e)
        x = self.expr(e.args[0], inner)
        if x.type == S.INTERVAL:
            raise _terr("cannot aggregate an interval", e.args[0])
        if name == "count":
            return Bd.BAgg(
                S.INTEGER, name="count_distinct" if e.distinct else "count", arg=x, mode="value", agg=True
            )
        if name == "count_distinct":
            return Bd.BAgg(S.INTEGER, name="count_distinct", arg=x, mode="value", agg=True)
        if name in ("sum", "avg"):
            self._numeric(x, e.args[0], name)
            typ = S.INTEGER if name == "sum" and x.type == S.INTEGER else S.NUMBER
            return Bd.BAgg(typ, name=name, arg=x, mode="number", agg=True)
        if name in ("min", "max"):
            if x.type in (S.ARRAY, S.MAP):
                raise _terr(
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

    def _numeric(self, x: Bd.B, node: A.Expr, fn: str) -> None:
        if x.type not in (S.NUMBER, S.INTEGER, S.JSON, S.BOOL, S.NULL, S.XACT):
            raise _terr(
                f"{fn}() needs numbers, but '{to_text(node)}' is a{'n' if x.type[0] in 'aeiou' else ''} {x.type}",
                node,
            )

    def _span_filter(self, e: A.Call, ctx: _Ctx) -> Bd.B:
        name = e.name
        if ctx.where == "filter_spans":
            raise _berr(f"{name.upper()}() cannot be used inside FILTER_SPANS()", e)
        if not ctx.allow_span_filters:
            raise _berr(f"{name.upper()}() is only allowed in 'filter:'", e)
        if len(e.args) != 1:
            raise _berr(f"{name.upper()}() takes 1 argument", e)
        if ctx.summary:
            raise _berr(f"{name.upper()}() is only allowed in 'filter:'", e)
        if name == "any_span":
            if ctx.span_depth >= 2:
                raise _berr("ANY_SPAN() nesting deeper than two levels is not supported", e)
            inner = ctx.derive(span_depth=ctx.span_depth + 1)
            pred = self._boolean(self.expr(e.args[0], inner), e.args[0])
            return Bd.BAnySpan(S.BOOL, pred=pred)
        if ctx.span_depth:
            raise _berr("FILTER_SPANS() cannot be used inside ANY_SPAN()", e)
        inner = ctx.derive(allow_span_filters=False, where="filter_spans")
        pred = self._boolean(self.expr(e.args[0], inner), e.args[0])
        return Bd.BFilterSpans(S.BOOL, pred=pred)

    def _call(self, e: A.Call, ctx: _Ctx) -> Bd.B:
        name = e.name
        spec = F.BY_NAME.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, F.NAMES, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise _berr(f"unknown function '{name}'{hint}", e)
        if spec.kind == "aggregate":
            return self._agg(e, ctx)
        if spec.kind == "span":
            return self._span_filter(e, ctx)
        lo, hi = spec.lo, spec.hi
        if not lo <= len(e.args) <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi < 99 else f"at least {lo}"
            raise _berr(f"{name}() takes {want} argument{'s' if hi != 1 else ''}, got {len(e.args)}", e)
        if e.distinct:
            raise _berr(f"DISTINCT is only allowed in aggregates, not in {name}()", e)
        if any(isinstance(a, A.Star) for a in e.args):
            raise _berr(f"'*' is not an argument of {name}()", e)
        hook = _HOOKS.get(name)
        if hook is not None:
            return hook(self, spec, e, ctx)
        # a plain function: bind the arguments, check their kinds, type from the catalogue
        bargs = tuple(self.expr(a, ctx) for a in e.args)
        for i, (b, a) in enumerate(zip(bargs, e.args, strict=True)):
            self._check_arg(spec.arg(i).kind, b, a, name)
        return Bd.BFunc(
            spec.result,
            name=spec.bound_name,
            args=bargs,
            modes=tuple(spec.arg_mode for _ in bargs) if spec.arg_mode else (),
            opt=spec.opt,
            agg=any(b.agg for b in bargs),
        )

    def _check_arg(self, kind: str, b: Bd.B, node: A.Expr, fn: str) -> None:
        """The argument-kind checks of the catalogue (`functions.ArgKind`)."""
        t = b.type
        an = "n" if t[0] in "aeiou" else ""
        if kind == "timestamp":
            self._datetime_arg(b, node, fn)
        elif kind == "text":
            self._texty(b, node, fn)
        elif kind == "number":
            self._numeric(b, node, fn)
        elif kind == "scalar":
            if t in (S.ARRAY, S.MAP, S.INTERVAL):
                raise _terr(f"{fn}() cannot take a{an} {t}", node)
        elif kind == "collection":
            if t not in (S.ARRAY, S.JSON, S.STRING, S.MAP):
                raise _terr(f"{fn}() needs an array, object or string, not a {t}", node)
        elif kind == "convertible" and t in (S.MAP, S.INTERVAL):
            raise _terr(f"{fn}() cannot convert a {t}", node)

    # ------------------------------------------------------------------ bind hooks (functions.py)
    def _bind_date_trunc(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        args = e.args
        unit = args[0]
        if not (
            isinstance(unit, A.Literal) and isinstance(unit.value, str) and unit.value.lower() in F.DATE_UNITS
        ):
            raise _terr(
                "date_trunc unit must be one of 'second', 'minute', 'hour', 'day', 'week', 'month', 'year'",
                unit,
            )
        ts = self._datetime_arg(self.expr(args[1], ctx), args[1], spec.name)
        return Bd.BFunc(
            S.DATETIME, name="trunc", args=(ts,), modes=("datetime",), opt=unit.value.lower(), agg=ts.agg
        )

    def _bind_to_interval(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        return _to_interval(e.args[0])

    def _bind_contains(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        args = e.args
        hay, needle = self.expr(args[0], ctx), self.expr(args[1], ctx)
        return self._includes(
            hay,
            needle,
            A.Binary(op="includes", left=args[0], right=args[1], pos=e.pos),
            hay.agg or needle.agg,
        )

    def _bind_json_extract(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        args = e.args
        src, key_b = self.expr(args[0], ctx), self.expr(args[1], ctx)
        agg = src.agg or key_b.agg
        key = args[1]
        if not (isinstance(key, A.Literal) and isinstance(key.value, str)):
            raise _terr("json_extract key must be a string literal", key)
        if src.type not in (S.JSON, S.STRING, S.NULL):
            raise _terr(f"json_extract needs JSON text, not a {src.type}", args[0])
        text = Bd.BFunc(S.STRING, name="as_string", args=(src,), modes=("string",), agg=agg)
        return Bd.BJson(S.JSON, base=text, path=(key.value,), agg=agg)

    def _bind_coalesce(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        name, args = spec.name, e.args
        bargs = [self.expr(a, ctx) for a in args]
        agg = any(b.agg for b in bargs)
        typ, mode = self._unify(bargs, list(args))
        if name != "coalesce" and typ not in (S.NUMBER, S.INTEGER, S.DATETIME, S.STRING, S.XACT, S.JSON):
            raise _terr(f"{name}() needs comparable values", e)
        if typ == S.JSON and name != "coalesce":
            typ, mode = S.NUMBER, "number"
        f = Bd.BFunc(typ, name=name, args=tuple(bargs), modes=tuple(mode for _ in bargs), agg=agg)
        if typ == S.JSON:
            return Bd.BJson(S.JSON, base=f, agg=agg)
        return f

    def _bind_nullif(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        args = e.args
        bargs = [self.expr(a, ctx) for a in args]
        agg = any(b.agg for b in bargs)
        typ, mode = self._unify(bargs, list(args))
        if typ == S.JSON:
            f = Bd.BFunc(S.JSON, name="nullif", args=tuple(bargs), modes=("value", "value"), agg=agg)
            return Bd.BJson(S.JSON, base=f, agg=agg)
        return Bd.BFunc(typ, name="nullif", args=tuple(bargs), modes=(mode, mode), agg=agg)

    def _bind_round(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        args = e.args
        bargs = [self.expr(a, ctx) for a in args]
        agg = any(b.agg for b in bargs)
        self._numeric(bargs[0], args[0], spec.name)
        prec = 0
        if len(args) == 2:
            pa = args[1]
            if not (
                isinstance(pa, A.Literal) and isinstance(pa.value, int) and not isinstance(pa.value, bool)
            ):
                raise _terr("round() precision must be an integer literal", pa)
            if not -20 <= pa.value <= 20:
                raise _terr("round() precision must be between -20 and 20", pa)
            prec = pa.value
        return Bd.BFunc(S.NUMBER, name="round", args=(bargs[0],), modes=("number",), opt=prec, agg=agg)

    def _bind_isnull(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        x = self.expr(e.args[0], ctx)
        return Bd.BIsNull(S.BOOL, x=x, negate=spec.name == "isnotnull", agg=x.agg)

    def _bind_search(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        q = e.args[0]
        if not (isinstance(q, A.Literal) and isinstance(q.value, str)):
            raise _terr("search() needs a string literal", q)
        toks = match_tokens(q.value)
        cols = [c for c in ("input", "output", "expected", "metadata", "span_attributes") if c in self.fields]
        parts = tuple(
            Bd.BMatch(S.BOOL, x=Bd.BJson(S.JSON, base=self.fields[c].sql), tokens=toks, query=q.value)
            for c in cols
        )
        return Bd.BBool(S.BOOL, op="or", args=parts)

    def _bind_estimated_cost(self, spec: F.FunctionSpec, e: A.Call, ctx: _Ctx) -> Bd.B:
        if "metrics" not in self.fields:
            raise _berr(f"estimated_cost() is not available on {self.object_type} rows", e)
        if ctx.summary:
            self.summary_used.add("m_estimated_cost")
            return Bd.BCol(S.NUMBER, sql="_s_m_estimated_cost")
        return Bd.BMapGet(S.NUMBER, col="metrics_map", key="estimated_cost")

    def _datetime_arg(self, b: Bd.B, node: A.Expr, fn: str) -> Bd.B:
        if b.type in (S.DATETIME, S.JSON, S.STRING, S.NULL):
            return b
        raise _terr(
            f"{fn}() needs a timestamp, but '{to_text(node)}' is a{'n' if b.type[0] in 'aeiou' else ''} {b.type}",
            node,
        )

    def _texty(self, b: Bd.B, node: A.Expr, fn: str) -> None:
        if b.type not in (S.STRING, S.JSON, S.NULL):
            raise _terr(
                f"{fn}() needs a string, but '{to_text(node)}' is a{'n' if b.type[0] in 'aeiou' else ''} {b.type}",
                node,
            )

    # the visitor's methods for these node types are the binding methods themselves (one call
    # less per node on the hot path)
    visit_ident = ident
    visit_unary = _unary
    visit_binary = _binary
    visit_if = _if
    visit_call = _call


def summary_preview(name: str) -> bool:
    sf = S.SUMMARY_BY_NAME.get(name)
    return bool(sf and sf.preview)


def _mode_for(t: str) -> str:
    return {
        S.STRING: "string",
        S.NUMBER: "number",
        S.INTEGER: "number",
        S.BOOL: "bool",
        S.DATETIME: "datetime",
        S.XACT: "xact",
    }.get(t, "value")


# bind hooks of the catalogue's odd functions (`FunctionSpec.hook`), by function name
_Hook = Callable[[Binder, F.FunctionSpec, A.Call, _Ctx], Bd.B]
_HOOKS: dict[str, _Hook] = {
    f.name: getattr(Binder, f.hook) for f in F.FUNCTIONS if f.kind == "scalar" and f.hook is not None
}
SCALAR_FUNCTIONS = F.SCALAR_NAMES


@functools.lru_cache(maxsize=256)
def _star_item(name: str) -> A.AliasExpr:
    """The select item `name as name` that `*` expands to (immutable, so shared)."""
    return A.AliasExpr(A.Ident(path=(name,)), name)


# `select: *` on span rows: (object type, audit_log, fast_json) -> (name, bound field, preview)
_STAR_FIELDS: dict[tuple[str, bool, bool], list[tuple[str, Bd.B, bool]]] = {}

_INTERVAL_TEXT = re.compile(r"\s*(?:interval\s+)?([+-]?[0-9]{1,12})\s*([a-z]+?)s?\s*", re.I)


def _to_interval(a: A.Expr) -> Bd.BInterval:
    """`to_interval('2 hours')` (or of an interval): an interval known when the query compiles."""
    if isinstance(a, A.Interval):
        return Bd.BInterval(S.INTERVAL, value=a.value, unit=a.unit)
    if not (isinstance(a, A.Literal) and isinstance(a.value, str)):
        raise _terr("to_interval() needs a string literal such as '1 day' or '3 hours'", a)
    m = _INTERVAL_TEXT.fullmatch(a.value)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in INTERVAL_UNITS:
        raise _terr(
            f"to_interval() cannot read {a.value[:40]!r}: write '<integer> <unit>' with a unit of "
            + ", ".join(INTERVAL_UNITS),
            a,
        )
    return Bd.BInterval(S.INTERVAL, value=int(m.group(1)), unit=unit)
