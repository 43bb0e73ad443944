"""The shapes of dashboards and charts at the HTTP edge and in the store (pydantic, with limits).

A chart is a BTQL query without a `from:` (the dashboard's project is its source) and a chart
spec: `type`, `x` (the output on the x axis), `series` (the outputs drawn), `units`. A time-bucket
dimension (`hour(created)`, `day(created)`, ...) follows the view's granularity unless the spec
fixes `granularity` (a week-over-week chart keeps `week`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ChartType = Literal["line", "bar", "area", "stacked_bar", "table", "stat", "pie"]
Granularity = Literal["minute", "hour", "day", "week", "month"]
GRANULARITIES: tuple[str, ...] = ("minute", "hour", "day", "week", "month")

MAX_CHARTS = 50
MAX_FILTERS = 20
MAX_QUERY_CHARS = 20_000
_RANGE = re.compile(r"^([1-9][0-9]{0,3})([hdw])\Z")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChartSpec(_Strict):
    type: ChartType = "line"
    x: str | None = Field(default=None, max_length=200)
    series: tuple[str, ...] = Field(default=(), max_length=50)
    units: str | None = Field(default=None, max_length=40)
    granularity: Granularity | None = None  # fixed time bucket (else the view's)


class Chart(_Strict):
    id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    spec: ChartSpec = ChartSpec()
    description: str = Field(default="", max_length=2000)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("chart id: 1-64 letters, digits, '_', '.', ':' or '-'")
        return v


class View(_Strict):
    """What every chart of a dashboard is run with: a time range (`range` relative to now, e.g.
    `24h`, `7d`, `2w`; or `start`/`end` ISO timestamps), a granularity and BTQL filters."""

    range: str | None = None
    start: str | None = Field(default=None, max_length=40)
    end: str | None = Field(default=None, max_length=40)
    granularity: Granularity | None = None
    filters: tuple[str, ...] = Field(default=(), max_length=MAX_FILTERS)

    @field_validator("range")
    @classmethod
    def _range(cls, v: str | None) -> str | None:
        if v is not None and not _RANGE.match(v):
            raise ValueError("range: a number and a unit h, d or w (e.g. '24h', '7d', '2w')")
        return v

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for f in v:
            if not f.strip() or len(f) > 4000:
                raise ValueError("each filter: a non-empty BTQL expression of at most 4000 characters")
        return v


class DashboardIn(_Strict):
    """A dashboard as created or replaced (`POST /dashboards`, `PUT /dashboards/{id}`)."""

    project_id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    charts: tuple[Chart, ...] = Field(default=(), max_length=MAX_CHARTS)
    view: View = View(range="7d", granularity="hour")

    @field_validator("charts")
    @classmethod
    def _unique(cls, v: tuple[Chart, ...]) -> tuple[Chart, ...]:
        ids = [c.id for c in v]
        if len(set(ids)) != len(ids):
            raise ValueError("chart ids must be unique within a dashboard")
        return v


class DataRequest(_Strict):
    """`POST /dashboards/{id}/data`: run the charts (all, or `charts`) with the view (the
    dashboard's own view where a field is not given)."""

    project_id: str = Field(min_length=1, max_length=200)
    view: View | None = None
    charts: tuple[str, ...] | None = Field(default=None, max_length=MAX_CHARTS)
