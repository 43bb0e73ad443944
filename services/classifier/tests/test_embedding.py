"""The local embedder (the real int8 MiniLM shipped in PyPI packages) and the embedding cache."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from loopline.classifier.embedding import Embedder, EmbeddingCache
from loopline.classifier.embedding.base import Vectors
from loopline.classifier.embedding.local import (
    DIM,
    MiniLMEmbedder,
    ModelFilesMissing,
    local_embedder,
    mean_pool_normalised,
    package_dir,
    quantized_model_file,
)


@pytest.fixture(scope="module")
def model() -> MiniLMEmbedder:
    return local_embedder()


def test_loads_once_per_process(model: MiniLMEmbedder) -> None:
    assert local_embedder() is model
    assert isinstance(model, Embedder)
    assert model.dim == DIM
    assert model.model_id.startswith("all-MiniLM-L6-v2-int8")


def test_vectors_are_normalised_and_semantic(model: MiniLMEmbedder) -> None:
    v = model.embed(
        ["How do I reset my password?", "I forgot my login password", "What is the weather in Paris?"]
    )
    assert v.shape == (3, DIM)
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.7  # paraphrases
    assert v[0] @ v[2] < 0.2  # unrelated


def test_batching_and_padding_do_not_change_vectors_of_the_shipped_model() -> None:
    model = MiniLMEmbedder(quantized=False)
    texts = ["short", "a somewhat longer sentence about a lost card and a refund", "mid length text here"] * 3
    together = model.embed(texts)
    alone = np.stack([model.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    small_batches = MiniLMEmbedder(batch_size=2, quantized=False).embed(texts)
    np.testing.assert_allclose(together, small_batches, atol=1e-4)


def test_int8_compute_depends_little_on_the_batch(model: MiniLMEmbedder) -> None:
    """Dynamic quantization scales activations per batch: vectors move slightly with their neighbours."""
    texts = ["short", "a somewhat longer sentence about a lost card and a refund", "mid length text here"] * 3
    together = model.embed(texts)
    alone = np.stack([model.embed([t])[0] for t in texts])
    assert (together * alone).sum(axis=1).min() > 0.98


def test_hostile_texts_embed(model: MiniLMEmbedder) -> None:
    texts = ["", " ", "Где моя карта?", "我的卡在哪里", "😢" * 500, "word " * 10_000, "\x00\x01"]
    v = model.embed(texts)
    assert v.shape == (len(texts), DIM)
    assert np.isfinite(v).all()


def test_empty_batch(model: MiniLMEmbedder) -> None:
    assert model.embed([]).shape == (0, DIM)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        MiniLMEmbedder(threads=0)
    with pytest.raises(ValueError):
        MiniLMEmbedder(max_tokens=2)


def test_missing_package_is_named() -> None:
    with pytest.raises(ModelFilesMissing, match="no_such_model_package"):
        package_dir("no_such_model_package")


def test_mean_pool_ignores_padding() -> None:
    hidden = np.array([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(mean_pool_normalised(hidden, mask), [[2**-0.5, 2**-0.5]], atol=1e-6)
    assert not np.isnan(mean_pool_normalised(np.zeros((1, 2, 2)), np.zeros((1, 2)))).any()


class CountingEmbedder:
    model_id = "counting"
    dim = 2

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_cache_embeds_each_distinct_text_once() -> None:
    inner = CountingEmbedder()
    cache = EmbeddingCache(inner, max_entries=10)
    first = cache.embed(["a", "bb", "a"])
    second = cache.embed(["bb", "ccc"])
    assert inner.calls == [["a", "bb"], ["ccc"]]
    np.testing.assert_array_equal(first[:, 0], [1, 2, 1])
    np.testing.assert_array_equal(second[:, 0], [2, 3])
    assert (cache.hits, cache.misses) == (2, 3)
    assert cache.model_id == "counting"
    assert cache.dim == 2


def test_cache_is_bounded_lru() -> None:
    inner = CountingEmbedder()
    cache = EmbeddingCache(inner, max_entries=2)
    cache.embed(["a", "b"])
    cache.embed(["a"])  # a is now the most recent
    cache.embed(["c"])  # evicts b
    assert len(cache) == 2
    cache.embed(["a", "b"])
    assert inner.calls[-1] == ["b"]
    with pytest.raises(ValueError):
        EmbeddingCache(inner, max_entries=0)


def test_quantized_model_is_built_once_and_stays_close_to_the_shipped_one(tmp_path: Path) -> None:
    path = quantized_model_file(tmp_path)
    assert path.parent == tmp_path
    built = path.stat().st_mtime_ns
    assert quantized_model_file(tmp_path) == path
    assert path.stat().st_mtime_ns == built  # reused, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left behind
    texts = ["where is my card", "I want my money back", "Где моя карта?", "tell me a joke"]
    shipped = MiniLMEmbedder(quantized=False).embed(texts)
    quantized = MiniLMEmbedder(quantized=True, cache_dir=tmp_path)
    assert quantized.model_id != MiniLMEmbedder(quantized=False).model_id
    cosines = (shipped * quantized.embed(texts)).sum(axis=1)
    assert cosines.min() > 0.97


def test_unwritable_cache_dir_builds_into_a_temporary_one(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = quantized_model_file(blocker / "models")
    assert path.is_file()
    assert blocker not in path.parents
    shutil.rmtree(path.parent)
