"""Create a dataset from the rows of a query (write: confirmed by the user unless auto-accept)."""

from __future__ import annotations

from typing import Any

from loopline.loop_agent.btql_client import BtqlFailed
from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from pydantic import BaseModel, Field

MAX_ROWS = 1000
_RECORD_FIELDS = ("input", "expected", "metadata", "tags")


class Params(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="the new dataset's name")
    query: str = Field(
        min_length=1,
        max_length=20_000,
        description="a complete BTQL query (with from:) whose rows become records",
    )
    project_id: str | None = Field(
        default=None, description="the dataset's project; default: the one in view"
    )
    limit: int = Field(default=100, ge=1, le=MAX_ROWS, description="at most this many rows become records")


def to_record(row: dict[str, Any]) -> dict[str, Any]:
    """A query row as a dataset record: its input/expected/metadata/tags when it has them, else the
    whole row is the input; the source span is kept in metadata."""
    if "input" in row:
        rec: dict[str, Any] = {k: row[k] for k in _RECORD_FIELDS if row.get(k) is not None}
        meta: dict[str, Any] = rec["metadata"] if isinstance(rec.get("metadata"), dict) else {}
        extra = {k: v for k, v in row.items() if k not in (*_RECORD_FIELDS, "id")}
        rec["metadata"] = {**meta, **({"source": extra} if extra else {})}
    else:
        rec = {"input": {k: v for k, v in row.items() if k != "id"}}
    if row.get("id") is not None:
        rec.setdefault("metadata", {})["source_span_id"] = row["id"]
    return rec


async def _rows(ctx: ToolContext, p: Params) -> list[dict[str, Any]]:
    try:
        page = await ctx.btql.page(p.query)
    except BtqlFailed as exc:
        raise ToolFailed(
            f"the query failed, nothing was created: {exc.describe()}", error=exc.for_model()
        ) from None
    return page.data[: p.limit]


async def preview(ctx: ToolContext, p: Params) -> dict[str, Any]:
    rows = await _rows(ctx, p)
    return {
        "action": f"create dataset {p.name!r} with {len(rows)} records",
        "project_id": ctx.project_id(p.project_id),
        "records": len(rows),
        "sample": [to_record(r) for r in rows[:3]],
    }


async def run(ctx: ToolContext, p: Params) -> ToolResult:
    pid = ctx.project_id(p.project_id)
    rows = await _rows(ctx, p)
    ds = await ctx.call("POST", "/v1/dataset", {"project_id": pid, "name": p.name})
    records = [to_record(r) for r in rows]
    if records:
        await ctx.call("POST", f"/v1/dataset/{ds['id']}/insert", {"events": records})
    return ToolResult(
        {"dataset_id": ds["id"], "name": ds.get("name"), "project_id": pid, "records_inserted": len(records)},
        f"dataset {p.name!r} with {len(records)} records",
        rows_touched=len(records),
    )


TOOL = Tool(
    name="create_dataset_from_query",
    description=(
        "Create a dataset whose records are the rows of a BTQL query (each row's input/expected/"
        "metadata, or the whole row as input). Asks the user to confirm first unless auto-accept is on."
    ),
    params=Params,
    risk="write",
    run=run,
    preview=preview,
)
