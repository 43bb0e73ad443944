"""Writing dataset records and listing the dataset's versions in an in-process Loopline (the
dataset versions and restore tests)."""

from __future__ import annotations

from typing import Any

from tests.support.app import InProcess


async def insert(ll: InProcess, ds: str, *events: dict[str, Any]) -> None:
    r = await ll.client.post(f"/v1/dataset/{ds}/insert", json={"events": list(events)}, headers=ll.headers)
    assert r.status_code == 200, r.text


async def versions(ll: InProcess, ds: str, **params: Any) -> list[dict[str, Any]]:
    """The dataset's versions, newest first (`GET /v1/dataset/{id}/versions`)."""
    r = await ll.client.get(f"/v1/dataset/{ds}/versions", params=params, headers=ll.headers)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["versions"]
    return out
