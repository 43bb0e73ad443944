"""Running a BTQL query the model wrote: rows back (bounded), or the classified error so the model
can repair it, a bounded number of times per turn."""

from __future__ import annotations

from loopline.loop_agent.btql_client import BtqlFailed
from loopline.loop_agent.tools.base import ToolContext, ToolFailed, ToolResult


async def run_query(ctx: ToolContext, query: str) -> ToolResult:
    if ctx.btql_failures > ctx.btql_repairs:
        raise ToolFailed(
            "the BTQL repair budget of this turn is used up: tell the user what failed and show the last query"
        )
    try:
        page = await ctx.btql.page(query)
    except BtqlFailed as exc:
        ctx.btql_failures += 1
        left = max(ctx.btql_repairs - ctx.btql_failures + 1, 0)
        return ToolResult(
            {
                "error": exc.for_model(),
                "query": query,
                "repairs_left": left,
                "hint": "fix the query using the error's class, position and message, then run it again"
                if left
                else "no repairs left: explain the error to the user",
            },
            exc.describe(),
            failed=True,
        )
    rows = page.data[: ctx.tool_rows]
    out = {"rows": rows, "row_count": len(page.data), "query": query}
    if len(page.data) > len(rows) or page.cursor:
        out["more"] = "more rows exist: aggregate, filter or add a limit"
    return ToolResult(out, f"{len(page.data)} rows")
