"""The improvement loop (Retool's 72% → 95%): labelled spans → dataset, retrain, evaluate.

- `export_dataset`: one call turns the project's labelled spans (human labels by default; model
  or LLM labels on request, above a confidence) into dataset records (`examples.dataset_record`),
  in a new dataset or an existing one, through the gateway's dataset API and ingest.
- `retrain`: the taxonomy's examples + the corrections (spans a person labelled) + optionally a
  labelled dataset → the next taxonomy version (`examples.merge_examples`). The model labels new
  spans with it at once (the consumer trains the new head on first use).
- `evaluate`: any version against a labelled dataset, written as a Loopline experiment
  (`evaluation.experiment_rows`), so versions compare with the experiment comparison. Records
  whose text is one of the version's own examples (what it was trained on, e.g. a dataset made
  from the same corrections it was retrained with) are counted (`trained_on`) and the answer
  warns about them: a score on them measures memory, not the classifier. `exclude_training: true`
  evaluates on the other records only (held out).

Everything the loop reads or writes outside the classifier's own table goes through the other
services' APIs as the caller (`gateway_api.GatewayApi`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from loopline.classifier.classify import HeadCache
from loopline.classifier.corrections import CorrectionStore
from loopline.classifier.evaluation import Outcome, experiment_rows, report
from loopline.classifier.examples import (
    dataset_record,
    expected_label,
    labelled_spans_query,
    merge_examples,
    parse_sources,
    span_label,
)
from loopline.classifier.gateway_api import GatewayApi
from loopline.classifier.head import DEFAULT_FAST_THRESHOLD, decide
from loopline.classifier.taxonomy import MAX_EXAMPLE_CHARS, Classifier, Taxonomy, TaxonomyStore
from loopline.classifier.text import extract_text, truncate
from loopline.common.errors import Invalid

MAX_EXPORT = 10_000  # spans per dataset export
MAX_CORRECTIONS = 20_000  # human labels read per retrain
MAX_EVAL_RECORDS = 10_000  # dataset records per evaluation
MAX_NAME = 200


def int_field(body: Mapping[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Invalid(f"{key} must be an integer from {lo} to {hi}", field=key)
    return value


def str_field(body: Mapping[str, Any], key: str, max_len: int = MAX_NAME) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise Invalid(f"{key} must be a non-empty string of at most {max_len} characters", field=key)
    return value.strip()


def _confidence(body: Mapping[str, Any]) -> float | None:
    value = body.get("min_confidence")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise Invalid("min_confidence must be a number from 0 to 1", field="min_confidence")
    return float(value)


async def export_dataset(api: GatewayApi, classifier: Classifier, body: Mapping[str, Any]) -> dict[str, Any]:
    """``{dataset_id? | name?, sources?: ["human"], min_confidence?, days?, limit?}`` → the dataset."""
    facet = classifier.taxonomy.facet
    sources = parse_sources(body.get("sources"))
    days = int_field(body, "days", None, 1, 3650)
    limit = int_field(body, "limit", MAX_EXPORT, 1, MAX_EXPORT) or MAX_EXPORT
    dataset_id = str_field(body, "dataset_id")
    name = str_field(body, "name")
    if dataset_id and name:
        raise Invalid("give dataset_id (add to that dataset) or name (a new one), not both", field="name")
    query = labelled_spans_query(classifier.project_id, facet, sources, days, _confidence(body))
    spans = await api.btql(query, limit)
    records = [r for r in (dataset_record(s, facet, classifier.project_id) for s in spans) if r is not None]
    if dataset_id:
        dataset = await api.get_object("dataset", dataset_id)
    else:
        dataset = await api.create(
            "dataset",
            {
                "project_id": classifier.project_id,
                "name": name or f"{facet} labels ({'+'.join(sources)})",
                "description": f"Spans labelled by classifier {classifier.id} ({facet}), from "
                + ", ".join(sources),
                "metadata": {"classifier_id": classifier.id, "facet": facet, "sources": sources},
            },
        )
    await api.insert("dataset", str(dataset["id"]), records)
    return {
        "dataset_id": dataset["id"],
        "name": dataset.get("name"),
        "project_id": dataset.get("project_id"),
        "records": len(records),
        "by_label": dict(Counter(str(r["expected"]) for r in records).most_common()),
        "query": query,
    }


async def retrain(
    api: GatewayApi,
    taxonomies: TaxonomyStore,
    corrections: CorrectionStore,
    classifier: Classifier,
    body: Mapping[str, Any],
    user_id: str = "",
) -> dict[str, Any]:
    """``{corrections?: true, dataset_id?}`` → the next version with the new examples (or the same
    version when nothing new was found). Corrections are the ones made through the API (kept with
    the span's text) and any other human label on the project's spans."""
    t = classifier.taxonomy
    use_corrections = body.get("corrections", True)
    if not isinstance(use_corrections, bool):
        raise Invalid("corrections must be true or false", field="corrections")
    dataset_id = str_field(body, "dataset_id")
    if not use_corrections and not dataset_id:
        raise Invalid("nothing to learn from: keep corrections on or give a dataset_id", field="dataset_id")
    pairs: list[tuple[str, str]] = []
    no_text = 0
    n_corrections = 0
    if use_corrections:
        corrected: set[str] = set()
        kept = await corrections.of_facet(classifier.org_id, classifier.project_id, t.facet, MAX_CORRECTIONS)
        for c in kept:
            corrected.add(c.row_id)
            if not c.text:
                no_text += 1
                continue
            n_corrections += 1
            pairs.append((c.label, c.text))
        # human labels written another way (an SDK merge, an import) count as corrections too
        query = labelled_spans_query(classifier.project_id, t.facet, ["human"])
        for row in await api.btql(query, MAX_CORRECTIONS):
            if row.get("id") in corrected:
                continue
            item = span_label(row, t.facet)
            text = extract_text(row, t.text_path)
            if item is None or text is None:
                no_text += 1
                continue
            n_corrections += 1
            pairs.append((str(item["label"]), text))
    from_dataset = 0
    if dataset_id:
        for record in await api.fetch_all("dataset", dataset_id, MAX_EVAL_RECORDS):
            label = expected_label(record.get("expected"), t.facet)
            text = extract_text(record, t.text_path)
            if label is None or text is None:
                no_text += 1
                continue
            from_dataset += 1
            pairs.append((label, text))
    merge = merge_examples(t, pairs)
    out: dict[str, Any] = {
        "previous_version": classifier.version,
        "corrections": n_corrections,
        "dataset_records": from_dataset,
        "unusable": no_text,
        **merge.public(),
    }
    if not merge.total_added:
        return {"retrained": False, "classifier": classifier.public(), **out}
    updated = await taxonomies.update(
        classifier.org_id, classifier.project_id, classifier.id, {"labels": merge.labels}, user_id
    )
    return {"retrained": True, "classifier": updated.public(), **out}


def _predict(heads: HeadCache, classifier: Classifier, texts: list[str]) -> list[tuple[str, float]]:
    head = heads.head_for(classifier)
    return [decide(p, classifier.taxonomy.threshold) for p in head.predict(texts, DEFAULT_FAST_THRESHOLD)]


def example_key(text: str) -> str:
    """A text as `merge_examples` keeps it as an example (stripped, truncated, any case)."""
    return truncate(text.strip(), MAX_EXAMPLE_CHARS).casefold()


def training_texts(taxonomy: Taxonomy) -> set[str]:
    """The example texts a version was trained on (every label's), as `example_key`s."""
    return {example_key(e) for lab in taxonomy.labels for e in lab.examples}


def training_warning(trained_on: int, total: int, version: int, held_out: bool) -> str | None:
    if not trained_on:
        return None
    if held_out:
        return (
            f"{trained_on} of {total} records are examples version {version} was trained on; "
            "they were left out, the scores are on the other records"
        )
    share = f"all {total}" if trained_on == total else f"{trained_on} of {total}"
    return (
        f"{share} records are examples version {version} was trained on: the scores on them "
        "measure what it memorised, not how it labels new spans. Evaluate on records it has not "
        "seen (exclude_training: true leaves these out)"
    )


async def evaluate(
    api: GatewayApi, heads: HeadCache, classifier: Classifier, body: Mapping[str, Any]
) -> dict[str, Any]:
    """``{dataset_id, experiment_name?, base_experiment_id?, exclude_training?}`` → an experiment
    of this version (with `trained_on` and a `warning` when the dataset holds its own examples)."""
    t = classifier.taxonomy
    dataset_id = str_field(body, "dataset_id")
    if not dataset_id:
        raise Invalid("dataset_id is required: the labelled dataset to evaluate on", field="dataset_id")
    held_out = body.get("exclude_training", False)
    if not isinstance(held_out, bool):
        raise Invalid("exclude_training must be true or false", field="exclude_training")
    name = str_field(body, "experiment_name")
    base = str_field(body, "base_experiment_id")
    if not t.labels:
        raise Invalid("this classifier version has no labels to evaluate", field="version")
    await api.get_object("dataset", dataset_id)  # a clear 404 before reading
    records = await api.fetch_all("dataset", dataset_id, MAX_EVAL_RECORDS)
    cases: list[tuple[Mapping[str, Any], str, str]] = []
    skipped = Counter[str]()
    trained = training_texts(t)
    trained_on = 0
    for record in records:
        label = expected_label(record.get("expected"), t.facet)
        text = extract_text(record, t.text_path)
        if label is None:
            skipped["no_expected_label"] += 1
        elif text is None:
            skipped["no_text"] += 1
        elif example_key(text) in trained:
            trained_on += 1
            if held_out:
                skipped["trained_on"] += 1
            else:
                cases.append((record, label, text))
        else:
            cases.append((record, label, text))
    if not cases and trained_on:
        raise Invalid(
            f"all {trained_on} labelled records of dataset {dataset_id} are examples version "
            f"{classifier.version} was trained on: none is left to evaluate on. Add records it "
            "has not seen, or evaluate them anyway without exclude_training",
            field="dataset_id",
        )
    if not cases:
        raise Invalid(
            f"dataset {dataset_id} has no record with a text and an expected label "
            f"({len(records)} records read)",
            field="dataset_id",
        )
    usable = len(cases) + skipped["trained_on"]
    warning = training_warning(trained_on, usable, classifier.version, held_out)
    start = time.time()
    decided = await asyncio.to_thread(_predict, heads, classifier, [text for _, _, text in cases])
    end = time.time()
    outcomes = [
        Outcome(record, label, predicted, confidence)
        for (record, label, _), (predicted, confidence) in zip(cases, decided, strict=True)
    ]
    result = report(outcomes)
    meta = {
        "classifier": {"id": classifier.id, "version": classifier.version, "facet": t.facet},
        "model": heads.embedder.model_id,
        "accuracy": result["accuracy"],
        "macro_f1": result["macro_f1"],
        "confusion": result["confusion"][:20],
        "trained_on": trained_on,
        "exclude_training": held_out,
    }
    experiment = await api.create(
        "experiment",
        {
            "project_id": classifier.project_id,
            "name": name or f"{t.facet} classifier v{classifier.version}",
            "dataset_id": dataset_id,
            **({"base_exp_id": base} if base else {}),
            "metadata": meta,
        },
    )
    rows = experiment_rows(
        outcomes,
        dataset_id=dataset_id,
        facet=t.facet,
        classifier_id=classifier.id,
        version=classifier.version,
        model_id=heads.embedder.model_id,
        start=start,
        end=end,
    )
    await api.insert("experiment", str(experiment["id"]), rows)
    return {
        "experiment_id": experiment["id"],
        "experiment_name": experiment.get("name"),
        "project_id": classifier.project_id,
        "dataset_id": dataset_id,
        "classifier_id": classifier.id,
        "version": classifier.version,
        "skipped": dict(skipped),
        "trained_on": trained_on,
        "exclude_training": held_out,
        "warning": warning,
        **result,
    }
