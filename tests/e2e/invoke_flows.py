"""Invoke flows of the real braintrust SDK, run in a subprocess against Loopline.

Usage: python invoke_flows.py <flow> <project-name>; prints one JSON object on the last line of
stdout. Needs BRAINTRUST_API_URL, BRAINTRUST_APP_URL and BRAINTRUST_API_KEY. `publish` needs the
0.47 SDK (`projects.create(...).publish()`); `invoke`, `eval` and `code` run on 0.34 too.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import braintrust
from braintrust import Eval, init_function, invoke


def flow_publish(project: str) -> dict[str, Any]:
    p = braintrust.projects.create(name=project)
    p.prompts.create(
        name="Answer",
        slug="answer",
        messages=[
            {"role": "system", "content": "You answer for {{metadata.user}}."},
            {"role": "user", "content": "Question: {{input.question}}"},
        ],
        model="gpt-4o-mini",
        params={"temperature": 0, "use_cache": True},
        if_exists="replace",
    )
    p.scorers.create(
        name="Is Polite",
        slug="is-polite",
        messages=[{"role": "user", "content": "Is this polite? {{output}} Answer Y or N."}],
        model="gpt-4o-mini",
        use_cot=True,
        choice_scores={"Y": 1, "N": 0},
        if_exists="replace",
    )
    p.publish()
    return {"ok": True}


def _error(fn: Any) -> str:
    try:
        fn()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def flow_invoke(project: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    args = {
        "project_name": project,
        "slug": "answer",
        "input": {"question": "2+2?"},
        "metadata": {"user": "u1"},
    }
    out["plain"] = invoke(**args)  # type: ignore[arg-type]
    stream = invoke(**args, stream=True)  # type: ignore[arg-type]
    chunks = [(c.type, getattr(c, "data", None)) for c in stream]
    out["chunk_types"] = [t for t, _ in chunks]
    out["streamed_text"] = "".join(d for t, d in chunks if t == "text_delta" and isinstance(d, str))
    out["final"] = invoke(**args, stream=True).final_value()  # type: ignore[arg-type]
    out["scorer"] = invoke(
        project_name=project,
        slug="is-polite",
        input={"input": "q", "output": "thank you kindly", "expected": None, "metadata": {}},
    )
    out["global"] = invoke(global_function="Levenshtein", input={"output": "abc", "expected": "abd"})
    out["missing"] = _error(lambda: invoke(project_name=project, slug="no-such-fn", input={}))
    out["strict"] = _error(
        lambda: invoke(
            project_name=project, slug="answer", input={"other": 1}, metadata={"user": "u"}, strict=True
        )
    )
    # inside a logged span: the invocation becomes its child in the project's logs
    logger = braintrust.init_logger(project=project)
    with logger.start_span(name="outer") as span:
        out["in_span"] = invoke(
            project_name=project, slug="answer", input={"question": "in span?"}, parent=span
        )
        out["outer"] = {"span_id": span.span_id, "root_span_id": span.root_span_id}
    logger.flush()
    return out


def flow_eval(project: str) -> dict[str, Any]:
    result = Eval(
        project,
        data=lambda: [
            {"input": {"question": "2+2?"}, "expected": "4", "metadata": {"user": "u1"}},
            {"input": {"question": "3+3?"}, "expected": "6", "metadata": {"user": "u2"}},
        ],
        task=init_function(project, "answer"),
        scores=[init_function(project, "is-polite"), autoevals_levenshtein()],
        experiment_name="remote-fns",
    )
    summary = result.summary
    return {
        "experiment_id": summary.experiment_id,
        "scores": {k: v.score for k, v in summary.scores.items()},
        "results": [
            {"output": r.output, "scores": r.scores, "error": str(r.error) if r.error else None}
            for r in result.results
        ],
    }


def autoevals_levenshtein() -> Any:
    from autoevals import Levenshtein

    return Levenshtein


def flow_code(project: str) -> dict[str, Any]:
    out: dict[str, Any] = {"add": invoke(project_name=project, slug="adder", input={"a": 2, "b": 3})}
    out["score"] = invoke(project_name=project, slug="exact-code", input={"output": "x", "expected": "x"})
    out["spin"] = _error(lambda: invoke(project_name=project, slug="spin", input={}))
    out["after"] = invoke(project_name=project, slug="adder", input={"a": 1, "b": 1})
    out["plural"] = invoke(project_name=project, slug="plural", input={"word": "octopus"})
    return out


if __name__ == "__main__":
    name, project_name = sys.argv[1], sys.argv[2]
    print(json.dumps(globals()[f"flow_{name}"](project_name), default=str))
