"""What the two scorer-creating tools share: create or replace a scorer function by slug in the
project (`PUT /v1/function`: a new version when the slug exists), and its preview."""

from __future__ import annotations

from typing import Any

from loopline.loop_agent.tools.base import ToolContext, ToolResult
from loopline.loop_agent.tools.functions_api import describe_function, existing


async def preview_scorer(ctx: ToolContext, project_id: str, definition: dict[str, Any]) -> dict[str, Any]:
    """What saving `definition` would do: create a scorer, or replace which version of which."""
    cur = await existing(ctx, project_id, definition["slug"])
    verb = "create" if cur is None else f"replace (new version of scorer {cur.get('id')})"
    out: dict[str, Any] = {
        "action": f"{verb} {definition['name']!r} (slug {definition['slug']!r}) in project {project_id}",
        "project_id": project_id,
        "definition": definition,
    }
    if cur is not None:
        out["current"] = describe_function(cur, full=True)
    return out


async def save_scorer(ctx: ToolContext, project_id: str, definition: dict[str, Any]) -> ToolResult:
    fn = await ctx.call("PUT", "/v1/function", {"project_id": project_id, **definition})
    out = describe_function(fn)
    out["use_in_eval_as"] = fn.get("id")
    return ToolResult(out, f"scorer {fn.get('slug')!r} saved (version {fn.get('_xact_id')})", rows_touched=1)
