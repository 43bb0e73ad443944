"""Run eval: run the playground's task (a prompt) over a dataset with scorers, server-side, through
the evaluator's `/v1/eval` as the caller (write: confirmed by the user unless auto-accept), and
return the experiment's summary."""

from __future__ import annotations

from typing import Any

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from loopline.loop_agent.tools.functions_api import scorer_refs
from pydantic import BaseModel, Field

EVAL_TIMEOUT_S = 600.0


class Params(BaseModel):
    task_id: str | None = Field(
        default=None, description="the prompt/function to evaluate; default: the playground's prompt"
    )
    dataset_id: str | None = Field(default=None, description="default: the playground's (or page's) dataset")
    scorers: list[str] | None = Field(
        default=None, max_length=64, description="default: the playground's selected scorers"
    )
    experiment_name: str | None = Field(default=None, max_length=200)
    trial_count: int = Field(default=1, ge=1, le=10)
    project_id: str | None = Field(default=None, description="default: the project in view")


def _inputs(ctx: ToolContext, p: Params) -> tuple[str, str, list[str]]:
    page = ctx.page
    task = p.task_id or (page.object_id if page.kind in ("playground", "prompt") else None)
    dataset = p.dataset_id or page.dataset_id or (page.object_id if page.kind == "dataset" else None)
    scorers = p.scorers if p.scorers is not None else page.scorers
    if not task:
        raise ToolFailed("no task: give task_id (a prompt or function id) or open a playground")
    if not dataset:
        raise ToolFailed("no dataset: give dataset_id or pick one in the playground")
    if not scorers:
        raise ToolFailed("no scorers: give scorers or select some with edit_scorers (get_scorers lists them)")
    return task, dataset, scorers


async def _body(ctx: ToolContext, p: Params) -> dict[str, Any]:
    pid = ctx.project_id(p.project_id)
    task, dataset, scorers = _inputs(ctx, p)
    body: dict[str, Any] = {
        "project_id": pid,
        "task": {"function_id": task},
        "data": {"dataset_id": dataset},
        "scores": await scorer_refs(ctx, pid, scorers),
        "trial_count": p.trial_count,
        "metadata": {"launched_by": "loop", "conversation_id": ctx.conversation_id},
    }
    if p.experiment_name:
        body["experiment_name"] = p.experiment_name
    return body


async def preview(ctx: ToolContext, p: Params) -> dict[str, Any]:
    body = await _body(ctx, p)
    task = await ctx.call("GET", f"/v1/function/{body['task']['function_id']}")
    ds = await ctx.call("GET", f"/v1/dataset/{body['data']['dataset_id']}")
    return {
        "action": f"run an eval of {task.get('name')!r} on dataset {ds.get('name')!r} with "
        f"{len(body['scores'])} scorers ({p.trial_count} trial(s) per row); it calls the task's model once "
        "per row and trial, and the LLM scorers too",
        "request": body,
    }


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    body = await _body(ctx, p)
    summary = await ctx.call("POST", "/v1/eval", body, timeout_s=EVAL_TIMEOUT_S)
    scores = summary.get("scores") or {}
    brief = ", ".join(
        f"{k} {v.get('score'):.2f}"
        for k, v in scores.items()
        if isinstance(v, dict) and v.get("score") is not None
    )
    return ToolResult(
        summary,
        f"experiment {summary.get('experiment_name')!r}: {brief or 'no scores'}",
        rows_touched=1,
    )


TOOL = Tool(
    name="run_eval",
    description=(
        "Run an evaluation server-side: the task (the playground's prompt by default) on every row of "
        "a dataset, scored by the given or selected scorers; waits for it and returns the experiment's "
        "summary (scores, metrics, comparison). Asks the user to confirm first unless auto-accept is on."
    ),
    params=Params,
    risk="write",
    run=run,
    preview=preview,
)
