"""Saved dashboards in the `dashboards` table (query's migration 300): one row per dashboard,
its charts and view as JSON (`body`), versioned (ReplacingMergeTree, read with FINAL); a delete
writes a newer row marked `_deleted`. Every read and write is scoped by org id."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from loopline.common.store import Store
from loopline.query.dashboards.models import DashboardIn

_COLS = (
    "org_id",
    "project_id",
    "id",
    "name",
    "description",
    "body",
    "created",
    "updated",
    "_deleted",
    "_version",
)


@dataclass(frozen=True)
class Saved:
    id: str
    created: datetime
    updated: datetime
    dashboard: DashboardIn


def _version() -> int:
    return time.time_ns()


def _body(d: DashboardIn) -> str:
    return orjson.dumps(d.model_dump(mode="json", include={"charts", "view"})).decode()


def _saved(r: dict[str, object]) -> Saved:
    body = orjson.loads(str(r["body"]))
    d = DashboardIn.model_validate(
        {"project_id": r["project_id"], "name": r["name"], "description": r["description"], **body}
    )
    created, updated = r["created"], r["updated"]
    assert isinstance(created, datetime) and isinstance(updated, datetime)
    return Saved(str(r["id"]), created, updated, d)


class DashboardStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def list(self, org_id: str, project_id: str) -> list[Saved]:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT * FROM {db}.dashboards FINAL WHERE org_id = {o:String} AND project_id = {p:String} "
                "AND _deleted = 0 ORDER BY name, id"
            ),
            {"o": org_id, "p": project_id},
        )
        return [_saved(r) for r in rows]

    async def get(self, org_id: str, dashboard_id: str) -> Saved | None:
        rows = await self.store.query_dicts(
            self.store.sql(
                "SELECT * FROM {db}.dashboards FINAL WHERE org_id = {o:String} AND id = {i:String} AND _deleted = 0"
            ),
            {"o": org_id, "i": dashboard_id},
        )
        return _saved(rows[0]) if rows else None

    async def put(
        self, org_id: str, dashboard_id: str, d: DashboardIn, created: datetime | None = None
    ) -> Saved:
        now = datetime.now(UTC)
        row = [
            org_id,
            d.project_id,
            dashboard_id,
            d.name,
            d.description,
            _body(d),
            created or now,
            now,
            0,
            _version(),
        ]
        await self.store.insert("dashboards", [row], _COLS)
        return Saved(dashboard_id, created or now, now, d)

    async def delete(self, org_id: str, saved: Saved) -> None:
        d = saved.dashboard
        row = [
            org_id,
            d.project_id,
            saved.id,
            d.name,
            d.description,
            "{}",
            saved.created,
            datetime.now(UTC),
            1,
            _version(),
        ]
        await self.store.insert("dashboards", [row], _COLS)
