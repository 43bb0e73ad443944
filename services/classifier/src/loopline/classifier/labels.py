"""A decision → the merge row that puts it on the span. Pure.

Labels are ordinary fields, in the shape Braintrust's Topics write (specs/braintrust-functions-and-
evals.md §8, btql.md: ``classifications: object<facet, array<{id, label, confidence?, metadata?,
source?}>>``), so ``classifications.Intent[0].label = 'refund'`` filters as it does there:

    {"id": <span row id>, "_is_merge": true,
     "classifications": {"Intent": [{"id": "refund", "label": "refund", "confidence": 0.93,
        "metadata": {"model": "all-MiniLM-L6-v2-int8-dynq/t128", "head": "<head version>"},
        "source": {"type": "model", "id": "<classifier id>", "version": "<taxonomy version>"}}]}}

A merge replaces the facet's array and leaves every other facet and field alone. ``source.type``
says who decided: ``model``, ``llm`` or ``human``. A human label is never replaced by a machine
one, and a machine label of a (classifier, version) the row already carries is not written again,
so redelivery and repeated backfills write nothing new (and the first answer of a version stands).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SourceType = Literal["model", "llm", "human"]
MACHINE_SOURCES: frozenset[str] = frozenset({"model", "llm"})


@dataclass(frozen=True)
class Decision:
    """What a classifier decided for one span of one facet."""

    facet: str
    label: str
    confidence: float
    classifier_id: str
    taxonomy_version: str
    source: SourceType = "model"
    label_id: str | None = None  # stable across versions when the taxonomy has one; the name otherwise
    metadata: dict[str, Any] = field(default_factory=dict)


def classification_item(decision: Decision) -> dict[str, Any]:
    return {
        "id": decision.label_id or decision.label,
        "label": decision.label,
        "confidence": round(float(decision.confidence), 4),
        "metadata": dict(decision.metadata),
        "source": {
            "type": decision.source,
            "id": decision.classifier_id,
            "version": decision.taxonomy_version,
        },
    }


def merge_row(row_id: str, decision: Decision) -> dict[str, Any]:
    """The merge write of one facet's label onto one span row."""
    return {
        "id": row_id,
        "_is_merge": True,
        "classifications": {decision.facet: [classification_item(decision)]},
    }


def current_items(row: Mapping[str, Any], facet: str) -> list[Mapping[str, Any]]:
    """The facet's items already on a stored row (tolerant: a malformed value counts as none)."""
    classifications = row.get("classifications")
    if not isinstance(classifications, Mapping):
        return []
    items = classifications.get(facet)
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping)]


def source_type(item: Mapping[str, Any]) -> str | None:
    source = item.get("source")
    return str(source.get("type")) if isinstance(source, Mapping) and "type" in source else None


def should_write(row: Mapping[str, Any], decision: Decision) -> bool:
    """Whether the decision goes onto the row: never over a human label, once per classifier version."""
    items = current_items(row, decision.facet)
    if any(source_type(item) == "human" for item in items):
        return decision.source == "human"
    if decision.source == "human":
        return True
    return not any(_same_version(item, decision) for item in items)


def labelled_by(row: Mapping[str, Any], facet: str, classifier_id: str) -> bool:
    """Whether the facet carries a machine label of this classifier (any version)."""
    for item in current_items(row, facet):
        source = item.get("source")
        if (
            isinstance(source, Mapping)
            and source.get("type") in MACHINE_SOURCES
            and source.get("id") == classifier_id
        ):
            return True
    return False


def human_item(row: Mapping[str, Any], facet: str) -> Mapping[str, Any] | None:
    """The facet's decision when a person made it (its first item, `source.type` "human", with a
    label), else None."""
    items = current_items(row, facet)
    if items and source_type(items[0]) == "human" and isinstance(items[0].get("label"), str):
        return items[0]
    return None


def _same_version(item: Mapping[str, Any], decision: Decision) -> bool:
    source = item.get("source")
    return (
        isinstance(source, Mapping)
        and source.get("type") in MACHINE_SOURCES
        and source.get("id") == decision.classifier_id
        and source.get("version") == decision.taxonomy_version
    )
