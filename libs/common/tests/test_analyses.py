"""The analyses' BTQL builders and result arithmetic (pure, no store)."""

from __future__ import annotations

import pytest
from loopline.common.analyses import blast_radius, results
from loopline.common.analyses import queries as q

from loopline import btql


def test_every_query_parses_and_quotes_the_project_id() -> None:
    w = q.Window("p'1", 3)
    texts = [
        q.errors_by_span_name(w),
        q.traces_by_intent(w),
        q.failed_traces_by_intent(w),
        q.tool_calls_by_week(w),
        q.context_overflow_counts(w),
        q.context_overflow_incidents(w, 5),
        q.provider_errors(w),
        q.llm_calls(w),
        q.metric_stats(w, ("latency", "tokens")),
        q.metric_outliers(w, "tokens", 12.5, 3),
        q.metric_outlier_count(w, {"tokens": 12.5, "latency": 3.0}),
        q.intents_by_period(w),
    ]
    for text in texts:
        parsed = btql.parse(text)
        assert "project_logs('p''1')" in text, text
        assert parsed is not None
    assert "interval 6 day" in q.tool_calls_by_week(w) and "interval 3 day" in q.tool_calls_by_week(w)


def test_provider_error_kind_tests_kinds_in_order() -> None:
    expr = q.provider_error_kind()
    positions = [expr.index(f"'{kind}'") for kind, _ in q.PROVIDER_ERROR_KINDS]
    assert positions == sorted(positions)
    assert expr.rstrip(")").endswith("'api_failure'")


def test_blast_radius_orders_by_rate_times_share() -> None:
    rows = [
        {"name": "a", "total": 100, "errors": 10},  # rate .1, share .5 → .05
        {"name": "b", "total": 20, "errors": 10},  # rate .5, share .1 → .05 (higher rate first)
        {"name": "c", "total": 80, "errors": 0},
    ]
    got = results.blast_radius(rows, "name", "total", "errors", 10)
    assert [g["name"] for g in got] == ["b", "a"]
    assert got[0]["blast_radius"] == pytest.approx(0.05) and got[0]["error_rate"] == 0.5


def test_tool_success_change_and_intent_shares() -> None:
    rows = [
        {"tool": "t", "period": "current", "calls": 10, "failures": 5},
        {"tool": "t", "period": "previous", "calls": 10, "failures": 1},
        {"tool": "u", "period": "current", "calls": 4, "failures": 0},
    ]
    out = results.tool_success_change(rows)
    assert out["tools"][0]["tool"] == "t" and out["tools"][0]["change"] == pytest.approx(-0.4)
    assert out["tools"][1]["change"] is None  # no calls before: no change to speak of
    assert out["overall"]["current"] == {"calls": 14, "failures": 5, "success_rate": pytest.approx(9 / 14)}
    intents = results.intent_change(
        [
            {"intent": "a", "period": "current", "traces": 3},
            {"intent": "b", "period": "current", "traces": 1},
            {"intent": "a", "period": "previous", "traces": 1},
            {"intent": None, "period": "current", "traces": 7},
        ]
    )
    assert intents["unclassified_traces"]["current"] == 7
    a = intents["intents"][0]
    assert a["intent"] == "a" and a["current_share"] == 0.75 and a["share_change"] == pytest.approx(-0.25)


def test_the_two_blast_radius_units_are_what_their_names_say() -> None:
    """Trace unit: roots (the labels) filtered by a failure in any span; span unit: each span's own
    error, one query a dashboard chart can run (no source, no any_span)."""
    w = q.Window("p1", 7)
    for trace_query in (q.failed_traces_by_intent(w), q.traces_by_intent(w)):
        assert "is_root" in trace_query and btql.parse(trace_query).filter is not None
    assert "any_span(error IS NOT NULL" in q.failed_traces_by_intent(w)
    chart = blast_radius.span_chart("span_attributes.name", "span_attributes.name IS NOT NULL", limit=5)
    parsed = btql.parse(chart)
    assert parsed.from_ is None and "any_span" not in chart and parsed.limit == 5
    assert [m.alias for m in parsed.measures or ()] == ["calls", "errors", "error_rate", "blast_radius"]
    assert btql.parse(blast_radius.span_chart(q.facet_label("Intent"))).filter is None
