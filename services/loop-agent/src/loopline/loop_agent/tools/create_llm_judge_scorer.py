"""Create LLM-judge scorer: create or edit a scorer where a model picks one of a few choices, each
mapped to a score (write: confirmed by the user unless auto-accept). Saved as a prompt function of
type scorer with an `llm_classifier` parser, as Braintrust's LLM-as-a-judge scorers are."""

from __future__ import annotations

from typing import Any

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from loopline.loop_agent.tools.functions_api import slug_of
from loopline.loop_agent.tools.scorer_writes import preview_scorer, save_scorer
from pydantic import BaseModel, Field


class Params(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="the scorer's name (its score's name)")
    prompt: str = Field(
        min_length=1,
        max_length=50_000,
        description="the judge's instructions, with mustache variables {{input}}, {{output}}, {{expected}}, "
        "{{metadata}}; end by asking for one of the choices",
    )
    choice_scores: dict[str, float] = Field(
        description='each choice the judge may answer and its score in [0, 1], e.g. {"Y": 1, "N": 0}'
    )
    model: str | None = Field(default=None, max_length=200, description="default: this conversation's model")
    use_cot: bool = Field(default=True, description="let the judge reason before choosing")
    slug: str | None = Field(
        default=None, max_length=200, description="default: from the name; an existing slug is replaced"
    )
    description: str | None = Field(default=None, max_length=2000)
    project_id: str | None = Field(default=None, description="default: the project in view")


def _definition(ctx: ToolContext, p: Params) -> dict[str, Any]:
    if not 2 <= len(p.choice_scores) <= 20:
        raise ToolFailed("choice_scores needs between 2 and 20 choices")
    bad = [c for c, s in p.choice_scores.items() if not 0 <= s <= 1]
    if bad:
        raise ToolFailed(f"scores must be in [0, 1]: {', '.join(bad)}")
    model = p.model or ctx.model
    if not model:
        raise ToolFailed("name the judge's model")
    return {
        "name": p.name,
        "slug": p.slug or slug_of(p.name),
        "description": p.description,
        "function_type": "scorer",
        "function_data": {"type": "prompt"},
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": p.prompt}]},
            "options": {"model": model, "params": {"temperature": 0}},
            "parser": {"type": "llm_classifier", "use_cot": p.use_cot, "choice_scores": p.choice_scores},
        },
    }


async def preview(ctx: ToolContext, p: Params) -> dict[str, Any]:
    return await preview_scorer(ctx, ctx.project_id(p.project_id), _definition(ctx, p))


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    return await save_scorer(ctx, ctx.project_id(p.project_id), _definition(ctx, p))


TOOL = Tool(
    name="create_llm_judge_scorer",
    description=(
        "Create an LLM-as-a-judge scorer in the project, or edit one (same slug: a new version): a "
        "prompt that shows the judge {{input}}, {{output}} and {{expected}} and asks for one of a few "
        "choices, each mapped to a score. Asks the user to confirm first unless auto-accept is on."
    ),
    params=Params,
    risk="write",
    run=run,
    preview=preview,
)
