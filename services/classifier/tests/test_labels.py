"""Decisions → merge rows in Braintrust's `classifications` shape; human labels and versions win."""

from __future__ import annotations

from typing import Any

import pytest
from loopline.classifier.labels import Decision, classification_item, current_items, merge_row, should_write

MODEL = Decision("Intent", "refund", 0.912345, "clf1", "v2", metadata={"head": "abc"})


def test_merge_row_shape() -> None:
    assert merge_row("row-1", MODEL) == {
        "id": "row-1",
        "_is_merge": True,
        "classifications": {
            "Intent": [
                {
                    "id": "refund",
                    "label": "refund",
                    "confidence": 0.9123,
                    "metadata": {"head": "abc"},
                    "source": {"type": "model", "id": "clf1", "version": "v2"},
                }
            ]
        },
    }


def test_item_uses_the_stable_label_id_when_given() -> None:
    item = classification_item(Decision("Intent", "refund", 1, "clf1", "v1", label_id="lbl_7"))
    assert (item["id"], item["label"]) == ("lbl_7", "refund")


def row_with(*items: dict[str, Any], facet: str = "Intent") -> dict[str, Any]:
    return {"id": "row-1", "classifications": {facet: list(items)}}


def item(label: str, source: str, version: str = "v1", clf: str = "clf1") -> dict[str, Any]:
    return {"id": label, "label": label, "source": {"type": source, "id": clf, "version": version}}


HUMAN = Decision("Intent", "billing", 1.0, "clf1", "v2", source="human")
LLM = Decision("Intent", "refund", 0.7, "clf1", "v2", source="llm")

CASES: list[tuple[str, dict[str, Any], Decision, bool]] = [
    ("unlabelled row", {"id": "row-1"}, MODEL, True),
    ("other facet only", row_with(item("x", "model"), facet="Sentiment"), MODEL, True),
    ("older version relabels", row_with(item("refund", "model", "v1")), MODEL, True),
    ("same version: redelivery writes nothing", row_with(item("refund", "model", "v2")), MODEL, False),
    ("same version, other answer: first stands", row_with(item("billing", "model", "v2")), MODEL, False),
    ("llm answer of the version stands too", row_with(item("billing", "llm", "v2")), MODEL, False),
    ("another classifier's item", row_with(item("refund", "model", "v2", clf="clf9")), MODEL, True),
    ("human label is never overwritten by the model", row_with(item("billing", "human")), MODEL, False),
    ("nor by an llm", row_with(item("billing", "human")), LLM, False),
    ("a human corrects a model label", row_with(item("refund", "model", "v2")), HUMAN, True),
    ("a human corrects a human label", row_with(item("x", "human")), HUMAN, True),
    ("malformed classifications", {"classifications": "oops"}, MODEL, True),
    ("malformed items", {"classifications": {"Intent": [1, "x", {"source": 3}]}}, MODEL, True),
]


@pytest.mark.parametrize(("row", "decision", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_should_write(row: dict[str, Any], decision: Decision, expected: bool) -> None:
    assert should_write(row, decision) is expected


def test_current_items_tolerates_anything() -> None:
    assert current_items({}, "Intent") == []
    assert current_items({"classifications": {"Intent": {"label": "x"}}}, "Intent") == []
    assert current_items(row_with(item("a", "model")), "Intent") == [item("a", "model")]
