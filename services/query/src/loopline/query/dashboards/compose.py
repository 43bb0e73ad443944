"""A chart's BTQL + a dashboard view → one BTQL query over the project's logs (AST and text).

Composition works on the parsed query, never on strings: the source becomes
`project_logs('<project>')`, the view's time range and filters are AND-ed onto the chart's
filter, and a time-bucket dimension (`hour(created)`, ...) takes the view's granularity (unless
the chart fixes its own). `query_text` writes the composed query back as BTQL text (what the
sandbox opens); `parse(query_text(q)) == q` (tests/test_dashboards_compose.py).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from loopline.btql import ast as A
from loopline.btql.unparse import ident_text, quote_string, to_text
from loopline.common.errors import ServiceError
from loopline.query.dashboards.models import GRANULARITIES, Chart, View

from loopline import btql

# clauses a chart's query may use (the others are refused with a 400 naming them)
_ALLOWED = frozenset({"select", "dimensions", "measures", "pivot", "filter", "sort", "limit"})
_FIELDS = tuple(f.name for f in dataclasses.fields(A.Query) if f.name not in ("syntax", "pos"))
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_FILTER_PREFIX = "filter: "


def window(view: View, now: datetime) -> tuple[datetime, datetime] | None:
    """The view's time range [start, end). A relative range ends at the end of the current hour
    (hour-aligned bounds: charts bucket by hour or coarser, and pre-aggregated hours answer whole
    hours). None when the view names no range."""
    end = _ts(view.end, "end") if view.end else None
    start = _ts(view.start, "start") if view.start else None
    if view.range is not None:
        if start is not None:
            raise ServiceError(400, "give either 'range' or 'start'/'end', not both", field="view.range")
        if end is None:
            end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        n, unit = int(view.range[:-1]), view.range[-1]
        return end - n * _UNIT[unit], end
    if start is None:
        if end is not None:
            raise ServiceError(400, "'end' needs a 'start' (or a 'range')", field="view.end")
        return None
    end = end or now.astimezone(UTC)
    if end <= start:
        raise ServiceError(400, "'end' must be after 'start'", field="view.end")
    return start, end


def _ts(text: str, field: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ServiceError(
            400, f"'{field}' must be an ISO 8601 timestamp, got {text!r}", field=f"view.{field}"
        ) from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_filters(filters: tuple[str, ...]) -> list[A.Expr]:
    """Each filter as a BTQL expression; a bad one is a 400 with its index, line and column."""
    out: list[A.Expr] = []
    for i, text in enumerate(filters):
        try:
            q = btql.parse(_FILTER_PREFIX + text)
        except btql.BtqlError as exc:
            col = exc.column
            if exc.line == 1 and col is not None:
                col = max(1, col - len(_FILTER_PREFIX))
            raise ServiceError(
                400, f"filter {i}: {exc.message}", field=f"view.filters[{i}]", line=exc.line, column=col
            ) from None
        extra = [f for f in _FIELDS if f != "filter" and getattr(q, f) is not None]
        if q.filter is None or extra:
            raise ServiceError(
                400, f"filter {i} must be one BTQL expression (no clauses)", field=f"view.filters[{i}]"
            )
        out.append(q.filter)
    return out


def parse_chart(chart: Chart, index: int | None = None) -> A.Query:
    """The chart's query, parsed; refuses what a chart may not say (a source, other clauses)."""
    where: dict[str, Any] = (
        {"chart": chart.id} if index is None else {"chart": chart.id, "field": f"charts[{index}].query"}
    )
    try:
        q = btql.parse(chart.query)
    except btql.BtqlError as exc:
        raise ServiceError(
            400, f"chart {chart.id!r}: {exc.message}", line=exc.line, column=exc.column, **where
        ) from None
    if q.syntax != "btql":
        raise ServiceError(400, f"chart {chart.id!r}: write the chart's query in BTQL pipe syntax", **where)
    if q.from_ is not None:
        raise ServiceError(
            400,
            f"chart {chart.id!r}: a chart's query has no 'from:' (the dashboard's project is its source)",
            **where,
        )
    bad = [f for f in _FIELDS if f not in _ALLOWED and getattr(q, f) is not None]
    if bad:
        raise ServiceError(
            400, f"chart {chart.id!r}: clause(s) not supported in charts: {', '.join(bad)}", **where
        )
    if q.select is None and q.dimensions is None and q.measures is None:
        raise ServiceError(
            400, f"chart {chart.id!r}: the query selects nothing (select:, dimensions: or measures:)", **where
        )
    return q


def _rebucket(e: A.Expr, granularity: str) -> A.Expr:
    if (
        isinstance(e, A.Call)
        and e.name in GRANULARITIES
        and len(e.args) == 1
        and isinstance(e.args[0], A.Ident)
        and e.args[0].path == ("created",)
        and e.name != granularity
    ):
        return dataclasses.replace(e, name=granularity)
    return e


def compose(chart: Chart, q: A.Query, project_id: str, view: View, now: datetime) -> A.Query:
    """The chart's query `q` over the project's logs with the view applied."""
    conds: list[A.Expr] = [q.filter] if q.filter is not None else []
    span = window(view, now)
    if span is not None:
        created = A.Ident(path=("created",))
        conds += [
            A.Binary(op="ge", left=created, right=A.Literal(value=_iso(span[0]))),
            A.Binary(op="lt", left=created, right=A.Literal(value=_iso(span[1]))),
        ]
    conds += parse_filters(view.filters)
    flat: list[A.Expr] = []  # AND of ANDs is one AND (as the parser reads the text back)
    for c in conds:
        flat.extend(c.args if isinstance(c, A.BoolOp) and c.op == "and" else (c,))
    conds = flat
    filt: A.Expr | None = None
    if len(conds) == 1:
        filt = conds[0]
    elif conds:
        filt = A.BoolOp(op="and", args=tuple(conds))
    dims = q.dimensions
    granularity = chart.spec.granularity or view.granularity
    if dims is not None and granularity is not None:
        dims = tuple(dataclasses.replace(d, expr=_rebucket(d.expr, granularity)) for d in dims)
    source = A.Source(name="project_logs", args=(A.Literal(value=project_id),))
    return dataclasses.replace(q, from_=source, filter=filt, dimensions=dims)


# ------------------------------------------------------------------------------------- text


def _alias(a: A.AliasExpr) -> str:
    text = to_text(a.expr)
    return text if a.alias is None else f"{text} AS {ident_text((a.alias,))}"


def _aliases(items: tuple[A.AliasExpr, ...]) -> str:
    return ", ".join(_alias(a) for a in items)


def query_text(q: A.Query) -> str:
    """BTQL text of a composed chart query (the clauses charts use), one clause per line."""
    lines: list[str] = []
    if q.select is not None:
        lines.append("select: " + ", ".join("*" if isinstance(s, A.Star) else _alias(s) for s in q.select))
    if q.dimensions is not None:
        lines.append("dimensions: " + _aliases(q.dimensions))
    if q.measures is not None:
        lines.append("measures: " + _aliases(q.measures))
    if q.pivot is not None:
        lines.append("pivot: " + _aliases(q.pivot))
    if q.from_ is not None:
        args = ", ".join(to_text(a) for a in q.from_.args)
        lines.append(f"from: {q.from_.name}({args})" + (f" {q.from_.shape}" if q.from_.shape else ""))
    if q.filter is not None:
        lines.append("filter: " + to_text(q.filter))
    if q.sort is not None:
        lines.append("sort: " + ", ".join(f"{to_text(s.expr)} {s.dir}" for s in q.sort))
    if q.limit is not None:
        lines.append(f"limit: {q.limit}")
    return "\n".join(lines)


__all__ = ["compose", "parse_chart", "parse_filters", "query_text", "quote_string", "window"]
