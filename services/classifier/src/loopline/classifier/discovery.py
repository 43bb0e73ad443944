"""Discovery: texts the taxonomy does not cover → proposed labels. Pure (numpy + scikit-learn).

1. **Vectors**: the texts' sentence embeddings, centred on their mean and re-normalised (sentence
   embeddings share a common direction; removing it spreads topics apart for cosine clustering).
2. **Clusters**: k-means for k = 2 … `max_k`, keeping the k with the best silhouette (cosine, on
   a sample). Members far from their centroid (cosine under `min_member_similarity`) are left out
   as noise, and clusters smaller than `min_size` are dropped. Measured on planted topics plus
   small talk (tests/test_discovery.py): HDBSCAN and agglomerative clustering at a fixed distance
   did worse on these 384-d vectors at the sizes discovery sees (tens to thousands of texts).
3. **Names** without an LLM: class-based TF-IDF (c-TF-IDF): each cluster's texts are one
   document, next to one document of everything else the clustering saw, and a term scores by
   its frequency in the cluster x log(1 + average words per class / its frequency over all
   classes). Terms must occur in at least two of the cluster's texts. The top terms give the
   name (``add_page``) and a description.
4. **Representatives**: the texts nearest the cluster's centroid.

A proposal is ``{name, description, keywords, size, share, cohesion, examples, span_ids}``;
accepting it adds ``{name, description, examples}`` as a label (a new taxonomy version).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from loopline.classifier.head import OTHER
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

Vectors = npt.NDArray[np.float32]
MAX_NAME_WORDS = 3
SILHOUETTE_SAMPLE = 1000
#: English stop words, what the tokenizer leaves of contractions ("don't" → "don"), and the filler
#: of requests ("can you tell me", "I need", "please") that says nothing about a topic
STOP_WORDS = sorted(
    ENGLISH_STOP_WORDS
    | {"don", "doesn", "didn", "isn", "wasn", "aren", "won", "haven", "hasn", "can", "ll", "ve", "re", "im"}
    | {"did", "does", "doing", "tell", "know", "need", "want", "like", "just", "please", "let", "hi"}
    | {"hello", "thanks", "thank", "ok", "okay"}
)


@dataclass(frozen=True)
class DiscoveryConfig:
    min_size: int = 5  # smallest cluster proposed
    max_k: int = 20  # most clusters tried
    max_proposals: int = 10
    min_member_similarity: float = 0.1  # cosine to the centroid (centred vectors): below → noise
    examples: int = 5  # representatives per proposal
    span_ids: int = 20  # member ids per proposal
    seed: int = 0


@dataclass
class Proposal:
    name: str
    description: str
    keywords: list[str]
    size: int
    share: float  # of the texts clustered
    cohesion: float  # mean cosine of the members to their centroid (centred vectors)
    examples: list[str]
    span_ids: list[str] = field(default_factory=list)
    named_by: str = "keywords"  # or "llm"

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "keywords": self.keywords,
            "size": self.size,
            "share": round(self.share, 4),
            "cohesion": round(self.cohesion, 4),
            "examples": self.examples,
            "span_ids": self.span_ids,
            "named_by": self.named_by,
        }


def centred(vectors: Vectors) -> Vectors:
    out = vectors - vectors.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


def cluster(vectors: Vectors, config: DiscoveryConfig) -> npt.NDArray[np.int64]:
    """A cluster number per vector (-1: noise), from centred vectors."""
    n = len(vectors)
    labels = np.full(n, -1, dtype=np.int64)
    max_k = min(config.max_k, n // max(config.min_size, 1))
    if n < 2 * config.min_size or max_k < 2:
        if n >= config.min_size:
            labels[:] = 0  # one group: too few texts to split
        return labels
    rng = np.random.default_rng(config.seed)
    sample = rng.choice(n, size=min(n, SILHOUETTE_SAMPLE), replace=False)
    best: tuple[float, npt.NDArray[np.int64]] | None = None
    for k in range(2, max_k + 1):
        fitted = KMeans(n_clusters=k, n_init=3, random_state=config.seed).fit(vectors)
        assigned = np.asarray(fitted.labels_, dtype=np.int64)
        if len(set(assigned[sample].tolist())) < 2:
            continue
        score = float(silhouette_score(vectors[sample], assigned[sample], metric="cosine"))
        if best is None or score > best[0]:
            best = (score, assigned)
    if best is None:
        return labels
    labels = best[1].copy()
    for c in set(labels.tolist()):
        members = np.flatnonzero(labels == c)
        centroid = _unit(vectors[members].mean(axis=0))
        far = members[vectors[members] @ centroid < config.min_member_similarity]
        labels[far] = -1
        if (labels == c).sum() < config.min_size:
            labels[labels == c] = -1
    return labels


def _unit(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(v / max(float(np.linalg.norm(v)), 1e-12), dtype=np.float32)


_WORD = r"(?u)\b[^\W\d_][^\W_]+\b"  # words of two or more characters, not starting with a digit


def keywords(texts: Sequence[str], labels: Sequence[int], top: int = 8) -> dict[int, list[str]]:
    """The most distinctive terms of each cluster (c-TF-IDF; the noise texts are one more class)."""
    classes = sorted(set(labels))
    if not classes:
        return {}
    docs = [" ".join(t for t, lab in zip(texts, labels, strict=True) if lab == c) for c in classes]
    try:
        vec = CountVectorizer(stop_words=STOP_WORDS, ngram_range=(1, 2), token_pattern=_WORD, lowercase=True)
        tf = vec.fit_transform(docs).toarray().astype(np.float64)
        per_text = (vec.transform(texts) > 0).toarray()
    except ValueError:  # no usable word at all
        return {c: [] for c in classes if c >= 0}
    terms = vec.get_feature_names_out()
    words_per_class = tf.sum(axis=1, keepdims=True)
    avg_words = float(words_per_class.mean())
    idf = np.log1p(avg_words / np.maximum(tf.sum(axis=0), 1e-12))
    scores = tf / np.maximum(words_per_class, 1e-12) * idf
    label_arr = np.asarray(labels)
    out: dict[int, list[str]] = {}
    for row, c in enumerate(classes):
        if c < 0:
            continue
        in_texts = per_text[label_arr == c].sum(axis=0)
        order = np.argsort(-scores[row])
        picked: list[str] = []
        for j in order:
            if scores[row, j] <= 0 or len(picked) >= top:
                break
            if in_texts[j] < 2:
                continue
            term = str(terms[j])
            if any(term in p or p in term for p in picked):
                continue  # "add page" already says "page"
            picked.append(term)
        out[c] = picked
    return out


def label_name(words: Sequence[str], taken: set[str], fallback: str) -> str:
    """A label name from the top keywords (``add_page``), unique among ``taken`` (case-insensitive)."""
    parts: list[str] = []
    for w in words:
        for part in re.split(r"\s+", w):
            if part and part not in parts and len(parts) < MAX_NAME_WORDS:
                parts.append(part)
        if len(parts) >= 2:
            break
    base = "_".join(parts) or fallback
    if base.casefold() == OTHER:
        base = f"{base}_topic"
    name, i = base, 2
    while name.casefold() in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def describe(words: Sequence[str]) -> str:
    return f"Requests about {', '.join(words[:4])}" if words else "Requests that resemble each other"


def propose(
    texts: Sequence[str],
    vectors: Vectors,
    ids: Sequence[str],
    existing: Sequence[str],
    config: DiscoveryConfig | None = None,
) -> list[Proposal]:
    """Proposed labels for ``texts`` (with their embeddings and span ids), biggest first."""
    config = config or DiscoveryConfig()
    if not len(texts):
        return []
    unit = centred(vectors)
    with threadpool_limits(limits=1):  # one request, one core: BLAS threads only contend (8x slower)
        labels = cluster(unit, config)
    words = keywords(texts, labels.tolist())
    taken = {e.casefold() for e in existing}
    clusters = sorted((c for c in set(labels.tolist()) if c >= 0), key=lambda c: -int((labels == c).sum()))
    out: list[Proposal] = []
    for n, c in enumerate(clusters[: config.max_proposals]):
        members = np.flatnonzero(labels == c)
        centroid = _unit(unit[members].mean(axis=0))
        sims = unit[members] @ centroid
        order = members[np.argsort(-sims)]
        examples: list[str] = []
        for i in order:
            if texts[i] not in examples:
                examples.append(texts[i])
            if len(examples) >= config.examples:
                break
        kw = words.get(c, [])
        name = label_name(kw, taken, f"topic_{n + 1}")
        taken.add(name.casefold())
        out.append(
            Proposal(
                name=name,
                description=describe(kw),
                keywords=kw,
                size=len(members),
                share=len(members) / len(texts),
                cohesion=float(sims.mean()),
                examples=examples,
                span_ids=[ids[i] for i in order[: config.span_ids]],
            )
        )
    return out
