"""The label reads' arithmetic and queries (the Loop agent's definitions, for any facet)."""

from __future__ import annotations

import pytest
from loopline.classifier.label_stats import combine, stats_queries


def test_queries_read_the_facets_first_item() -> None:
    q = stats_queries("p1", "Topic", 7)
    assert set(q) == {"distribution", "traces", "failed"}
    assert all("classifications.Topic[0].label" in text for text in q.values())
    assert "interval 14 day" in q["distribution"] and "any_span(error IS NOT NULL" in q["failed"]


def test_combine() -> None:
    by_period = [
        {"intent": "a", "period": "current", "traces": 6},
        {"intent": "a", "period": "previous", "traces": 2},
        {"intent": "b", "period": "current", "traces": 2},
        {"intent": "b", "period": "previous", "traces": 2},
        {"intent": None, "period": "current", "traces": 5},
    ]
    traces = [{"intent": "a", "traces": 6}, {"intent": "b", "traces": 2}, {"intent": None, "traces": 5}]
    failed = [{"intent": "a", "failed": 3}, {"intent": "b", "failed": 2}, {"intent": None, "failed": 9}]
    out = combine(by_period, traces, failed, limit=10)
    assert out["classified_traces"] == {"current": 8, "previous": 4}
    assert out["unclassified_traces"] == {"current": 5, "previous": 0}
    a, b = out["labels"]
    assert (a["label"], a["current"], a["previous"], a["failed"]) == ("a", 6, 2, 3)
    assert a["share_change"] == pytest.approx(6 / 8 - 2 / 4)
    assert a["error_rate"] == 0.5 and a["blast_radius"] == pytest.approx(0.5 * 6 / 8)
    assert b["error_rate"] == 1.0 and b["blast_radius"] == pytest.approx(1.0 * 2 / 8)
    assert out["by_blast_radius"] == ["a", "b"]  # a higher rate on less traffic ranks lower
    assert combine([], [], [], 10)["labels"] == []
    assert len(combine(by_period, traces, failed, limit=1)["labels"]) == 1
