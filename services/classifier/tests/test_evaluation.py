"""Evaluation metrics, and experiment rows whose score means are the per-label precision/recall."""

from __future__ import annotations

from collections import defaultdict

import pytest
from loopline.classifier.evaluation import Outcome, experiment_rows, report

PAIRS = [
    ("refund", "refund"),
    ("refund", "refund"),
    ("refund", "shipping"),
    ("shipping", "shipping"),
    ("shipping", "refund"),
    ("weather", "weather"),
    ("weather", "other"),
]


def outcomes() -> list[Outcome]:
    return [
        Outcome({"id": f"d{i}", "input": f"text {i}", "_xact_id": "7"}, e, p, 0.5)
        for i, (e, p) in enumerate(PAIRS)
    ]


def test_report() -> None:
    r = report(outcomes())
    assert r["records"] == 7 and r["correct"] == 4 and r["accuracy"] == pytest.approx(4 / 7)
    refund = r["labels"]["refund"]
    assert refund["precision"] == pytest.approx(2 / 3) and refund["recall"] == pytest.approx(2 / 3)
    assert r["labels"]["weather"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
        "predicted": 1,
    }
    assert r["labels"]["other"]["recall"] is None and r["labels"]["other"]["precision"] == 0.0
    assert r["confusion"][0]["count"] == 1
    assert {(c["expected"], c["predicted"]) for c in r["confusion"]} == {
        ("refund", "shipping"),
        ("shipping", "refund"),
        ("weather", "other"),
    }
    assert r["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    assert report([])["accuracy"] is None


def test_rows_are_an_sdk_eval_and_score_means_are_the_metrics() -> None:
    rows = experiment_rows(
        outcomes(),
        dataset_id="ds",
        facet="Intent",
        classifier_id="c1",
        version=3,
        model_id="m",
        start=1.0,
        end=2.0,
    )
    assert len(rows) == 3 * len(PAIRS)
    roots = [r for r in rows if r["span_attributes"]["type"] == "eval"]
    assert len(roots) == len(PAIRS)
    root = roots[2]
    assert (root["input"], root["expected"], root["output"]) == ("text 2", "refund", "shipping")
    assert root["origin"] == {"object_type": "dataset", "object_id": "ds", "id": "d2", "_xact_id": "7"}
    assert root["metadata"]["confusion"] == "refund → shipping"
    assert root["classifications"]["Intent"][0]["source"] == {"type": "model", "id": "c1", "version": "3"}
    children = [r for r in rows if r.get("span_parents") == [root["id"]]]
    assert sorted(c["span_attributes"]["type"] for c in children) == ["score", "task"]
    # the summary's mean of each score over the traces that have it
    values: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for name, v in (r.get("scores") or {}).items():
            values[name].append(v)
    means = {k: sum(v) / len(v) for k, v in values.items()}
    metrics = report(outcomes())
    assert means["accuracy"] == pytest.approx(metrics["accuracy"])
    for label, m in metrics["labels"].items():
        if m["recall"] is not None:
            assert means[f"recall/{label}"] == pytest.approx(m["recall"])
        if m["precision"] is not None:
            assert means[f"precision/{label}"] == pytest.approx(m["precision"])
