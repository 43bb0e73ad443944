"""The in-process `ControlPlane` (libs/common): the gateway's catalog, read and written directly.

The runtime builds it when the gateway runs in the same process, or when the process's store
holds the control-plane tables; other processes get `HttpControlPlane`. Every answer comes from
its `catalog`, the process's one Catalog (the gateway's routes use it too): the control-plane
tables have one reader and one cache (positive answers for a few seconds, dropped at once by the
Catalog's own writes, so a deleted object stops accepting writes at once in this process).
"""

from __future__ import annotations

from typing import Any

from loopline.common.auth import Principal
from loopline.common.control_plane import BaseExperiment, ControlPlaneRefused, ObjectInfo
from loopline.common.errors import Problem
from loopline.common.http import COMMON_ERRORS
from loopline.common.object_types import DATASET, EXPERIMENT
from loopline.common.store import Store
from loopline.gateway.catalog import Catalog


def _info(row: dict[str, Any] | None) -> ObjectInfo | None:
    if row is None:
        return None
    return ObjectInfo(str(row["id"]), str(row["name"]), str(row.get("project_id") or row["id"]))


class LocalControlPlane:
    def __init__(self, store: Store) -> None:
        self.catalog = Catalog(store)

    async def project_of(self, org_id: str, object_type: str, object_id: str) -> str | None:
        if object_type == EXPERIMENT:
            row = await self.catalog.get_experiment(org_id, object_id)
        elif object_type == DATASET:
            row = await self.catalog.get_dataset(org_id, object_id)
        else:  # project-scoped objects (project logs, prompt sessions, ...) are their project's
            row = await self.catalog.get_project(org_id, object_id)
            return None if row is None else str(row["id"])
        return None if row is None else str(row["project_id"])

    async def project_id_by_name(self, principal: Principal, name: str) -> str:
        try:
            project, _ = await self.catalog.create_project(principal.org_id, name, user_id=principal.user_id)
        except Problem as exc:  # e.g. a name the catalog refuses
            raise ControlPlaneRefused(COMMON_ERRORS.status_of(exc), exc.message) from exc
        return str(project["id"])

    async def project_by_name(self, org_id: str, name: str) -> ObjectInfo | None:
        return _info(await self.catalog.project_by_name(org_id, name))

    async def object_info(self, org_id: str, object_type: str, object_id: str) -> ObjectInfo | None:
        get = {
            "project": self.catalog.get_project,
            "experiment": self.catalog.get_experiment,
            "dataset": self.catalog.get_dataset,
        }[object_type]
        return _info(await get(org_id, object_id))

    async def base_experiment(self, org_id: str, experiment_id: str) -> BaseExperiment | None:
        exp = await self.catalog.get_experiment(org_id, experiment_id)
        base = None if exp is None else await self.catalog.default_base(org_id, exp)
        return None if base is None else BaseExperiment(str(base["id"]), str(base["name"]))
