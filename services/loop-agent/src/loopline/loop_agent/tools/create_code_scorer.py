"""Create code scorer: create or edit a Python scorer in the project (write: confirmed by the user
unless auto-accept). Saved as a function of type scorer with inline code; the evaluator runs it in
its sandbox."""

from __future__ import annotations

import ast
from typing import Any

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from loopline.loop_agent.tools.functions_api import slug_of
from loopline.loop_agent.tools.scorer_writes import preview_scorer, save_scorer
from pydantic import BaseModel, Field


class Params(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="the scorer's name (its score's name)")
    code: str = Field(
        min_length=1,
        max_length=100_000,
        description="Python defining handler(input, output, expected, metadata) that returns a number "
        "in [0, 1], a bool, or {'name', 'score', 'metadata'}; declare only the arguments it uses",
    )
    slug: str | None = Field(
        default=None, max_length=200, description="default: from the name; an existing slug is replaced"
    )
    description: str | None = Field(default=None, max_length=2000)
    project_id: str | None = Field(default=None, description="default: the project in view")


def _definition(p: Params) -> dict[str, Any]:
    try:
        tree = ast.parse(p.code)
    except SyntaxError as exc:
        raise ToolFailed(f"the code does not parse: line {exc.lineno}: {exc.msg}") from None
    if not any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "handler" for n in tree.body
    ):
        raise ToolFailed("the code must define a top-level function named handler")
    return {
        "name": p.name,
        "slug": p.slug or slug_of(p.name),
        "description": p.description,
        "function_type": "scorer",
        "function_data": {
            "type": "code",
            "data": {
                "type": "inline",
                "runtime_context": {"runtime": "python", "version": "3.11"},
                "code": p.code,
            },
        },
    }


async def preview(ctx: ToolContext, p: Params) -> dict[str, Any]:
    return await preview_scorer(ctx, ctx.project_id(p.project_id), _definition(p))


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    return await save_scorer(ctx, ctx.project_id(p.project_id), _definition(p))


TOOL = Tool(
    name="create_code_scorer",
    description=(
        "Create a Python code scorer in the project, or edit one (same slug: a new version). The code "
        "defines handler(input, output, expected, metadata) returning a score in [0, 1]. Look at the "
        "data first (get_detailed_results) and at existing scorers (get_scorers). Asks the user to "
        "confirm first unless auto-accept is on."
    ),
    params=Params,
    risk="write",
    run=run,
    preview=preview,
)
