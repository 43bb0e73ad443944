"""Logging root spans into an in-process Loopline and reading their classifier labels back
(the classifier's service, fault and bench tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tests.support.app import InProcess


def root_span(row_id: str, project_id: str, input_: Any, **extra: Any) -> dict[str, Any]:
    """A root span of the project's logs (its own trace) with this input."""
    return {
        "id": row_id,
        "span_id": row_id,
        "root_span_id": row_id,
        "project_id": project_id,
        "log_id": "g",
        "input": input_,
        **extra,
    }


async def log_rows(ll: InProcess, rows: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": rows}), headers=headers or ll.headers)
    assert r.status_code == 200, r.text


async def facet_items(
    ll: InProcess, project_id: str, headers: dict[str, str] | None = None, facet: str = "Intent"
) -> dict[str, dict[str, Any]]:
    """Row id → the facet's (first) item, for the project's labelled spans."""
    r = await ll.client.post(
        f"/v1/project_logs/{project_id}/fetch", json={"limit": 1000}, headers=headers or ll.headers
    )
    assert r.status_code == 200, r.text
    return {
        e["id"]: e["classifications"][facet][0]
        for e in r.json()["events"]
        if (e.get("classifications") or {}).get(facet)
    }


async def until_labelled(
    ll: InProcess,
    project_id: str,
    ids: set[str],
    headers: dict[str, str] | None = None,
    timeout_s: float = 120,
) -> dict[str, dict[str, Any]]:
    """`facet_items` once every id in `ids` has a label (bounded wait)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        got = await facet_items(ll, project_id, headers)
        if ids <= got.keys():
            return got
        assert asyncio.get_running_loop().time() < deadline, f"never labelled: {sorted(ids - got.keys())}"
        await asyncio.sleep(0.3)
