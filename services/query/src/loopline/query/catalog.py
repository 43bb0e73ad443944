"""Read-only lookups of control-plane objects the query service needs (names, base experiments)."""

from __future__ import annotations

from typing import Any

from loopline.common.store import Store


class Catalog:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _one(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        rows = await self.store.query_dicts(self.store.sql(sql), params)
        return rows[0] if rows else None

    async def experiment(self, org_id: str, experiment_id: str) -> dict[str, Any] | None:
        return await self._one(
            "SELECT id, name, project_id, base_exp_id, created FROM {db}.experiments FINAL "
            "WHERE org_id = {o:String} AND id = {i:String}",
            {"o": org_id, "i": experiment_id},
        )

    async def project(self, org_id: str, project_id: str) -> dict[str, Any] | None:
        return await self._one(
            "SELECT id, name FROM {db}.projects FINAL WHERE org_id = {o:String} AND id = {i:String}",
            {"o": org_id, "i": project_id},
        )

    async def dataset(self, org_id: str, dataset_id: str) -> dict[str, Any] | None:
        return await self._one(
            "SELECT id, name, project_id FROM {db}.datasets FINAL WHERE org_id = {o:String} AND id = {i:String}",
            {"o": org_id, "i": dataset_id},
        )

    async def default_base(self, org_id: str, exp: dict[str, Any]) -> dict[str, Any] | None:
        """The experiment's stored base, else the latest other experiment of its project before it."""
        if exp.get("base_exp_id"):
            base = await self.experiment(org_id, exp["base_exp_id"])
            if base is not None:
                return base
        return await self._one(
            "SELECT id, name, project_id, base_exp_id, created FROM {db}.experiments FINAL "
            "WHERE org_id = {o:String} AND project_id = {p:String} AND id != {i:String} AND created <= {c:DateTime64(6)} "
            "ORDER BY created DESC LIMIT 1",
            {"o": org_id, "p": exp["project_id"], "i": exp["id"], "c": exp["created"]},
        )
