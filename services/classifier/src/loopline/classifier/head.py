"""The trained head: a facet's labels (examples + descriptions) → a classifier over texts. Pure.

Two logistic regressions, trained on the same texts:
- *semantic*: over the embedder's sentence vectors;
- *lexical*: over TF-IDF word uni- and bigrams (no model; microseconds per text).
Their log-probabilities are blended (``embedding_weight``), which beats either alone (see
tests/bench/bench_classifier.py). Every label trains on its examples plus its description and its
name in words, so a label without examples still works from its description.

Prediction can run as a cascade (``fast_threshold``): the lexical stage decides alone when its top
probability reaches the threshold, and only the other texts are embedded. That trades a little
accuracy for several times the throughput; ``None`` embeds everything.

Deterministic (lbfgs, fixed label order) and versioned by a hash of the labels, their examples,
the training settings and the embedding model.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt
import orjson
from loopline.classifier.embedding.base import Embedder
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

OTHER = "other"
#: The cascade threshold the service uses: on BANKING77 / CLINC150 it keeps accuracy within 0.3
#: points of embedding everything while embedding only 38% / 23% of the texts (bench_classifier).
DEFAULT_FAST_THRESHOLD = 0.7
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LabelSpec:
    name: str
    description: str = ""
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeadConfig:
    """Training settings (part of the version)."""

    c: float = 10.0  # inverse regularisation of both regressions
    lexical: bool = True  # blend in the TF-IDF regression
    embedding_weight: float = 0.7  # weight of the semantic log-probabilities in the blend
    label_texts: bool = True  # train on each label's description and name too
    max_iter: int = 1000


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    embedded: bool  # False when the lexical stage decided alone (cascade)


def humanize(name: str) -> str:
    """A label name as words: ``card_arrival`` → ``card arrival``."""
    return " ".join(name.replace("_", " ").replace("-", " ").replace(".", " ").split())


def training_set(labels: Sequence[LabelSpec], label_texts: bool) -> tuple[list[str], list[str]]:
    """(texts, label names) the regressions train on, in a fixed order."""
    texts: list[str] = []
    names: list[str] = []
    for spec in sorted(labels, key=lambda s: s.name):
        own = list(spec.examples)
        if label_texts or not own:
            own += [t for t in (spec.description.strip(), humanize(spec.name)) if t]
        for text in dict.fromkeys(own):  # drop duplicates, keep order
            texts.append(text)
            names.append(spec.name)
    return texts, names


def head_version(labels: Sequence[LabelSpec], config: HeadConfig, model_id: str) -> str:
    """Changes whenever a label, a description, an example, a setting or the model changes."""
    payload = {
        "model": model_id,
        "config": asdict(config),
        "labels": [
            {"name": s.name, "description": s.description, "examples": list(s.examples)}
            for s in sorted(labels, key=lambda s: s.name)
        ],
    }
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


@dataclass
class LabelHead:
    version: str
    labels: tuple[str, ...]
    config: HeadConfig
    embedder: Embedder
    semantic: LogisticRegression | None  # None with a single label (cosine to its centroid instead)
    centroid: npt.NDArray[np.float32] | None
    vectorizer: TfidfVectorizer | None = None
    lexical: LogisticRegression | None = None
    examples: int = field(default=0)

    def predict(self, texts: Sequence[str], fast_threshold: float | None = None) -> list[Prediction]:
        """One prediction per text, in order. ``fast_threshold``: see the module doc."""
        if not texts:
            return []
        if self.semantic is None:
            return self._predict_single(texts)
        lexical = self._lexical_log_proba(texts)
        todo = np.arange(len(texts))
        preds: list[Prediction | None] = [None] * len(texts)
        if lexical is not None and fast_threshold is not None:
            top = lexical.max(axis=1)
            sure = top >= np.log(max(fast_threshold, 1e-12))
            best = lexical.argmax(axis=1)
            for i in np.flatnonzero(sure):
                preds[i] = Prediction(self.labels[best[i]], float(np.exp(top[i])), embedded=False)
            todo = np.flatnonzero(~sure)
        if len(todo):
            vectors = self.embedder.embed([texts[int(i)] for i in todo])
            scores = self.semantic.predict_log_proba(vectors)
            if lexical is not None:
                w = self.config.embedding_weight
                scores = w * scores + (1 - w) * lexical[todo]
            probs = _softmax(scores)
            best = probs.argmax(axis=1)
            for k, i in enumerate(todo):
                preds[i] = Prediction(self.labels[best[k]], float(probs[k, best[k]]), embedded=True)
        return [p for p in preds if p is not None]

    def _lexical_log_proba(self, texts: Sequence[str]) -> Floats | None:
        if self.vectorizer is None or self.lexical is None:
            return None
        return np.asarray(self.lexical.predict_log_proba(self.vectorizer.transform(texts)), dtype=np.float64)

    def _predict_single(self, texts: Sequence[str]) -> list[Prediction]:
        assert self.centroid is not None
        sims = self.embedder.embed(texts) @ self.centroid
        return [Prediction(self.labels[0], float(max(0.0, min(1.0, s))), embedded=True) for s in sims]


def train_head(
    labels: Sequence[LabelSpec], embedder: Embedder, config: HeadConfig | None = None
) -> LabelHead:
    """Train the head of one facet. Raises ValueError without labels or with duplicate names."""
    config = config or HeadConfig()
    names = [s.name for s in labels]
    if not names:
        raise ValueError("a classifier needs at least one label")
    if len(set(names)) != len(names):
        raise ValueError("label names must be unique")
    texts, targets = training_set(labels, config.label_texts)
    version = head_version(labels, config, embedder.model_id)
    ordered = tuple(sorted(names))
    vectors = embedder.embed(texts)
    if len(ordered) == 1:
        centroid = vectors.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        return LabelHead(
            version, ordered, config, embedder, None, centroid.astype(np.float32), examples=len(texts)
        )
    semantic = _fit(vectors, targets, config)
    head = LabelHead(version, ordered, config, embedder, semantic, None, examples=len(texts))
    if config.lexical:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError:  # no word in any example (e.g. emoji-only labels): semantic only
            return head
        head.vectorizer = vectorizer
        head.lexical = _fit(matrix, targets, config)
    assert tuple(semantic.classes_) == ordered
    return head


def decide(prediction: Prediction | None, threshold: float) -> tuple[str, float]:
    """The label to write: the predicted one, or ``other`` below the facet's confidence threshold."""
    if prediction is None or prediction.confidence < threshold:
        return OTHER, 0.0 if prediction is None else prediction.confidence
    return prediction.label, prediction.confidence


def _fit(features: object, targets: list[str], config: HeadConfig) -> LogisticRegression:
    model = LogisticRegression(C=config.c, max_iter=config.max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features, targets)
    return model


def _softmax(scores: Floats) -> Floats:
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)
