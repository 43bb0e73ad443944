"""The Embedder protocol and a bounded cache in front of any embedder."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Texts → L2-normalised float32 vectors, one row per text, in order."""

    @property
    def model_id(self) -> str:
        """Names the model and its settings: part of every classifier version built on it."""
        ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class EmbeddingCache:
    """An Embedder that remembers the vectors of the last ``max_entries`` distinct texts.

    Production traffic repeats itself (the same greeting, the same button), and training reuses the
    texts it was just shown; a hit costs a dict lookup instead of a model call.
    """

    def __init__(self, inner: Embedder, max_entries: int = 50_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._inner = inner
        self._max = max_entries
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            vec = self._vectors.get(text)
            if vec is None:
                missing.setdefault(text, []).append(i)
            else:
                self._vectors.move_to_end(text)
                out[i] = vec
        self.hits += len(texts) - len(missing)  # a repeat inside one batch is a hit too
        if missing:
            unique = list(missing)
            self.misses += len(unique)
            fresh = self._inner.embed(unique)
            for text, vec in zip(unique, fresh, strict=True):
                out[missing[text]] = vec
                self._vectors[text] = vec.copy()  # a row view would pin the whole batch
            while len(self._vectors) > self._max:
                self._vectors.popitem(last=False)
        return out

    def __len__(self) -> int:
        return len(self._vectors)
