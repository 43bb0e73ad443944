"""The `llm` span of one model call, as the SDK's `wrap_openai` client logs it: name
`Chat Completion`, `span_attributes.type = "llm"`, input = the request's messages, output = the
choices, metadata = the request's other parameters with `model` and `provider`, metrics =
`start`, `end`, `prompt_tokens`, `completion_tokens`, `tokens` (and `estimated_cost` when the
model has a price). Used by invoke spans (runner.py) and eval cells (evals/cell_rows.py)."""

from __future__ import annotations

from typing import Any

from loopline.evaluator.runtime.prompts import ModelCall

NAME = "Chat Completion"
TYPE = "llm"


def llm_metadata(call: ModelCall) -> dict[str, Any]:
    return {"model": call.model, "provider": call.provider, **call.params}


def llm_metrics(call: ModelCall) -> dict[str, float]:
    """Tokens and cost of the call (start/end are the span's own)."""
    if call.usage is None:
        return {}
    metrics: dict[str, float] = {
        "prompt_tokens": call.usage.prompt_tokens,
        "completion_tokens": call.usage.completion_tokens,
        "tokens": call.usage.total_tokens,
    }
    if call.usage.cost_usd is not None:
        metrics["estimated_cost"] = call.usage.cost_usd
    return metrics


def llm_end(call: ModelCall, now: float) -> float:
    """When the call ended (a call cut short by a timeout has no end of its own: `now`)."""
    return call.end or now
