"""Labelled spans as dataset records and as training examples; expected labels in their shapes."""

from __future__ import annotations

from typing import Any

import pytest
from loopline.classifier.examples import (
    dataset_record,
    expected_label,
    labelled_spans_query,
    merge_examples,
    parse_sources,
)
from loopline.classifier.taxonomy import MAX_EXAMPLES_PER_LABEL, parse_taxonomy
from loopline.common.errors import Invalid

TAXONOMY = parse_taxonomy(
    {"labels": [{"name": "refund", "examples": ["I want a refund"]}, {"name": "Weather"}]}
)


def span(label: str | None, source: str = "human") -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "r1",
        "span_id": "s1",
        "root_span_id": "s1",
        "input": [{"role": "user", "content": "money back"}],
        "created": "2026-12-03T10:00:00Z",
    }
    if label is not None:
        item = {"label": label, "confidence": 0.9, "source": {"type": source, "id": "c1", "version": "2"}}
        row["classifications"] = {"Intent": [item]}
    return row


def test_a_labelled_span_is_a_record_of_the_same_shape() -> None:
    record = dataset_record(span("refund"), "Intent", "p1")
    assert record is not None
    assert record["id"] == "r1" and record["expected"] == "refund"
    assert record["input"] == [{"role": "user", "content": "money back"}]
    meta = record["metadata"]
    assert (meta["span_id"], meta["root_span_id"], meta["project_id"]) == ("s1", "s1", "p1")
    assert meta["source"] == {"type": "human", "id": "c1", "version": "2"}
    assert meta["classifier_id"] == "c1"
    assert dataset_record(span(None), "Intent", "p1") is None
    assert dataset_record(span("refund"), "Sentiment", "p1") is None


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("refund", "refund"),
        ("  ", None),
        ({"Intent": "refund"}, "refund"),
        ({"label": "refund"}, "refund"),
        ([{"label": "refund", "confidence": 1}], "refund"),
        ({"Intent": [{"label": "refund"}]}, "refund"),
        (3, None),
        (None, None),
    ],
)
def test_expected_label_shapes(value: Any, want: str | None) -> None:
    assert expected_label(value, "Intent") == want


def test_merge_adds_new_examples_once_and_counts_the_rest() -> None:
    merged = merge_examples(
        TAXONOMY,
        [
            ("refund", "give me my money back"),
            ("REFUND", "i want a refund"),  # already an example (case-insensitive)
            ("weather", "will it rain"),  # label matched case-insensitively
            ("other", "hello"),
            ("billing", "invoice please"),
            ("refund", "give me my money back"),
        ],
    )
    assert merged.added == {"refund": 1, "Weather": 1}
    assert merged.already_known == 2 and merged.other == 1 and merged.unknown_label == {"billing": 1}
    by_name = {lab["name"]: lab["examples"] for lab in merged.labels}
    assert by_name == {"refund": ["I want a refund", "give me my money back"], "Weather": ["will it rain"]}
    assert parse_taxonomy({"labels": merged.labels}).labels[0].examples[-1] == "give me my money back"


def test_merge_respects_the_example_limit() -> None:
    merged = merge_examples(TAXONOMY, [("Weather", f"text {i}") for i in range(MAX_EXAMPLES_PER_LABEL + 3)])
    assert merged.added == {"Weather": MAX_EXAMPLES_PER_LABEL} and merged.full == 3


def test_query_and_sources() -> None:
    q = labelled_spans_query("p'1", "Intent", ["human", "model"], days=7, min_confidence=0.8)
    assert "from: project_logs('p''1')" in q
    assert "classifications.Intent[0].source.type IN ('human', 'model')" in q
    assert "interval 7 day" in q and "confidence >= 0.8" in q
    assert parse_sources(None) == ["human"]
    for bad in ([], ["robot"], "human", [1]):
        with pytest.raises(Invalid):
            parse_sources(bad)
