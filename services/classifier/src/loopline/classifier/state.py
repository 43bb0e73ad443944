"""The classifier's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from loopline.classifier.classify import HeadCache
from loopline.classifier.embedding.local import local_embedder
from loopline.classifier.pipeline import SpanReader
from loopline.classifier.taxonomy import TaxonomyStore
from loopline.common.bus import Bus
from loopline.common.xact import XactIdGenerator


@dataclass(frozen=True)
class State:
    taxonomies: TaxonomyStore  # owner of `classifiers`
    spans: SpanReader  # committed rows read back
    bus: Bus  # label writes go to `loopline.rows` like any row write
    xact: XactIdGenerator
    _heads: list[HeadCache] = field(default_factory=list, repr=False)

    def heads(self) -> HeadCache:
        """The trained heads over the local model, loaded on first use (not at start-up)."""
        if not self._heads:
            self._heads.append(_shared_heads())
        return self._heads[0]


@functools.cache
def _shared_heads() -> HeadCache:
    return HeadCache(local_embedder())
