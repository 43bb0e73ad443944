"""Text embeddings for the classifier: the protocol (`base`) and the local CPU model (`local`)."""

from loopline.classifier.embedding.base import Embedder, EmbeddingCache

__all__ = ["Embedder", "EmbeddingCache"]
