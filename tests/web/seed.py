"""Seed a running Loopline through the real braintrust SDK for the browser tests.

Usage: python -m tests.web.seed <project-name>  (BRAINTRUST_API_URL / _APP_URL / _API_KEY set);
prints one JSON object with the ids the tests look for on its last line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import braintrust
from autoevals import ExactMatch, Levenshtein

QUESTIONS = [
    ("What is the refund policy?", "Refunds are accepted within 30 days.", "support"),
    ("How do I reset my password?", "Use the 'Forgot password' link.", "account"),
    ("Cancel my subscription", "Your subscription is cancelled.", "billing"),
]


def log_traces(project: str) -> dict[str, Any]:
    logger = braintrust.init_logger(project=project)
    roots: list[str] = []
    for i, (question, answer, intent) in enumerate(QUESTIONS):
        with logger.start_span(name="chat-turn", input={"question": question}) as root:
            messages = [
                {"role": "system", "content": "You are a helpful support agent."},
                {"role": "user", "content": question},
            ]
            with root.start_span(name="retrieve", type="tool") as tool:
                tool.log(input={"query": question}, output={"documents": [f"doc-{i}-a", f"doc-{i}-b"]})
                if i == 2:  # one failing tool call: the blast-radius dashboard has an error to show
                    tool.log(error="search backend timed out")
            with root.start_span(name="chat.completions", type="llm") as llm:
                llm.log(
                    input=messages,
                    output=[{"role": "assistant", "content": answer}],
                    metrics={"prompt_tokens": 20 + i, "completion_tokens": 9, "tokens": 29 + i},
                    metadata={"model": "gpt-4o-mini", "temperature": 0},
                )
            root.log(
                output={"answer": answer},
                scores={"helpfulness": [1.0, 0.5, 0.0][i]},
                metadata={"intent": intent, "user": f"user-{i}"},
                tags=["web-test"],
            )
            roots.append(root.root_span_id)
    logger.flush()
    return {"root_span_ids": roots}


def run_evals(project: str) -> dict[str, Any]:
    rows = [{"input": f"word{i}", "expected": f"word{i}"} for i in range(5)]
    base = braintrust.Eval(
        project,
        data=lambda: rows,
        task=lambda inp: inp if inp in ("word0", "word1") else inp + "x",
        scores=[Levenshtein, ExactMatch],
        experiment_name="baseline",
    )
    second = braintrust.Eval(
        project,
        data=lambda: rows,
        task=lambda inp: inp if inp != "word4" else "nope",
        scores=[Levenshtein, ExactMatch],
        experiment_name="candidate",
    )
    return {"experiments": [base.summary.experiment_name, second.summary.experiment_name]}


def make_dataset(project: str) -> dict[str, Any]:
    ds = braintrust.init_dataset(project=project, name="faq")
    for question, answer, intent in QUESTIONS:
        ds.insert(input={"question": question}, expected={"answer": answer}, metadata={"intent": intent})
    ds.flush()
    return {"dataset": "faq"}


def main(project: str) -> None:
    out: dict[str, Any] = {"project": project}
    out |= log_traces(project)
    out |= run_evals(project)
    out |= make_dataset(project)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
