"""Intent distribution (classifier reads): how a project's traces split over a classifier facet's
labels in a window and the one before, and each label's change of share. Read from the spans'
`classifications.<facet>[0].label` through BTQL, as the caller."""

from __future__ import annotations

from loopline.common.analyses import queries as q
from loopline.common.analyses.results import intent_change
from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from pydantic import BaseModel, Field


class Params(BaseModel):
    project_id: str | None = Field(default=None, description="default: the project in view")
    facet: str = Field(default="Intent", max_length=100, description="the classifier facet (default Intent)")
    days: int = Field(default=7, ge=1, le=365, description="the window; compared with the one before")
    limit: int = Field(default=20, ge=1, le=200, description="labels listed at most")


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    if not p.facet.isidentifier():
        raise ToolFailed(f"facet {p.facet!r} is not a facet name (letters, digits and _)")
    query = q.intents_by_period(q.Window(ctx.project_id(p.project_id), p.days), p.facet)
    out = intent_change(await ctx.btql.rows(query))
    labels = out["intents"]
    out["intents"] = labels[: p.limit]
    if len(labels) > p.limit:
        out["intents_truncated"] = f"showing {p.limit} of {len(labels)} labels"
    out["facet"], out["days"], out["query"] = p.facet, p.days, query
    if not out["classified"]:
        out["note"] = f"no trace of this window carries a {p.facet} label: no classifier ran on this project"
        summary = f"no {p.facet} labels"
    else:
        top = labels[0]
        summary = f"{len(labels)} {p.facet} labels; top {top['intent']!r} ({top['current']} traces)"
    return ToolResult(out, summary)


TOOL = Tool(
    name="intent_distribution",
    description=(
        "How the project's traces split over the classifier's labels (facet Intent by default) in the "
        "last `days` and the window before, with each label's share and change of share, and the "
        "traces not classified. Use it for 'what do users ask about' and 'what changed this week'."
    ),
    params=Params,
    risk="read",
    run=run,
)
