"""SDK flows run in a subprocess against a running Loopline, by any installed braintrust version.

Usage: python sdk_flows.py <flow> <project-name>; prints one JSON object (ids, summaries) on the
last line of stdout for the test to check against what it reads back over HTTP.
Needs BRAINTRUST_API_URL, BRAINTRUST_APP_URL and BRAINTRUST_API_KEY in the environment.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import braintrust
from autoevals import ExactMatch, Levenshtein


def _summary(s: Any) -> dict[str, Any]:
    scores = getattr(s, "scores", None) or {}
    metrics = getattr(s, "metrics", None) or {}
    comp = getattr(s, "comparison", None)
    return {
        "experiment_name": s.experiment_name,
        "comparison_experiment_name": s.comparison_experiment_name,
        "comparison_status": type(comp).__name__ if comp is not None else "legacy",
        "scores": {
            k: {
                "score": v.score,
                "diff": v.diff,
                "improvements": v.improvements,
                "regressions": v.regressions,
            }
            for k, v in scores.items()
        },
        "metrics": {k: {"metric": v.metric, "unit": v.unit} for k, v in metrics.items()},
    }


def flow_logger(project: str) -> dict[str, Any]:
    logger = braintrust.init_logger(project=project)
    with logger.start_span(name="root", input={"question": "hi"}) as root:
        root.log(output="hello", expected="hello", scores={"exact": 1}, metadata={"user": "u1"}, tags=["t1"])
        with root.start_span(name="llm-call", type="llm") as child:
            child.log(
                input=[{"role": "user", "content": "hi"}],
                output={"role": "assistant", "content": "yo"},
                metrics={"prompt_tokens": 3, "completion_tokens": 4, "tokens": 7},
                metadata={"model": "gpt-4o-mini"},
            )
            child_id = child.id
        root_id = root.id
        exported = root.export()

    @braintrust.traced
    def double(x: int) -> int:
        return x * 2

    with logger.start_span(name="traced-root") as r2:
        double(21)
        traced_root_id = r2.id
    logger.flush()
    braintrust.update_span(exported=exported, metadata={"updated": True})
    logger.log_feedback(id=root_id, scores={"thumbs": 1}, comment="nice", metadata={"src": "user"})
    logger.flush()
    return {"root_id": root_id, "child_id": child_id, "traced_root_id": traced_root_id}


def _rows() -> list[dict[str, Any]]:
    return [{"input": f"word{i}", "expected": f"word{i}"} for i in range(6)]


def flow_eval(project: str) -> dict[str, Any]:
    first = braintrust.Eval(
        project,
        data=_rows,
        task=lambda inp: inp if inp in ("word0", "word1", "word2") else inp + "x",
        scores=[Levenshtein, ExactMatch],
        experiment_name="base-exp",
    )
    second = braintrust.Eval(
        project,
        data=_rows,
        task=lambda inp: inp if inp in ("word0", "word1", "word3", "word4") else inp + "xy",
        scores=[Levenshtein, ExactMatch],
        experiment_name="base-exp",
        base_experiment_name="base-exp",
    )
    return {"first": _summary(first.summary), "second": _summary(second.summary)}


def flow_dataset(project: str) -> dict[str, Any]:
    ds = braintrust.init_dataset(project, "ds1")
    ids = [
        ds.insert(input={"q": f"{i}+{i}"}, expected=str(2 * i), metadata={"i": i}, tags=["math"])
        for i in range(3)
    ]
    custom = ds.insert(input={"q": "3+3"}, expected="6", id="custom-row-id")
    ds.flush()
    v_before = max(str(r["_xact_id"]) for r in ds.fetch())
    ds.update(id=ids[0], metadata={"reviewed": True})
    ds.delete(ids[1])
    ds.flush()
    after = sorted(
        (
            {
                "id": r["id"],
                "input": r["input"],
                "expected": r["expected"],
                "metadata": r.get("metadata"),
                "tags": r.get("tags"),
            }
            for r in ds.fetch()
        ),
        key=lambda r: r["id"],
    )
    summary = ds.summarize()
    pinned = braintrust.init_dataset(project, "ds1", version=v_before)
    pinned_ids = sorted(r["id"] for r in pinned.fetch())
    result = braintrust.Eval(
        project,
        data=braintrust.init_dataset(project, "ds1"),
        task=lambda inp: str(sum(int(x) for x in inp["q"].split("+"))),
        scores=[ExactMatch],
        experiment_name="over-dataset",
    )
    return {
        "ids": ids,
        "custom": custom,
        "after": after,
        "total_records": summary.data_summary.total_records if summary.data_summary else None,
        "pinned_ids": pinned_ids,
        "version_before": v_before,
        "eval": _summary(result.summary),
    }


def flow_attachment(project: str) -> dict[str, Any]:
    from braintrust import Attachment

    logger = braintrust.init_logger(project=project)
    att = Attachment(data=b"hello attachment \xe2\x9c\x93", filename="hello.txt", content_type="text/plain")
    rid = logger.log(input={"file": att}, output="ok")
    logger.flush()
    return {"row_id": rid, "reference": att.reference}


def flow_overflow(project: str) -> dict[str, Any]:
    logger = braintrust.init_logger(project=project)
    big = "x" * 150_000
    ids = [logger.log(input={"i": i, "big": big}, output=i) for i in range(5)]
    logger.flush()
    return {"ids": ids}


CHATS = {
    "chat_old": ("I want a refund for my order", "my card was stolen yesterday", "refund please"),
    "chat_new": ("please give me my money back", "I lost my credit card", "will it rain in Paris?"),
    "chat_more": ("can you reset my password", "refund the last charge"),
}


def flow_chat(project: str, texts: tuple[str, ...]) -> dict[str, Any]:
    """Chat-shaped traces: a root span whose input is an OpenAI messages array, and an LLM child."""
    logger = braintrust.init_logger(project=project)
    ids = []
    for text in texts:
        messages = [
            {"role": "system", "content": "You are a bank's assistant."},
            {"role": "user", "content": [{"type": "text", "text": text}]},
        ]
        with logger.start_span(name="chat", input=messages) as root:
            with root.start_span(name="llm", type="llm") as child:
                child.log(input=messages, output={"role": "assistant", "content": "ok"})
            root.log(output="ok")
            ids.append(root.id)
    logger.flush()
    return {"ids": ids}


FLOWS = {
    "logger": flow_logger,
    "eval": flow_eval,
    "dataset": flow_dataset,
    "attachment": flow_attachment,
    "overflow": flow_overflow,
    **{name: (lambda project, texts=texts: flow_chat(project, texts)) for name, texts in CHATS.items()},
}

if __name__ == "__main__":
    out = FLOWS[sys.argv[1]](sys.argv[2])
    print(json.dumps(out, default=str))
