"""Composing a chart's BTQL with a dashboard view (pure): the text round-trips to the same query,
every built-in chart compiles, the view's range and granularity land where they should."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from loopline.common.errors import ServiceError
from loopline.query.dashboards.builtin import BUILTIN
from loopline.query.dashboards.compose import compose, parse_chart, query_text, window
from loopline.query.dashboards.models import Chart, ChartSpec, View

from loopline import btql

NOW = datetime(2026, 12, 3, 15, 20, 7, tzinfo=UTC)


@pytest.mark.parametrize("key", [(d, c.id) for d, dash in BUILTIN.items() for c in dash.charts])
def test_builtin_charts_compose_round_trip_and_compile(key: tuple[str, str]) -> None:
    dash = BUILTIN[key[0]]
    chart = next(c for c in dash.charts if c.id == key[1])
    for view in (dash.view, View(range="24h", granularity="day", filters=("metadata.model = 'gpt-4o'",))):
        q = compose(chart, parse_chart(chart), "p1", view, NOW)
        assert btql.parse(query_text(q)) == q
        cq = btql.compile_query(q, btql.Scope.project_logs("o", "p1"))
        assert "project_id = {s_proj:String}" in cq.sql
        names = [c.name for c in cq.columns]
        assert chart.spec.x is None or chart.spec.x in names
        assert set(chart.spec.series) <= set(names)


def test_window_is_hour_aligned_and_granularity_follows_the_view() -> None:
    assert window(View(range="2d"), NOW) == (
        datetime(2026, 12, 1, 16, tzinfo=UTC),
        datetime(2026, 12, 3, 16, tzinfo=UTC),
    )
    assert window(View(), NOW) is None
    chart = Chart(id="c", title="t", query="dimensions: hour(created) AS t | measures: count(1) AS n")
    q = compose(chart, parse_chart(chart), "p", View(range="7d", granularity="week"), NOW)
    text = query_text(q)
    assert "week(created) AS t" in text
    assert (
        "created >= '2026-11-26T16:00:00.000000Z'" in text
        and "created < '2026-12-03T16:00:00.000000Z'" in text
    )
    fixed = chart.model_copy(update={"spec": ChartSpec(granularity="hour")})
    assert "hour(created) AS t" in query_text(
        compose(fixed, parse_chart(fixed), "p", View(granularity="day"), NOW)
    )


def test_filter_errors_point_into_the_filter() -> None:
    chart = Chart(id="c", title="t", query="measures: count(1) AS n")
    with pytest.raises(ServiceError) as e:
        compose(chart, parse_chart(chart), "p", View(filters=("a = 1", "b = 'x")), NOW)
    assert e.value.where["field"] == "view.filters[1]"
    assert (e.value.where["line"], e.value.where["column"]) == (1, 5)
