"""The classifier's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from loopline.classifier.classify import HeadCache
from loopline.classifier.embedding.local import local_embedder
from loopline.classifier.taxonomy import TaxonomyStore


@dataclass(frozen=True)
class State:
    taxonomies: TaxonomyStore  # owner of `classifiers`
    _heads: list[HeadCache] = field(default_factory=list, repr=False)

    def heads(self) -> HeadCache:
        """The trained heads over the local model, loaded on first use (not at start-up)."""
        if not self._heads:
            self._heads.append(_shared_heads())
        return self._heads[0]


@functools.cache
def _shared_heads() -> HeadCache:
    return HeadCache(local_embedder())
