"""Run BTQL: a query over any data source the caller can read (project logs, experiments, datasets)."""

from __future__ import annotations

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolResult
from loopline.loop_agent.tools.btql_tools import run_query
from pydantic import BaseModel, Field


class Params(BaseModel):
    query: str = Field(
        min_length=1,
        max_length=20_000,
        description="a complete BTQL query with a from: clause, e.g. "
        "\"select: id, error | from: experiment('<id>') | filter: error IS NOT NULL | limit: 20\"",
    )


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    return await run_query(ctx, p.query)


TOOL = Tool(
    name="run_btql",
    description=(
        "Run a BTQL query against any data source: project_logs('<project id>'), experiment('<id>'), "
        "dataset('<id>'). Clauses: select | dimensions + measures | from | filter | sort | limit. "
        "Fields: input, output, expected, metadata.*, scores.*, metrics.*, span_attributes.name/type, "
        "error, created, tags, root_span_id, is_root. If the query fails you get the classified error "
        "(parse / bind / runtime, position, message) and may fix and rerun it a few times."
    ),
    params=Params,
    risk="read",
    run=run,
)
