"""Blast radius (classifier reads and span groups): which groups of a project's traffic fail the
most, ranked by error rate x share of the window's traffic. Per intent it counts traces (a trace
failed when any span errored, grouped by its root's `classifications.<facet>[0].label`); per span
name, tool or model it counts spans."""

from __future__ import annotations

from typing import Literal

from loopline.common.analyses import queries as q
from loopline.common.analyses.results import blast_radius, intent_failures
from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from pydantic import BaseModel, Field


class Params(BaseModel):
    by: Literal["intent", "span_name", "tool", "model"] = Field(
        default="intent", description="group by the classifier's label, span name, tool, or LLM model"
    )
    project_id: str | None = Field(default=None, description="default: the project in view")
    facet: str = Field(default="Intent", max_length=100, description="by=intent: the classifier facet")
    days: int = Field(default=7, ge=1, le=365)
    limit: int = Field(default=10, ge=1, le=100)


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    w = q.Window(ctx.project_id(p.project_id), p.days)
    if p.by == "intent":
        if not p.facet.isidentifier():
            raise ToolFailed(f"facet {p.facet!r} is not a facet name (letters, digits and _)")
        queries = [q.traces_by_intent(w, p.facet), q.failed_traces_by_intent(w, p.facet)]
        rows = intent_failures(await ctx.btql.rows(queries[0]), await ctx.btql.rows(queries[1]))
        key, unit = "intent", "traces"
    else:
        queries = [q.errors_by_group(w, p.by)]
        rows = await ctx.btql.rows(queries[0])
        key, unit = "name", "spans"
    ranked = blast_radius(rows, key, "total", "errors", p.limit)
    out = {
        "by": p.by,
        "unit": unit,
        "days": p.days,
        "groups": ranked,
        "definition": "blast_radius = error_rate x volume_share (the share of the window's "
        f"{unit} that are failures of the group)",
        "queries": queries,
    }
    if p.by == "intent" and not rows:
        out["note"] = f"no trace carries a {p.facet} label: no classifier ran on this project"
    summary = (
        f"top by blast radius: {ranked[0][key]!r} ({ranked[0]['errors']}/{ranked[0]['total']} {unit} failed)"
        if ranked
        else f"no failing {unit} by {p.by}"
    )
    return ToolResult(out, summary)


TOOL = Tool(
    name="blast_radius",
    description=(
        "Rank the failing groups of a project's traffic by blast radius (error rate x share of "
        "traffic): by intent (the classifier's label, traces), span name, tool or LLM model (spans). "
        "Use it for 'which errors hurt the most users' and to pick what to fix first."
    ),
    params=Params,
    risk="read",
    run=run,
)
