"""BTQL query: a query over one project's logs (the project in view unless another is named)."""

from __future__ import annotations

import re

from loopline.common.analyses.queries import literal
from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from loopline.loop_agent.tools.btql_tools import run_query
from pydantic import BaseModel, Field

_FROM = re.compile(r"(^|\|)\s*from\s*:", re.IGNORECASE | re.MULTILINE)


class Params(BaseModel):
    query: str = Field(
        min_length=1,
        max_length=20_000,
        description="BTQL clauses without from: (added for the project's logs), e.g. "
        '"dimensions: span_attributes.name as name | measures: count(error) as errors | sort: errors desc"',
    )
    project_id: str | None = Field(default=None, description="the project; default: the one in view")


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    query = p.query.strip()
    if _FROM.search(query):
        if "project_logs(" not in query:
            raise ToolFailed("btql_query reads project logs only: use run_btql for experiments and datasets")
    else:
        query = f"{query} | from: project_logs({literal(ctx.project_id(p.project_id))})"
    return await run_query(ctx, query)


TOOL = Tool(
    name="btql_query",
    description=(
        "Generate and run a BTQL query against the project's logs (from: is added for you). Use it to "
        "find analytical insights: error counts, token usage by model, slow spans. A failed query "
        "comes back with its classified error so you can repair it."
    ),
    params=Params,
    risk="read",
    run=run,
)
