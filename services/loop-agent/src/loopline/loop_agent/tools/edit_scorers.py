"""Edit scorers: change the playground's scorer selection (write: confirmed by the user unless
auto-accept). The selection lives in the playground (the page); the stream tells the client the
new one (`page_update`) and the rest of the turn (run_eval) uses it."""

from __future__ import annotations

from typing import Any

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolResult
from loopline.loop_agent.tools.functions_api import scorer_refs
from pydantic import BaseModel, Field


class Params(BaseModel):
    scorers: list[str] = Field(
        min_length=1,
        max_length=64,
        description="the new selection, complete: project scorer slugs or ids, or global scorer names",
    )
    project_id: str | None = Field(default=None, description="default: the project in view")


async def preview(ctx: ToolContext, p: Params) -> dict[str, Any]:
    await scorer_refs(ctx, ctx.project_id(p.project_id), p.scorers)  # refused before asking
    before = ctx.page.scorers or []
    return {
        "action": "change the playground's scorers",
        "before": before,
        "after": p.scorers,
        "added": [s for s in p.scorers if s not in before],
        "removed": [s for s in before if s not in p.scorers],
    }


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    refs = await scorer_refs(ctx, ctx.project_id(p.project_id), p.scorers)
    return ToolResult(
        {"scorers": p.scorers, "references": refs},
        f"playground scorers: {', '.join(p.scorers)}",
        page_update={"scorers": p.scorers},
    )


TOOL = Tool(
    name="edit_scorers",
    description=(
        "Set which scorers the playground runs (the complete new selection: project scorer slugs or "
        "ids, or global scorer names such as Factuality). Asks the user to confirm first unless "
        "auto-accept is on."
    ),
    params=Params,
    risk="write",
    run=run,
    preview=preview,
)
