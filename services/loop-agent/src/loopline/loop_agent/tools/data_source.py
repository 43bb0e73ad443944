"""Get data source: the projects, experiments and datasets the caller can read, for the user to
pick one when the question names none."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolResult
from pydantic import BaseModel, Field


class Params(BaseModel):
    kind: Literal["any", "project_logs", "experiment", "dataset"] = "any"
    project_id: str | None = Field(default=None, description="only this project's experiments/datasets")


def _objects(body: Any) -> list[dict[str, Any]]:
    return list(body.get("objects") or []) if isinstance(body, dict) else []


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    options: list[dict[str, Any]] = []
    query = "?" + urlencode({"limit": 50, **({"project_id": p.project_id} if p.project_id else {})})
    if p.kind in ("any", "project_logs"):
        for o in _objects(await ctx.call("GET", "/v1/project?limit=50")):
            options.append({"type": "project_logs", "id": o["id"], "name": o.get("name")})
    for kind in ("experiment", "dataset"):
        if p.kind in ("any", kind):
            for o in _objects(await ctx.call("GET", f"/v1/{kind}{query}")):
                options.append(
                    {"type": kind, "id": o["id"], "name": o.get("name"), "project_id": o.get("project_id")}
                )
    return ToolResult(
        {"options": options, "instruction": "ask the user which data source to use, then stop and wait"},
        f"{len(options)} data sources to choose from",
        ask_user={"kind": "data_source", "options": options},
    )


TOOL = Tool(
    name="get_data_source",
    description=(
        "When the user did not say which project, experiment or dataset to use: list the ones they "
        "can read and ask them to pick one (the options are shown to the user)."
    ),
    params=Params,
    risk="read",
    run=run,
)
