"""Span rows + a project's classifiers → the merge rows to publish. CPU work, no I/O.

The consumer of `loopline.rows.committed` (and backfill) fetch the committed rows, call
`classify_rows` (in a worker thread: it embeds), and publish `BatchResult.writes` on `loopline.rows`.
Per classifier (facet): root spans only → text (`text.extract_text`, the facet's path if it has
one) → one batched prediction → `other` below the facet's threshold → skip rows whose label must
not change (`labels.should_write`: human labels, a label of this version already there).

The consumer labels spans as they arrive (`live=True`): a span created before the classifier's
first version, or already labelled by the classifier (any version), is left alone however late the
consumer reads it and whatever later merge brings it back; labelling old spans, or relabelling
them with a new version, is backfill's work (backfill.py), asked for explicitly.

Trained heads are cached per classifier version, so a new version trains once and then labels
every new span at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loopline.classifier.embedding.base import Embedder
from loopline.classifier.head import DEFAULT_FAST_THRESHOLD, OTHER, HeadConfig, LabelHead, decide, train_head
from loopline.classifier.labels import Decision, labelled_by, merge_row, should_write
from loopline.classifier.taxonomy import Classifier
from loopline.classifier.text import DEFAULT_MAX_CHARS, extract_text
from loopline.common.rows import parse_created


def is_root_span(row: Mapping[str, Any]) -> bool:
    if "is_root" in row and row["is_root"] is not None:
        return bool(row["is_root"])
    span_id, root = row.get("span_id"), row.get("root_span_id")
    if span_id is not None and root is not None:
        return bool(span_id == root)
    return not row.get("span_parents")


#: a span created this little before the classifier still counts as arriving after it (a span's
#: `created` may be whole seconds, or from a client clock a little behind the server's)
CREATED_GRACE_S = 5.0


def _created(row: Mapping[str, Any]) -> datetime | None:
    v = row.get("created")
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    if isinstance(v, str) and v:
        try:
            return parse_created(v)
        except ValueError:
            return None
    return None


def left_to_backfill(row: Mapping[str, Any], classifier: Classifier) -> bool:
    """Whether live labelling leaves the span to backfill: created before the classifier's first
    version, or already carrying a label of this classifier (of any version)."""
    first = classifier.first_created or (classifier.created if classifier.version == 1 else None)
    created = _created(row)
    if first is not None and created is not None:
        first = first if first.tzinfo is not None else first.replace(tzinfo=UTC)
        if created < first - timedelta(seconds=CREATED_GRACE_S):
            return True
    return labelled_by(row, classifier.taxonomy.facet, classifier.id)


class HeadCache:
    """Trained heads by (org, project, classifier id, version); the least recently used go first."""

    def __init__(self, embedder: Embedder, config: HeadConfig | None = None, max_heads: int = 64) -> None:
        self.embedder = embedder
        self.config = config or HeadConfig()
        self._max = max_heads
        self._heads: OrderedDict[tuple[str, str, str, int], LabelHead] = OrderedDict()
        self._lock = threading.Lock()
        self.trained = 0

    def head_for(self, classifier: Classifier) -> LabelHead:
        key = (classifier.org_id, classifier.project_id, classifier.id, classifier.version)
        with self._lock:
            head = self._heads.get(key)
            if head is not None:
                self._heads.move_to_end(key)
                return head
        head = train_head(classifier.taxonomy.label_specs(), self.embedder, self.config)
        with self._lock:
            self._heads[key] = head
            self.trained += 1
            while len(self._heads) > self._max:
                self._heads.popitem(last=False)
        return head


@dataclass
class BatchResult:
    writes: list[dict[str, Any]] = field(default_factory=list)  # merge rows for `loopline.rows`
    decisions: list[tuple[str, Decision]] = field(default_factory=list)  # (row id, decision) written
    no_text: int = 0  # root spans without usable text (no label; counted, not an error)
    unchanged: int = 0  # decisions not written (a human label, or this version's label already there)
    # live: spans older than the classifier or labelled by an earlier version (backfill's work)
    left_to_backfill: int = 0
    not_root: int = 0
    # (row id, facet) → the text its decision was made on, for the decisions written (llm.py)
    texts: dict[tuple[str, str], str] = field(default_factory=dict)


def classify_rows(
    rows: Sequence[Mapping[str, Any]],
    classifiers: Sequence[Classifier],
    heads: HeadCache,
    fast_threshold: float | None = DEFAULT_FAST_THRESHOLD,
    max_chars: int = DEFAULT_MAX_CHARS,
    *,
    live: bool = False,
) -> BatchResult:
    """`live`: the consumer's labelling of arriving spans (see the module's doc); backfill passes
    False."""
    result = BatchResult()
    roots = [r for r in rows if is_root_span(r) and isinstance(r.get("id"), str)]
    result.not_root = len(rows) - len(roots)
    for classifier in classifiers:
        taxonomy = classifier.taxonomy
        if not taxonomy.labels:
            continue  # nothing to choose from yet (discovery proposes labels)
        texts: list[str] = []
        targets: list[Mapping[str, Any]] = []
        # what should_write would refuse whatever the label (a human label, this version's label
        # already there: e.g. the notices of this consumer's own label writes) is not predicted
        probe = Decision(taxonomy.facet, OTHER, 0.0, classifier.id, str(classifier.version))
        for row in roots:
            if not should_write(row, probe):
                result.unchanged += 1
                continue
            if live and left_to_backfill(row, classifier):
                result.left_to_backfill += 1
                continue
            text = extract_text(row, taxonomy.text_path, max_chars)
            if text is None:
                result.no_text += 1
                continue
            texts.append(text)
            targets.append(row)
        if not texts:
            continue
        head = heads.head_for(classifier)
        predictions = head.predict(texts, fast_threshold)
        for row, text, prediction in zip(targets, texts, predictions, strict=True):
            label, confidence = decide(prediction, taxonomy.threshold)
            decision = Decision(
                facet=taxonomy.facet,
                label=label,
                confidence=confidence,
                classifier_id=classifier.id,
                taxonomy_version=str(classifier.version),
                metadata={"model": heads.embedder.model_id, "head": head.version},
            )
            if not should_write(row, decision):
                result.unchanged += 1
                continue
            result.writes.append(merge_row(str(row["id"]), decision))
            result.decisions.append((str(row["id"]), decision))
            result.texts[(str(row["id"]), taxonomy.facet)] = text
    return result
