"""Corrections are kept, the last one per facet and span counts, and a span that lost its human
label to a racing model write gets it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from loopline.classifier.corrections import Correction, CorrectionStore
from loopline.classifier.taxonomy import Classifier, parse_taxonomy
from loopline.common.store import Store

T0 = datetime(2026, 12, 3, 10, tzinfo=UTC)


def correction(row_id: str, label: str, minutes: int = 0) -> Correction:
    return Correction(
        "Intent", row_id, "c1", 2, label, f"text of {row_id}", "u1", T0 + timedelta(minutes=minutes)
    )


def row(row_id: str, source: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row_id}
    if source:
        out["classifications"] = {"Intent": [{"label": "x", "source": {"type": source}}]}
    return out


async def test_record_list_and_repair(store: Store) -> None:
    cs = CorrectionStore(store, max_age_s=0.0)
    assert not await cs.has_any("o", "p")
    assert await cs.repairs("o", "p", [row("a", "model")]) == []
    await cs.record("o", "p", correction("a", "refund"))
    await cs.record("o", "p", correction("a", "weather", minutes=1))  # the last one counts
    await cs.record("o", "p", correction("b", "refund"))
    await cs.record("o2", "p", correction("c", "refund"))
    assert await cs.has_any("o", "p") and not await cs.has_any("o", "q")
    kept = await cs.of_facet("o", "p", "Intent", 10)
    assert [(c.row_id, c.label) for c in kept] == [("a", "weather"), ("b", "refund")]
    assert await cs.of_facet("o", "p", "Sentiment", 10) == []

    fixes = await cs.repairs("o", "p", [row("a", "model"), row("b", "human"), row("c", None), row("d", None)])
    assert len(fixes) == 1  # b kept its human label; c is another org's; d has no correction
    [fix] = fixes
    assert fix["id"] == "a" and fix["_is_merge"]
    item = fix["classifications"]["Intent"][0]
    assert item["label"] == "weather" and item["source"] == {"type": "human", "id": "c1", "version": "2"}
    assert item["metadata"] == {"user_id": "u1"}
    assert await cs.repairs("o", "p", [row("a", None)]) != []  # never labelled yet: written too


async def test_human_labels_logged_through_the_sdk_are_recorded_once(store: Store) -> None:
    cs = CorrectionStore(store, max_age_s=0.0)
    v3 = Classifier("o", "p", "c1", 3, parse_taxonomy({"labels": [{"name": "refund"}]}), T0)
    sentiment = Classifier("o", "p", "c9", 1, parse_taxonomy({"facet": "Mood", "labels": []}), T0)

    def logged(row_id: str, label: str, source: dict[str, Any], text: str = "money back") -> dict[str, Any]:
        item = {"id": label, "label": label, "source": source, "metadata": {"user_id": "u7"}}
        return {"id": row_id, "input": text, "classifications": {"Intent": [item]}}

    rows = [
        logged("h1", "refund", {"type": "human"}),  # set by a person through /logs3
        logged("m1", "refund", {"type": "model", "id": "c1", "version": "3"}),
        logged("h2", "weather", {"type": "human", "id": "c1", "version": "2"}, text=""),
        {"id": "n1", "input": "hello"},
    ]
    assert await cs.record_human_labels("o", "p", rows, [v3, sentiment]) == 2
    kept = {c.row_id: c for c in await cs.of_facet("o", "p", "Intent", 10)}
    assert set(kept) == {"h1", "h2"}
    assert (kept["h1"].label, kept["h1"].text, kept["h1"].classifier_id, kept["h1"].version) == (
        "refund",
        "money back",
        "c1",
        3,
    )
    assert (kept["h1"].user_id, kept["h2"].version, kept["h2"].text) == ("u7", 2, "")
    assert await cs.record_human_labels("o", "p", rows, [v3]) == 0  # seen again: nothing new
    # a correction made through the API comes back committed: already recorded
    await cs.record("o", "p", correction("a", "refund"))
    assert await cs.record_human_labels("o", "p", [logged("a", "refund", {"type": "human"})], [v3]) == 0
    # a person changes their mind: the new label is recorded and counts
    assert await cs.record_human_labels("o", "p", [logged("h1", "weather", {"type": "human"})], [v3]) == 1
    assert {c.row_id: c.label for c in await cs.of_facet("o", "p", "Intent", 10)}["h1"] == "weather"
    assert await cs.record_human_labels("o", "p", [], [v3]) == 0
