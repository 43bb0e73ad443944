"""Search docs: semantic search over Loopline's own documentation (embedded offline with the
classifier's embedding model; `docs_index.py`)."""

from __future__ import annotations

from loopline.loop_agent.docs_index import DocsUnavailable
from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from pydantic import BaseModel, Field


class Params(BaseModel):
    query: str = Field(min_length=1, max_length=2000, description="what to look up, in plain words")
    k: int = Field(default=5, ge=1, le=20, description="how many passages to return")


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    if ctx.docs is None:
        raise ToolFailed("documentation search is not available in this deployment")
    try:
        hits = await ctx.docs.search(p.query, p.k)
    except DocsUnavailable as exc:
        raise ToolFailed(str(exc)) from None
    sources = sorted({h["source"] for h in hits})
    return ToolResult(
        {"passages": hits, "note": "cite the source path of what you use"},
        f"{len(hits)} passages from {', '.join(sources) or 'no document'}",
    )


TOOL = Tool(
    name="search_docs",
    description=(
        "Search Loopline's documentation (READMEs of the platform, its services, deployment, BTQL, "
        "the model gateway, the evaluator, Loop itself) by meaning. Use it for questions about how "
        "to use or configure Loopline; answer from the passages and name their source files."
    ),
    params=Params,
    risk="read",
    run=run,
)
