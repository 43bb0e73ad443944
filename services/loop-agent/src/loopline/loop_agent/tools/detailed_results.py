"""Get detailed results: rows of the page in view (log spans, experiment rows, dataset records)."""

from __future__ import annotations

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolResult
from loopline.loop_agent.tools.infer_schema import ObjectType, object_id
from pydantic import BaseModel, Field


class Params(BaseModel):
    object_type: ObjectType = "project_logs"
    object_id: str | None = Field(default=None, description="default: the object in view")
    limit: int = Field(default=20, ge=1, le=1000, description="the newest rows, at most this many")


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    oid = object_id(ctx, p.object_type, p.object_id)
    body = await ctx.call("POST", f"/v1/{p.object_type}/{oid}/fetch", {"limit": min(p.limit, ctx.tool_rows)})
    events = body.get("events", []) if isinstance(body, dict) else []
    return ToolResult({"rows": events, "more": bool(body.get("cursor"))}, f"{len(events)} rows")


TOOL = Tool(
    name="get_detailed_results",
    description=(
        "Fetch the newest rows of what is in view (project log spans, experiment rows or dataset "
        "records) with all their fields: to read examples, or to follow a dataset's row format."
    ),
    params=Params,
    risk="read",
    run=run,
)
