"""Where an expression is being bound: which names it sees and what it may contain.

A `BindContext` is immutable. The context of each clause comes from `for_clause`; a
sub-expression's context is derived by a named step (`inside_aggregate`, `inside_any_span`,
`inside_filter_spans`), computed with `dataclasses.replace` once per distinct context and then
reused, so deriving costs a dict lookup on the binder's hot path.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BindContext:
    # the clause, as error messages name it: filter | select | dims | measures | sort | final_filter
    # | final_dimensions | final_measures | unpivot | infer | filter_spans (inside FILTER_SPANS())
    where: str
    summary: bool = False  # names resolve against summary rows
    allow_agg: bool = False  # aggregates may appear here
    in_agg: bool = False  # inside an aggregate's argument
    allow_span_filters: bool = False  # ANY_SPAN() / FILTER_SPANS() may appear here
    span_depth: int = 0  # how many ANY_SPAN() enclose the expression
    outputs_first: bool = False  # output names shadow fields (aggregate sort/final_filter)
    explicit_first: bool = False  # explicit select aliases shadow fields (rows sort)
    alias_subst: bool = False  # select aliases usable by substitution (filter)
    measure: bool = False  # fields must be inside an aggregate
    stage2: bool = False  # names resolve only against the first aggregation stage's columns

    def inside_aggregate(self) -> BindContext:
        """The context of an aggregate's argument (no nested aggregates)."""
        return _derived(self, "aggregate")

    def inside_any_span(self) -> BindContext:
        """The context of ANY_SPAN()'s predicate (one level deeper)."""
        return _derived(self, "any_span")

    def inside_filter_spans(self) -> BindContext:
        """The context of FILTER_SPANS()'s predicate (no span functions inside)."""
        return _derived(self, "filter_spans")


@functools.cache
def _derived(ctx: BindContext, step: str) -> BindContext:
    # contexts are few (clauses x flags, ANY_SPAN depth <= 2), so the cache stays small
    if step == "aggregate":
        return dataclasses.replace(ctx, in_agg=True, allow_agg=False)
    if step == "any_span":
        return dataclasses.replace(ctx, span_depth=ctx.span_depth + 1)
    if step == "filter_spans":
        return dataclasses.replace(ctx, allow_span_filters=False, where="filter_spans")
    raise ValueError(f"unknown context step {step!r}")


@functools.cache
def for_clause(clause: str, summary: bool, aggregate: bool) -> BindContext:
    """The context of one clause's expressions. `summary`: the query reads summary rows;
    `aggregate`: it has dimensions/measures (or only aggregates in `select:`)."""
    if clause in ("select", "dims", "unpivot"):
        return BindContext(clause, summary=summary)
    if clause == "measures":
        return BindContext(clause, summary=summary, allow_agg=True, measure=True)
    if clause == "filter":  # names of span rows; select aliases substitute in rows queries
        return BindContext(clause, allow_span_filters=True, alias_subst=not aggregate and not summary)
    if clause in ("span_filter", "infer_filter"):  # filters without ANY_SPAN / FILTER_SPANS
        return BindContext("filter")
    if clause == "final_filter":
        return BindContext(clause, summary=summary, allow_agg=aggregate, outputs_first=True)
    if clause == "sort":
        if aggregate:
            return BindContext(clause, summary=summary, allow_agg=True, outputs_first=True)
        return BindContext(clause, summary=summary, explicit_first=True)
    if clause == "final_dimensions":
        return BindContext(clause, stage2=True)
    if clause == "final_measures":
        return BindContext(clause, stage2=True, allow_agg=True, measure=True)
    if clause == "infer":
        return BindContext(clause)
    raise ValueError(f"unknown clause {clause!r}")
