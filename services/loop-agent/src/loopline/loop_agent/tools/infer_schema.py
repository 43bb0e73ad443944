"""Infer schema: the JSON paths, types and frequencies of a data source's rows."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from pydantic import BaseModel, Field

ObjectType = Literal["project_logs", "experiment", "dataset"]


class Params(BaseModel):
    object_type: ObjectType = "project_logs"
    object_id: str | None = Field(
        default=None,
        description="experiment/dataset id, or the project id for project_logs; default: in view",
    )


def object_id(ctx: ToolContext, object_type: str, given: str | None) -> str:
    if given:
        return given
    if object_type == "project_logs":
        return ctx.project_id(None)
    if ctx.page.kind == object_type and ctx.page.object_id:
        return ctx.page.object_id
    raise ToolFailed(f"no {object_type} id given and none in view: call get_data_source")


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    oid = object_id(ctx, p.object_type, p.object_id)
    body = await ctx.call(
        "GET", "/btql/schema?" + urlencode({"object_type": p.object_type, "object_id": oid})
    )
    fields = body.get("fields", {}) if isinstance(body, dict) else {}
    return ToolResult(body, f"{len(fields)} fields over {body.get('sampled_rows', 0)} rows")


TOOL = Tool(
    name="infer_schema",
    description=(
        "Inspect a data source (project logs by default) and list the JSON paths its rows hold "
        "(input.*, metadata.*, scores.*, ...) with their types and how often each occurs. Call it "
        "before writing BTQL over fields you have not seen."
    ),
    params=Params,
    risk="read",
    run=run,
)
