"""The classifier's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loopline.classifier.classify import HeadCache
from loopline.classifier.corrections import CorrectionStore
from loopline.classifier.embedding.local import local_embedder
from loopline.classifier.pipeline import SpanReader
from loopline.classifier.settings import ClassifierSettings
from loopline.classifier.taxonomy import TaxonomyStore
from loopline.common.bus import Bus
from loopline.common.xact import XactIdGenerator

if TYPE_CHECKING:
    from loopline.classifier.backfill import BackfillRunner, BackfillStore
    from loopline.classifier.consumer import LabelConsumer
    from loopline.classifier.llm import LlmFallback


@dataclass(frozen=True)
class State:
    taxonomies: TaxonomyStore  # owner of `classifiers`
    spans: SpanReader  # committed rows read back
    bus: Bus  # label writes go to `loopline.rows` like any row write
    xact: XactIdGenerator
    corrections: CorrectionStore  # owner of `classifier_corrections`
    settings: ClassifierSettings = field(default_factory=ClassifierSettings)
    backfills: BackfillStore | None = None  # owner of `classifier_backfills` (set by service.start)
    runner: BackfillRunner | None = None
    consumer: LabelConsumer | None = None  # the rows.committed consumer (status, stop/start)
    llm: LlmFallback | None = None
    _heads: list[HeadCache] = field(default_factory=list, repr=False)

    def heads(self) -> HeadCache:
        """The trained heads over the local model, loaded on first use (not at start-up)."""
        if not self._heads:
            self._heads.append(_shared_heads(self.settings.max_heads, self.settings.model_threads))
        return self._heads[0]

    @property
    def model_loaded(self) -> bool:
        return bool(self._heads)


@functools.cache
def _shared_heads(max_heads: int = 64, threads: int = 1) -> HeadCache:
    return HeadCache(local_embedder(threads), max_heads=max_heads)
