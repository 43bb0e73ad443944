"""Discovery's parts without the model: clustering of planted groups (with noise), c-TF-IDF
keywords, names, proposals, and the LLM naming answer's parsing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from loopline.classifier.discover import naming_request, parse_naming, spans_query
from loopline.classifier.discovery import (
    DiscoveryConfig,
    Proposal,
    centred,
    cluster,
    keywords,
    label_name,
    propose,
)
from loopline.classifier.taxonomy import Classifier, parse_taxonomy


def planted(groups: int, size: int, noise: int, dim: int = 64, seed: int = 1) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim))
    vecs, truth = [], []
    for g in range(groups):
        vecs.append(centres[g] + 0.35 * rng.normal(size=(size, dim)))
        truth += [g] * size
    vecs.append(rng.normal(size=(noise, dim)) * 1.5)
    truth += [-1] * noise
    x = np.vstack(vecs).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), truth


def test_cluster_finds_planted_groups() -> None:
    x, truth = planted(groups=4, size=15, noise=6)
    labels = cluster(centred(x), DiscoveryConfig(min_size=5))
    for g in range(4):
        found = [labels[i] for i, t in enumerate(truth) if t == g]
        top = max(set(found), key=found.count)
        assert top >= 0 and found.count(top) >= 13  # nearly the whole group in one cluster
        assert sum(1 for i, t in enumerate(truth) if labels[i] == top and t != g) <= 2


def test_tiny_inputs() -> None:
    x, _ = planted(groups=1, size=4, noise=0)
    assert (cluster(centred(x), DiscoveryConfig(min_size=5)) == -1).all()  # too few to propose
    x, _ = planted(groups=1, size=7, noise=0)
    assert (cluster(centred(x), DiscoveryConfig(min_size=5)) == 0).all()  # one group, not split
    assert propose([], np.zeros((0, 8), dtype=np.float32), [], []) == []


def test_keywords_are_distinctive_and_shared() -> None:
    texts = [
        "add a page to my app",
        "add another page please",
        "new page for the app",
        "write the readme for my app",
        "update the readme please",
        "readme is outdated",
        "hello",
        "zebra",
    ]
    labels = [0, 0, 0, 1, 1, 1, -1, -1]
    kw = keywords(texts, labels)
    assert kw[0][0] == "page" and "app" not in kw[0][:1]
    assert kw[1][0] == "readme"
    assert all("zebra" not in words for words in kw.values())  # once only: not a keyword
    assert keywords(["!!", "??"], [0, 0]) == {0: []}


@pytest.mark.parametrize(
    ("words", "taken", "want"),
    [
        (["page", "add"], set(), "page_add"),
        (["add page", "app"], set(), "add_page"),
        (["page", "add"], {"page_add"}, "page_add_2"),
        ([], set(), "topic_1"),
        (["other"], set(), "other_topic"),
    ],
)
def test_label_names(words: list[str], taken: set[str], want: str) -> None:
    assert label_name(words, taken, "topic_1") == want


def test_proposals_have_examples_ids_and_unique_names() -> None:
    x, truth = planted(groups=2, size=10, noise=0)
    texts = [f"page request {i}" if t == 0 else f"slow app {i}" for i, t in enumerate(truth)]
    props = propose(texts, x, [f"s{i}" for i in range(len(texts))], ["page"], DiscoveryConfig(min_size=5))
    assert len(props) == 2 and {p.size for p in props} == {10}
    names = [p.name for p in props]
    assert "page" not in names and len(set(names)) == 2  # an existing label's name is not reused
    p = props[0]
    assert len(p.examples) == 5 and len(p.span_ids) == 10 and 0 < p.share <= 1
    assert set(p.public()) >= {"name", "description", "keywords", "size", "examples", "span_ids"}


def _answer(args: Any) -> dict[str, Any]:
    return {
        "choices": [{"message": {"tool_calls": [{"function": {"name": "name_cluster", "arguments": args}}]}}]
    }


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (_answer('{"name": "Add Pages", "description": "adding pages"}'), ("add_pages", "adding pages")),
        (_answer('{"name": "other"}'), None),
        (_answer('{"name": "a/b"}'), None),
        (_answer("not json"), None),
        ({"choices": []}, None),
        (None, None),
    ],
)
def test_parse_naming(body: Any, want: tuple[str, str] | None) -> None:
    assert parse_naming(body) == want


def test_queries_and_naming_request() -> None:
    from datetime import UTC, datetime

    labelled = Classifier("o", "p'1", "c", 1, parse_taxonomy({"labels": [{"name": "a"}]}), datetime.now(UTC))
    q = spans_query(labelled, 7)
    assert "project_logs('p''1')" in q and "classifications.Intent[0].label = 'other'" in q
    assert q.startswith("select: id, input |")
    empty = Classifier("o", "p", "c", 1, parse_taxonomy({"text_path": "metadata.q"}), datetime.now(UTC))
    assert "classifications" not in spans_query(empty, 7) and spans_query(empty, 7).startswith("select: * |")
    req = naming_request("m", "Intent", Proposal("x", "", ["page"], 3, 1.0, 0.5, ["add a page"]))
    assert req["model"] == "m" and "add a page" in req["messages"][1]["content"]
