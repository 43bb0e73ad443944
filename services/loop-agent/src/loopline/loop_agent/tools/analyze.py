"""The pre-canned analyses as a tool: deterministic answers to on-call questions from BTQL."""

from __future__ import annotations

from typing import Literal

from loopline.loop_agent.analyses.catalog import ANALYSES, AnalysisParams, run_analysis
from loopline.loop_agent.tools.base import Tool, ToolContext, ToolResult
from pydantic import BaseModel, Field

Name = Literal["top_errors", "tool_success", "context_overflow", "provider_errors", "outliers", "intents"]
assert set(Name.__args__) == set(ANALYSES)  # type: ignore[attr-defined]


class Params(BaseModel):
    name: Name
    project_id: str | None = Field(default=None, description="default: the project in view")
    days: int = Field(default=7, ge=1, le=365)
    limit: int = Field(default=10, ge=1, le=100)


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    params = AnalysisParams(project_id=ctx.project_id(p.project_id), days=p.days, limit=p.limit)
    out = await run_analysis(ctx.btql, p.name, params)
    return ToolResult(out, f"{p.name} over {p.days} days")


TOOL = Tool(
    name="analyze",
    description="Run a pre-canned analysis of a project's logs: "
    + "; ".join(f"{a.name}: {a.description}" for a in ANALYSES.values())
    + ". Start from these for questions about errors, tools, providers, latency, tokens and intents.",
    params=Params,
    risk="read",
    run=run,
)
