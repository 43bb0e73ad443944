"""Get summarized results of the page in view: an experiment's scores, a dataset's size, or a
project's logs at a glance (spans, traces, errors, span names)."""

from __future__ import annotations

from typing import Any

from loopline.common.analyses.queries import literal
from loopline.loop_agent.tools.base import Tool, ToolContext, ToolResult
from loopline.loop_agent.tools.infer_schema import ObjectType, object_id
from pydantic import BaseModel, Field


class Params(BaseModel):
    object_type: ObjectType = "project_logs"
    object_id: str | None = Field(default=None, description="default: the object in view")
    days: int = Field(default=7, ge=1, le=365, description="project logs: the last N days")


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    oid = object_id(ctx, p.object_type, p.object_id)
    if p.object_type == "experiment":
        body = await ctx.call("GET", f"/v1/experiment/{oid}/summarize")
        return ToolResult(body, f"{len(body.get('scores') or {})} scores")
    if p.object_type == "dataset":
        body = await ctx.call("GET", f"/v1/dataset/{oid}/summarize")
        return ToolResult(body, f"{(body.get('data_summary') or {}).get('total_records', 0)} records")
    src = f"from: project_logs({literal(oid)}) | filter: created > now() - interval {p.days} day"
    totals = await ctx.btql.rows(
        f"measures: count(1) as spans, count_distinct(root_span_id) as traces, count(error) as errors, "
        f"min(created) as first, max(created) as last | {src}"
    )
    names = await ctx.btql.rows(
        f"dimensions: span_attributes.name as name | measures: count(1) as spans, count(error) as errors "
        f"| {src} | sort: spans desc | limit: 20"
    )
    out: dict[str, Any] = {
        "project_id": oid,
        "days": p.days,
        "totals": totals[0] if totals else {},
        "span_names": names,
    }
    return ToolResult(out, f"{out['totals'].get('spans', 0)} spans in {p.days} days")


TOOL = Tool(
    name="get_summarized_results",
    description=(
        "Summarize what is in view: an experiment's scores and metrics, a dataset's record count, or "
        "a project's logs (spans, traces, errors, the busiest span names) over the last days."
    ),
    params=Params,
    risk="read",
    run=run,
)
