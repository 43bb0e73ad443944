"""The consumer of `loopline.rows.committed`: committed traces of project logs → labels as merge rows.

Steps (common.pipeline): decode → group by project logs object → per group: the project's
classifiers (none: nothing to do, the model is never loaded) → the committed rows, read back from
the store → `classify.classify_rows` in a worker thread → `RowWrite`s on `loopline.rows`.

Idempotent under redelivery: a row that already carries this classifier version's label (or a
human label) is not written again (`labels.should_write`). The labels this consumer writes are
committed too and come back here once; they are then skipped the same way. Spans created before
a classifier's first version, and spans it labelled with an earlier version, are left to backfill
(`classify.left_to_backfill`), so a lagging consumer or a later merge does not label old spans.
Human labels that arrive another way (/logs3, the SDK) are kept as corrections
(`CorrectionStore.record_human_labels`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopline.classifier.classify import HeadCache, classify_rows
from loopline.classifier.corrections import CorrectionStore
from loopline.classifier.head import OTHER
from loopline.classifier.llm import LlmFallback
from loopline.classifier.settings import ClassifierSettings
from loopline.classifier.taxonomy import TaxonomyStore
from loopline.common import stored_row
from loopline.common.bus import Bus, ConsumerOptions, Message
from loopline.common.logging import get_logger
from loopline.common.messages import committed
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.committed import RowsCommitted
from loopline.common.messages.rows import RowWrite
from loopline.common.metrics import CLASSIFIER_SPANS
from loopline.common.pipeline import Batch, Invalid, Pipeline, decode, run_task
from loopline.common.store import Store
from loopline.common.xact import XactIdGenerator

log = get_logger(__name__)
GROUP = "classifier"
PROJECT_LOGS = "project_logs"


@dataclass
class Counters:
    spans_labelled: int = 0
    no_text: int = 0
    unchanged: int = 0
    left_to_backfill: int = 0  # spans older than the classifier, or labelled by an earlier version
    human_labels_recorded: int = 0  # human labels written by other means, kept as corrections
    batches: int = 0
    # seconds spent, summed over batches: reading the committed rows back, the model (and the
    # LLM fallback), publishing the label writes (the status shows where a batch's time goes)
    read_s: float = 0.0
    classify_s: float = 0.0
    publish_s: float = 0.0


class SpanReader:
    """The current rows of one object, by id (what `rows.committed` announced)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def rows(
        self, org_id: str, project_id: str, object_type: str, object_id: str, ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        if not ids:
            return []
        found = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {', '.join(stored_row.READ_COLUMNS)} FROM {{db}}.spans FINAL "
                "WHERE org_id = {o:String} AND project_id = {p:String} AND object_type = {t:String} "
                "AND object_id = {i:String} AND id IN {ids:Array(String)}"
            ),
            {"o": org_id, "p": project_id, "t": object_type, "i": object_id, "ids": list(ids)},
        )
        return [stored_row.to_read_row(r) for r in found]


class LabelTraces:
    """The pipeline's work step: committed traces → merge rows published on `loopline.rows`."""

    def __init__(
        self,
        taxonomies: TaxonomyStore,
        reader: SpanReader,
        heads: Any,
        bus: Bus,
        xact: XactIdGenerator,
        settings: ClassifierSettings | None = None,
        llm: LlmFallback | None = None,
        corrections: CorrectionStore | None = None,
    ) -> None:
        self.settings = settings or ClassifierSettings()
        self.llm = llm  # spans under a facet's threshold may go to an LLM (llm.py)
        self.taxonomies = taxonomies
        self.corrections = corrections  # corrections a model write raced past are written again
        self.reader = reader
        self.heads = heads  # () -> HeadCache: the model loads on first need
        self.bus = bus
        self.xact = xact
        self.counters = Counters()

    async def __call__(self, batch: Batch[list[RowsCommitted]]) -> int:
        groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
        for m in batch.value:
            if m.object_type == PROJECT_LOGS:
                groups[(m.org_id, m.project_id, m.object_type, m.object_id)].extend(m.ids)
        written = 0
        for (org_id, project_id, object_type, object_id), ids in groups.items():
            classifiers = await self.taxonomies.current(org_id, project_id)
            if not classifiers:
                continue
            t0 = time.perf_counter()
            rows = await self.reader.rows(
                org_id, project_id, object_type, object_id, list(dict.fromkeys(ids))
            )
            t1 = time.perf_counter()
            heads: HeadCache = await asyncio.to_thread(self.heads)
            s = self.settings
            if self.corrections is not None:
                self.counters.human_labels_recorded += await self.corrections.record_human_labels(
                    org_id, project_id, rows, classifiers
                )
            result = await asyncio.to_thread(
                functools.partial(
                    classify_rows, rows, classifiers, heads, s.fast_threshold, s.max_text_chars, live=True
                )
            )
            if self.llm is not None:
                await self.llm.apply(org_id, result, classifiers)
            t2 = time.perf_counter()
            self.counters.read_s += t1 - t0
            self.counters.classify_s += t2 - t1
            if self.corrections is not None:
                result.writes.extend(await self.corrections.repairs(org_id, project_id, rows))
            self.counters.no_text += result.no_text
            self.counters.unchanged += result.unchanged
            self.counters.left_to_backfill += result.left_to_backfill
            others = sum(1 for _, d in result.decisions if d.label == OTHER)
            CLASSIFIER_SPANS.labels("labelled").inc(len(result.decisions) - others)
            CLASSIFIER_SPANS.labels("other").inc(others)
            CLASSIFIER_SPANS.labels("no_text").inc(result.no_text)
            CLASSIFIER_SPANS.labels("unchanged").inc(result.unchanged)
            if result.writes:
                out = [
                    rows_topic.CONTRACT.out(
                        RowWrite(org_id, project_id, object_type, object_id, self.xact.next(), row)
                    )
                    for row in result.writes
                ]
                await self.bus.publish(rows_topic.TOPIC, out)
                written += len(out)
                self.counters.publish_s += time.perf_counter() - t2
        self.counters.spans_labelled += written
        self.counters.batches += 1
        return written


async def publish_labels(
    bus: Bus,
    xact: XactIdGenerator,
    org_id: str,
    project_id: str,
    object_id: str,
    writes: Sequence[dict[str, Any]],
) -> None:
    """Merge rows of labels onto project-log spans, as ordinary row writes on `loopline.rows`."""
    out = [
        rows_topic.CONTRACT.out(RowWrite(org_id, project_id, PROJECT_LOGS, object_id, xact.next(), row))
        for row in writes
    ]
    await bus.publish(rows_topic.TOPIC, out)


async def _log_dead_letters(invalid: Sequence[Invalid]) -> None:
    for d in invalid:
        log.warning("classifier_dead_letter", reason=d.reason, key=d.message.key.decode(errors="replace"))


def build_pipeline(step: LabelTraces) -> Pipeline[list[Message]]:
    return Pipeline(
        "classifier",
        [decode(committed.CONTRACT), run_task("label", step)],
        dead_letters=_log_dead_letters,
    )


OPTIONS = ConsumerOptions(max_batch=500, max_wait_s=0.1)
