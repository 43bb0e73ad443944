"""The questions of Loop's evaluation, about the seeded project, with answers computed from the
seed's rows in Python (never from the BTQL the agent may run).

Kinds of answer: `number` (the answer's text must state it: the closest number it states is scored
with autoevals' NumericDiff, and with `tolerance` a number within it counts as exact), `name`
(the first of `candidates` the answer names must be the expected one: ExactMatch), `btql` (the
agent's last successful query must return the reference query's rows: compared as sets of value
tuples, else JSONDiff of the sorted rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from loopline.loop_agent.evaluation import seed as s

Kind = Literal["number", "name", "btql"]


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    kind: Kind
    expected: Any
    candidates: tuple[str, ...] = ()  # name: every name the answer could pick among
    tolerance: float = 0.0  # number: |stated - expected| within this is exact
    reference_btql: str = ""  # btql: the query whose rows are right
    tags: tuple[str, ...] = field(default_factory=tuple)


def _top(counts: dict[str, int]) -> str:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def questions(rows: s.SeedRows) -> list[Question]:
    week = rows.spans(7)
    roots = [r for r in week if r["id"] == r["root_span_id"]]
    tool_errors: dict[str, int] = {}
    model_errors: dict[str, int] = {}
    intents: dict[str, int] = {}
    for r in week:
        kind, name = r["span_attributes"]["type"], r["span_attributes"]["name"]
        if kind == "tool" and r.get("error"):
            tool_errors[name] = tool_errors.get(name, 0) + 1
        if kind == "llm" and r.get("error"):
            model = r["metadata"]["model"]
            model_errors[model] = model_errors.get(model, 0) + 1
    for r in roots:
        c = r.get("classifications")
        if c:
            label = c["Intent"][0]["label"]
            intents[label] = intents.get(label, 0) + 1
    provider = s.expected_provider_errors(rows)
    tools = s.expected_tool_success(rows)["lookup_order"]
    rate = {p: (calls - fails) / calls for p, (calls, fails) in tools.items()}
    pid = rows.project_id
    return [
        Question("traces_7d", "How many traces were logged in the last 7 days?", "number", len(roots)),
        Question(
            "top_failing_tool",
            "Which tool failed most often in the last 7 days?",
            "name",
            _top(tool_errors),
            candidates=s.TOOLS,
        ),
        Question(
            "rate_limits_7d",
            "How many LLM calls failed because of a rate limit (not a quota error) in the last 7 days?",
            "number",
            provider["rate_limit"],
        ),
        Question(
            "top_intent",
            "What was the most common user intent in the last 7 days?",
            "name",
            _top(intents),
            candidates=s.INTENTS,
        ),
        Question(
            "context_overflows_7d",
            "How many context-window overflow errors happened in the last 7 days?",
            "number",
            len(s.expected_overflows(rows)),
        ),
        Question(
            "model_most_errors",
            "Which LLM model had the most failed calls in the last 7 days?",
            "name",
            _top(model_errors),
            candidates=("gpt-4o", "claude-3-5-sonnet"),
        ),
        Question(
            "lookup_order_change",
            "By how many percentage points did the success rate of the lookup_order tool change in the "
            "last 7 days compared with the 7 days before?",
            "number",
            round(abs(rate["current"] - rate["previous"]) * 100, 1),
            tolerance=0.5,
        ),
        Question(
            "btql_errors_per_tool",
            "Write and run a BTQL query that counts the failed calls of each tool (tool spans with an "
            "error) over the last 7 days, one row per tool name with its count.",
            "btql",
            {k: v for k, v in tool_errors.items()},
            reference_btql=(
                "dimensions: span_attributes.name as tool | measures: count(1) as failures "
                f"| from: project_logs('{pid}') | filter: span_attributes.type = 'tool' and error IS NOT NULL "
                "and created > now() - interval 7 day"
            ),
        ),
    ]
