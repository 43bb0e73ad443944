"""Labelled spans as data: dataset records, and training examples for a new taxonomy version. Pure.

A labelled span is a root span of project logs whose ``classifications.<Facet>[0]`` is set (by a
person, or by the model / an LLM). As a **dataset record** it keeps the span's shape, so the
dataset can drive an experiment like any other:

    {"id": <span row id>, "input": <the span's input>, "expected": <the label>,
     "metadata": {"span_id", "root_span_id", "source": {type, id, version}, "confidence",
                  "facet", "classifier_id", "project_id", "created"}}

The record id is the span's row id, so exporting the same spans to a dataset again updates those
records instead of adding copies.

As a **training example** it is the span's text (`text.extract_text`, the facet's path if it has
one) under its label: `merge_examples` adds such pairs to a taxonomy's labels, and the result is
the `labels` of the next version. `other` and labels the taxonomy does not have are counted and
left out; a label keeps at most `MAX_EXAMPLES_PER_LABEL` examples (the ones it had come first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopline.classifier.head import OTHER
from loopline.classifier.labels import current_items, source_type
from loopline.classifier.taxonomy import MAX_EXAMPLE_CHARS, MAX_EXAMPLES_PER_LABEL, Taxonomy
from loopline.classifier.text import truncate
from loopline.common.errors import Invalid

SOURCES = frozenset({"human", "model", "llm"})
#: the fields a labelled span is read with (BTQL `select:`)
SPAN_FIELDS = "id, span_id, root_span_id, input, classifications, created"


def labelled_spans_query(
    project_id: str,
    facet: str,
    sources: Sequence[str],
    days: int | None = None,
    min_confidence: float | None = None,
) -> str:
    """BTQL for the project's root spans whose facet label came from one of ``sources``.

    ``facet`` is a validated facet name (letters, digits, _), so it is a plain path part."""
    item = f"classifications.{facet}[0]"
    kinds = ", ".join(f"'{s}'" for s in sources)
    where = ["is_root", f"{item}.label IS NOT NULL", f"{item}.source.type IN ({kinds})"]
    if days is not None:
        where.append(f"created > now() - interval {int(days)} day")
    if min_confidence is not None:
        where.append(f"({item}.source.type = 'human' OR {item}.confidence >= {float(min_confidence)!r})")
    return (
        f"select: {SPAN_FIELDS} | from: project_logs('{project_id.replace(chr(39), chr(39) * 2)}') "
        f"| filter: {' and '.join(where)}"
    )


def parse_sources(raw: Any) -> list[str]:
    if raw is None:
        return ["human"]
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and s in SOURCES for s in raw):
        raise Invalid(f"sources must be a non-empty array of {sorted(SOURCES)}", field="sources")
    return list(dict.fromkeys(raw))


def span_label(row: Mapping[str, Any], facet: str) -> Mapping[str, Any] | None:
    """The facet's decision on a span row (its first item), or None."""
    items = current_items(row, facet)
    if not items or not isinstance(items[0].get("label"), str):
        return None
    return items[0]


def dataset_record(row: Mapping[str, Any], facet: str, project_id: str) -> dict[str, Any] | None:
    """A labelled span as a dataset record (None: the span has no label for the facet)."""
    item = span_label(row, facet)
    if item is None or not isinstance(row.get("id"), str):
        return None
    source = item.get("source") if isinstance(item.get("source"), Mapping) else {}
    metadata: dict[str, Any] = {
        "span_id": row.get("span_id"),
        "root_span_id": row.get("root_span_id"),
        "project_id": project_id,
        "facet": facet,
        "source": dict(source) if isinstance(source, Mapping) else {},
        "confidence": item.get("confidence"),
        "created": row.get("created"),
    }
    if isinstance(source, Mapping) and source.get("id"):
        metadata["classifier_id"] = source.get("id")
    return {"id": row["id"], "input": row.get("input"), "expected": item["label"], "metadata": metadata}


def expected_label(value: Any, facet: str) -> str | None:
    """A record's ``expected`` as a label: a string; ``{facet: label}``; ``{"label": ...}``; or the
    classifications shape (``[{label, ...}]`` or ``{facet: [{label}]}``)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return expected_label(value[0].get("label"), facet)
    if isinstance(value, Mapping):
        if facet in value:
            return expected_label(value[facet], facet)
        if "label" in value:
            return expected_label(value["label"], facet)
    return None


@dataclass
class ExampleMerge:
    """What adding examples to a taxonomy did."""

    labels: list[dict[str, Any]] = field(default_factory=list)  # the next version's labels
    added: dict[str, int] = field(default_factory=dict)  # label → new examples
    already_known: int = 0  # the label already had this text
    unknown_label: dict[str, int] = field(default_factory=dict)  # labels not in the taxonomy
    other: int = 0  # examples of `other` (not a label: it is what low confidence gives)
    full: int = 0  # left out: the label has MAX_EXAMPLES_PER_LABEL examples

    @property
    def total_added(self) -> int:
        return sum(self.added.values())

    def public(self) -> dict[str, Any]:
        return {
            "added": self.total_added,
            "added_by_label": dict(sorted(self.added.items())),
            "already_known": self.already_known,
            "unknown_labels": dict(sorted(self.unknown_label.items())),
            "other": self.other,
            "over_limit": self.full,
        }


def merge_examples(taxonomy: Taxonomy, pairs: Iterable[tuple[str, str]]) -> ExampleMerge:
    """The taxonomy's labels with ``(label, text)`` pairs added as examples (case-insensitive label
    match; an example text a label already has is not added twice)."""
    out = ExampleMerge()
    by_key = {lab.name.casefold(): lab.name for lab in taxonomy.labels}
    examples: dict[str, list[str]] = {lab.name: list(lab.examples) for lab in taxonomy.labels}
    seen: dict[str, set[str]] = {name: {e.casefold() for e in ex} for name, ex in examples.items()}
    for label, text in pairs:
        key = label.strip().casefold()
        if key == OTHER:
            out.other += 1
            continue
        name = by_key.get(key)
        if name is None:
            out.unknown_label[label] = out.unknown_label.get(label, 0) + 1
            continue
        example = truncate(text.strip(), MAX_EXAMPLE_CHARS)
        if not example:
            continue
        if example.casefold() in seen[name]:
            out.already_known += 1
            continue
        if len(examples[name]) >= MAX_EXAMPLES_PER_LABEL:
            out.full += 1
            continue
        examples[name].append(example)
        seen[name].add(example.casefold())
        out.added[name] = out.added.get(name, 0) + 1
    out.labels = [
        {"name": lab.name, "description": lab.description, "examples": examples[lab.name]}
        for lab in taxonomy.labels
    ]
    return out


def is_human(item: Mapping[str, Any]) -> bool:
    return source_type(item) == "human"
