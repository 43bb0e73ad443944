"""A classifier version against a labelled dataset: metrics, and the experiment's rows. Pure.

Each dataset record becomes one trace written the way the SDK's `Eval` writes one (braintrust
framework: a root span ``eval`` with ``input / expected / output / metadata / origin``, a ``task``
child with the input and output, a ``score`` child with the scores), plus the decision on the
root in the classifications shape (as the SDK writes a classifier's result).

The scores are chosen so that the experiment summary, which averages each score over the traces
that have it, *is* the evaluation:

- ``accuracy``: 1 when the label is right, else 0 → the mean is the accuracy;
- ``recall/<label>``: on records whose expected label is <label>, 1 if predicted right → the mean
  is that label's recall;
- ``precision/<label>``: on records predicted as <label>, 1 if that was right → the mean is that
  label's precision.

So two versions evaluated on the same dataset compare with the experiment comparison that exists
(summarize with a comparison experiment: per-score diff, improvements, regressions; records match
by input). The confusion pairs (expected → predicted, by count) go into each row's metadata
(``confusion``) and into the evaluation report (the experiment's metadata and the API answer).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCORER = "classifier_label"
MAX_CONFUSION_PAIRS = 50


@dataclass(frozen=True)
class Outcome:
    """One evaluated dataset record."""

    record: Mapping[str, Any]  # the dataset record as fetched (id, input, expected, metadata, _xact_id)
    expected: str
    predicted: str
    confidence: float

    @property
    def correct(self) -> bool:
        return self.expected == self.predicted


def scores(outcome: Outcome) -> dict[str, float]:
    """The record's scores (see the module doc)."""
    hit = 1.0 if outcome.correct else 0.0
    out = {"accuracy": hit, f"recall/{outcome.expected}": hit}
    out[f"precision/{outcome.predicted}"] = hit
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def report(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Accuracy, per-label precision / recall / F1 / support, macro F1 and the confusion pairs."""
    n = len(outcomes)
    right = sum(1 for o in outcomes if o.correct)
    expected = Counter(o.expected for o in outcomes)
    predicted = Counter(o.predicted for o in outcomes)
    hits = Counter(o.expected for o in outcomes if o.correct)
    labels: dict[str, dict[str, Any]] = {}
    f1s: list[float] = []
    for name in sorted(set(expected) | set(predicted)):
        precision = _ratio(hits[name], predicted[name])
        recall = _ratio(hits[name], expected[name])
        f1 = None
        if precision is not None and recall is not None:
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if expected[name]:
            f1s.append(f1 or 0.0)
        labels[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": expected[name],
            "predicted": predicted[name],
        }
    confusion = Counter((o.expected, o.predicted) for o in outcomes if not o.correct)
    pairs = [
        {"expected": e, "predicted": p, "count": c}
        for (e, p), c in sorted(confusion.items(), key=lambda kv: (-kv[1], kv[0]))
    ][:MAX_CONFUSION_PAIRS]
    return {
        "records": n,
        "correct": right,
        "accuracy": _ratio(right, n),
        "macro_f1": sum(f1s) / len(f1s) if f1s else None,
        "labels": labels,
        "confusion": pairs,
    }


def experiment_rows(
    outcomes: Sequence[Outcome],
    *,
    dataset_id: str,
    facet: str,
    classifier_id: str,
    version: int,
    model_id: str,
    start: float,
    end: float,
) -> list[dict[str, Any]]:
    """Three rows per record (root ``eval``, ``task``, ``score``), as the SDK's Eval writes them."""
    rows: list[dict[str, Any]] = []
    source = {"type": "model", "id": classifier_id, "version": str(version)}
    for o in outcomes:
        record = o.record
        root = str(uuid.uuid4())
        metadata = dict(record["metadata"]) if isinstance(record.get("metadata"), Mapping) else {}
        metadata.update(
            {
                "confidence": round(o.confidence, 4),
                "classifier": {"id": classifier_id, "version": version, "facet": facet, "model": model_id},
                "confusion": None if o.correct else f"{o.expected} → {o.predicted}",
            }
        )
        origin: dict[str, Any] = {"object_type": "dataset", "object_id": dataset_id, "id": record.get("id")}
        if record.get("_xact_id") is not None:
            origin["_xact_id"] = str(record["_xact_id"])
        times = {"start": start, "end": end}
        item = {
            "id": o.predicted,
            "label": o.predicted,
            "confidence": round(o.confidence, 4),
            "metadata": {},
            "source": source,
        }
        rows.append(
            {
                "id": root,
                "span_id": root,
                "root_span_id": root,
                "span_attributes": {"name": "eval", "type": "eval"},
                "input": record.get("input"),
                "expected": o.expected,
                "output": o.predicted,
                "metadata": metadata,
                "origin": origin,
                "classifications": {facet: [item]},
                "metrics": times,
            }
        )
        task = str(uuid.uuid4())
        rows.append(
            {
                "id": task,
                "span_id": task,
                "root_span_id": root,
                "span_parents": [root],
                "span_attributes": {"name": "task", "type": "task"},
                "input": record.get("input"),
                "output": o.predicted,
                "metrics": times,
            }
        )
        score = str(uuid.uuid4())
        rows.append(
            {
                "id": score,
                "span_id": score,
                "root_span_id": root,
                "span_parents": [root],
                "span_attributes": {"name": SCORER, "type": "score", "purpose": "scorer"},
                "output": {"expected": o.expected, "predicted": o.predicted, "correct": o.correct},
                "scores": scores(o),
                "metrics": times,
            }
        )
    return rows
