"""Rows + classifiers → merge rows: roots only, no-text counted, thresholds, human labels kept,
once per version, a new version relabels, heads trained once per version."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from loopline.classifier.classify import BatchResult, HeadCache, classify_rows, is_root_span
from loopline.classifier.embedding.local import local_embedder
from loopline.classifier.head import OTHER
from loopline.classifier.taxonomy import Classifier, parse_taxonomy

BODY: dict[str, Any] = {
    "labels": [
        {
            "name": "refund",
            "description": "wants money back",
            "examples": ["I want a refund", "give me my money back"],
        },
        {
            "name": "card_lost",
            "description": "lost or stolen card",
            "examples": ["I lost my card", "my card was stolen"],
        },
        {"name": "weather", "description": "weather forecast questions"},
    ],
    "threshold": 0.0,
}


def classifier(version: int = 1, body: dict[str, Any] | None = None, cid: str = "c1") -> Classifier:
    return Classifier("org", "proj", cid, version, parse_taxonomy(body or BODY), datetime.now(UTC))


def chat(row_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "span_id": row_id,
        "root_span_id": row_id,
        "input": [{"role": "user", "content": text}],
        **extra,
    }


@pytest.fixture(scope="module")
def heads() -> HeadCache:
    return HeadCache(local_embedder())


def labels_of(result: BatchResult) -> dict[str, str]:
    return {row_id: d.label for row_id, d in result.decisions}


@pytest.mark.parametrize(
    ("row", "root"),
    [
        ({"is_root": True}, True),
        ({"is_root": 0, "span_id": "a", "root_span_id": "a"}, False),
        ({"span_id": "a", "root_span_id": "a"}, True),
        ({"span_id": "b", "root_span_id": "a"}, False),
        ({"span_parents": []}, True),
        ({"span_parents": ["a"]}, False),
    ],
)
def test_is_root_span(row: dict[str, Any], root: bool) -> None:
    assert is_root_span(row) is root


def test_labels_root_spans_and_counts_the_rest(heads: HeadCache) -> None:
    rows = [
        chat("r1", "please refund my order"),
        chat("r2", "somebody stole my card"),
        chat("r3", "will it rain tomorrow?"),
        {"id": "child", "span_id": "child", "root_span_id": "r1", "input": "refund"},
        chat("empty", "   "),
        {"id": "no-input", "span_id": "no-input", "root_span_id": "no-input"},
    ]
    result = classify_rows(rows, [classifier()], heads)
    assert labels_of(result) == {"r1": "refund", "r2": "card_lost", "r3": "weather"}
    assert (result.not_root, result.no_text, result.unchanged) == (1, 2, 0)
    write = result.writes[0]
    assert write["id"] == "r1"
    assert write["_is_merge"] is True
    [item] = write["classifications"]["Intent"]
    assert item["source"] == {"type": "model", "id": "c1", "version": "1"}
    assert item["metadata"]["model"] == heads.embedder.model_id


def test_threshold_gives_other(heads: HeadCache) -> None:
    strict = classifier(body={**BODY, "threshold": 1.0})
    assert labels_of(classify_rows([chat("r1", "please refund my order")], [strict], heads)) == {"r1": OTHER}


def test_facet_text_path(heads: HeadCache) -> None:
    c = classifier(body={**BODY, "text_path": "metadata.query"})
    rows = [chat("r1", "I lost my card", metadata={"query": "I want a refund"}), chat("r2", "I lost my card")]
    result = classify_rows(rows, [c], heads)
    assert labels_of(result) == {"r1": "refund"}
    assert result.no_text == 1


def test_human_labels_kept_and_versions_written_once(heads: HeadCache) -> None:
    human = {"Intent": [{"id": "x", "label": "weather", "source": {"type": "human", "id": "u1"}}]}
    row = chat("r1", "please refund my order")
    first = classify_rows([row, chat("r2", "refund", classifications=human)], [classifier()], heads)
    assert labels_of(first) == {"r1": "refund"}
    assert first.unchanged == 1  # the human label stays
    labelled = {**row, "classifications": first.writes[0]["classifications"]}
    again = classify_rows([labelled], [classifier()], heads)  # redelivery
    assert (again.writes, again.unchanged) == ([], 1)
    relabel = classify_rows([labelled], [classifier(version=2)], heads)  # a new version relabels
    assert [w["classifications"]["Intent"][0]["source"]["version"] for w in relabel.writes] == ["2"]


def test_heads_train_once_per_version_and_facets_are_independent(heads: HeadCache) -> None:
    before = heads.trained
    sentiment = classifier(
        cid="c2",
        body={
            "facet": "Sentiment",
            "labels": [
                {"name": "angry", "examples": ["this is awful, I am furious"]},
                {"name": "happy", "examples": ["thanks, great!"]},
            ],
            "threshold": 0.0,
        },
    )
    for _ in range(3):
        result = classify_rows(
            [chat("r1", "I am furious, refund me now")], [classifier(version=7), sentiment], heads
        )
    assert heads.trained == before + 2
    facets = {next(iter(w["classifications"])) for w in result.writes}
    assert facets == {"Intent", "Sentiment"}


def test_classifier_without_labels_is_skipped(heads: HeadCache) -> None:
    empty = classifier(body={"labels": []})
    assert classify_rows([chat("r1", "hello")], [empty], heads).writes == []


def test_live_labelling_leaves_old_and_already_labelled_spans_to_backfill(heads: HeadCache) -> None:
    first = datetime(2026, 12, 3, 12, tzinfo=UTC)
    v1 = replace(classifier(), created=first, first_created=first)
    old = chat("old", "please refund my order", created="2026-12-03T11:59:50Z")
    new = chat("new", "please refund my order", created="2026-12-03T11:59:58.5Z")  # within the grace
    undated = chat("undated", "I lost my card")
    live = classify_rows([old, new, undated], [v1], heads, live=True)
    assert set(labels_of(live)) == {"new", "undated"} and live.left_to_backfill == 1
    assert set(labels_of(classify_rows([old], [v1], heads))) == {"old"}  # backfill labels it

    # version 2: a span of version 1 that comes back (a later merge) keeps its label; backfill relabels
    labelled = {**new, "classifications": live.writes[0]["classifications"]}
    v2 = replace(v1, version=2, created=first.replace(hour=13))
    again = classify_rows([labelled], [v2], heads, live=True)
    assert (again.writes, again.left_to_backfill) == ([], 1)
    assert [d.taxonomy_version for _, d in classify_rows([labelled], [v2], heads).decisions] == ["2"]
    # another classifier's label on the facet does not count as this one's
    other = {**new, "classifications": {"Intent": [{"label": "x", "source": {"type": "model", "id": "c0"}}]}}
    assert set(labels_of(classify_rows([other], [v2], heads, live=True))) == {"new"}
    # without `first_created` (a classifier read alone), version 1's own creation time counts
    plain = classify_rows([old], [replace(v1, first_created=None)], heads, live=True)
    assert plain.left_to_backfill == 1
