"""Get scorers: every scorer available in the project (its own code and LLM-judge scorers, and the
global autoevals scorers), and which the playground in view has selected."""

from __future__ import annotations

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolResult
from loopline.loop_agent.tools.functions_api import GLOBAL_SCORERS, describe_function, project_functions
from pydantic import BaseModel, Field


class Params(BaseModel):
    project_id: str | None = Field(default=None, description="default: the project in view")
    details: bool = Field(default=False, description="include each scorer's code or judge prompt")


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    pid = ctx.project_id(p.project_id)
    await ctx.call("GET", f"/v1/project/{pid}")  # a project not the caller's: a clear 'not found'
    stored = [describe_function(f, full=p.details) for f in await project_functions(ctx, pid, "scorer")]
    out = {
        "project_id": pid,
        "project_scorers": stored,
        "global_scorers": list(GLOBAL_SCORERS),
        "selected_in_playground": ctx.page.scorers,
    }
    return ToolResult(out, f"{len(stored)} project scorers, {len(GLOBAL_SCORERS)} global")


TOOL = Tool(
    name="get_scorers",
    description=(
        "List the scorers available in the project: its own code and LLM-judge scorers (id, slug, "
        "kind, model, choice scores; their code or prompt with details=true) and the global autoevals "
        "scorers usable by name; also the playground's current selection."
    ),
    params=Params,
    risk="read",
    run=run,
)
