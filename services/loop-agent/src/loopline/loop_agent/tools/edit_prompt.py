"""Edit prompt: change the prompt in view (its messages, model, parameters) as a new version, or
write a new prompt when there is none yet (write: confirmed by the user unless auto-accept)."""

from __future__ import annotations

import copy
from typing import Any, Literal

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from loopline.loop_agent.tools.functions_api import describe_function, slug_of
from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=100_000)


class Params(BaseModel):
    prompt_id: str | None = Field(
        default=None, description="default: the prompt in view (playground/prompt page)"
    )
    messages: list[Message] | None = Field(
        default=None,
        max_length=50,
        description="the prompt's new messages, all of them (mustache variables such as {{input}} allowed)",
    )
    model: str | None = Field(default=None, max_length=200, description="the prompt's new model")
    params: dict[str, Any] | None = Field(
        default=None, description="model parameters to set (temperature, max_tokens, ...), merged"
    )
    name: str | None = Field(default=None, max_length=200, description="a new prompt: its name")
    project_id: str | None = Field(default=None, description="a new prompt: its project (default: in view)")


def _prompt_id(ctx: ToolContext, p: Params) -> str | None:
    if p.prompt_id:
        return p.prompt_id
    if ctx.page.kind in ("playground", "prompt") and ctx.page.object_id:
        return ctx.page.object_id
    return None


def _changed(prompt_data: dict[str, Any] | None, p: Params, default_model: str) -> dict[str, Any]:
    pd = copy.deepcopy(prompt_data or {})
    if p.messages is not None:
        prompt = pd.get("prompt")
        kept = dict(prompt) if isinstance(prompt, dict) and prompt.get("type") == "chat" else {}
        pd["prompt"] = {**kept, "type": "chat", "messages": [m.model_dump() for m in p.messages]}
    options = pd.setdefault("options", {})
    if p.model:
        options["model"] = p.model
    options.setdefault("model", default_model)
    if p.params:
        options["params"] = {**(options.get("params") or {}), **p.params}
    return pd


def _check(p: Params) -> None:
    if p.messages is None and p.model is None and p.params is None:
        raise ToolFailed("nothing to change: give messages, model or params")


async def preview(ctx: ToolContext, p: Params) -> dict[str, Any]:
    _check(p)
    pid = _prompt_id(ctx, p)
    if pid is None:
        return {
            "action": f"create prompt {p.name or 'untitled'!r} in project {ctx.project_id(p.project_id)}",
            "after": _changed(None, p, ctx.model),
        }
    cur = await ctx.call("GET", f"/v1/prompt/{pid}")
    return {
        "action": f"new version of prompt {cur.get('name')!r} ({pid})",
        "before": cur.get("prompt_data"),
        "after": _changed(cur.get("prompt_data"), p, ctx.model),
    }


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    _check(p)
    pid = _prompt_id(ctx, p)
    if pid is None:
        if not p.name or p.messages is None:
            raise ToolFailed("no prompt in view: to write a new one give its name and messages")
        body = {
            "project_id": ctx.project_id(p.project_id),
            "name": p.name,
            "slug": slug_of(p.name),
            "function_data": {"type": "prompt"},
            "prompt_data": _changed(None, p, ctx.model),
        }
        fn = await ctx.call("POST", "/v1/prompt", body)
        return ToolResult(describe_function(fn, full=True), f"prompt {p.name!r} created", rows_touched=1)
    cur = await ctx.call("GET", f"/v1/prompt/{pid}")
    fn = await ctx.call(
        "PATCH", f"/v1/prompt/{pid}", {"prompt_data": _changed(cur.get("prompt_data"), p, ctx.model)}
    )
    return ToolResult(
        describe_function(fn, full=True),
        f"prompt {fn.get('name')!r}: version {fn.get('_xact_id')}",
        rows_touched=1,
    )


TOOL = Tool(
    name="edit_prompt",
    description=(
        "Change the prompt in view (or the prompt_id given): replace its messages, set its model, merge "
        "model parameters; saved as a new version. With no prompt in view, give name and messages to "
        "write a new one. Asks the user to confirm first unless auto-accept is on."
    ),
    params=Params,
    risk="write",
    run=run,
    preview=preview,
)
