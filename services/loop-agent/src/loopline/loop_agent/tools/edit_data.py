"""Edit data: insert, update and delete a dataset's records (write: confirmed by the user unless
auto-accept)."""

from __future__ import annotations

from typing import Any

from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from pydantic import BaseModel, ConfigDict, Field

MAX_CHANGES = 1000


class NewRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Any = None
    expected: Any = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    id: str | None = Field(default=None, description="optional: the record's id")


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    input: Any = None
    expected: Any = None
    metadata: dict[str, Any] | None = Field(default=None, description="merged into the record's metadata")
    tags: list[str] | None = None


class Params(BaseModel):
    dataset_id: str | None = Field(default=None, description="default: the dataset in view")
    insert: list[NewRecord] = Field(default_factory=list, max_length=MAX_CHANGES)
    update: list[RecordUpdate] = Field(default_factory=list, max_length=MAX_CHANGES)
    delete: list[str] = Field(
        default_factory=list, max_length=MAX_CHANGES, description="ids of records to delete"
    )


def _dataset(ctx: ToolContext, p: Params) -> str:
    if p.dataset_id:
        return p.dataset_id
    if ctx.page.kind == "dataset" and ctx.page.object_id:
        return ctx.page.object_id
    raise ToolFailed("no dataset given and none in view: name the dataset_id or call get_data_source")


def _events(p: Params) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [r.model_dump(exclude_none=True) for r in p.insert]
    events += [{**u.model_dump(exclude_none=True), "_is_merge": True} for u in p.update]
    events += [{"id": i, "_object_delete": True} for i in p.delete]
    return events


async def preview(ctx: ToolContext, p: Params) -> dict[str, Any]:
    ds = _dataset(ctx, p)
    info = await ctx.call("GET", f"/v1/dataset/{ds}")
    return {
        "action": f"edit dataset {info.get('name')!r}: insert {len(p.insert)}, update {len(p.update)}, "
        f"delete {len(p.delete)} records",
        "dataset_id": ds,
        "insert": [r.model_dump(exclude_none=True) for r in p.insert[:5]],
        "update": [u.id for u in p.update],
        "delete": p.delete,
    }


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    ds = _dataset(ctx, p)
    events = _events(p)
    if not events:
        raise ToolFailed("nothing to change: give insert, update or delete")
    await ctx.call("GET", f"/v1/dataset/{ds}")  # a clear 'not found' before writing
    body = await ctx.call("POST", f"/v1/dataset/{ds}/insert", {"events": events})
    return ToolResult(
        {
            "dataset_id": ds,
            "row_ids": body.get("row_ids", []),
            "inserted": len(p.insert),
            "updated": len(p.update),
            "deleted": len(p.delete),
        },
        f"{len(p.insert)} inserted, {len(p.update)} updated, {len(p.delete)} deleted",
        rows_touched=len(events),
    )


TOOL = Tool(
    name="edit_data",
    description=(
        "Insert new records into a dataset, update records by id (fields given replace, metadata is "
        "merged) and delete records by id. Follow the format of the dataset's existing records "
        "(get_detailed_results). Asks the user to confirm first unless auto-accept is on."
    ),
    params=Params,
    risk="write",
    run=run,
    preview=preview,
)
