"""The in-process `ControlPlane` (libs/common): the gateway's catalog, read and written directly.

The runtime builds it when the gateway runs in the same process, or when the process's store
holds the control-plane tables; other processes get `HttpControlPlane`. Its `catalog` is the
process's one Catalog (the gateway's routes use it too, so one cache serves both).
"""

from __future__ import annotations

from typing import Any

from loopline.common.auth import Principal
from loopline.common.control_plane import BaseExperiment, ControlPlaneRefused, ObjectInfo
from loopline.common.errors import Problem
from loopline.common.http import COMMON_ERRORS
from loopline.common.objects import ObjectResolver
from loopline.common.store import Store
from loopline.gateway.catalog import Catalog


def _info(row: dict[str, Any] | None) -> ObjectInfo | None:
    if row is None:
        return None
    return ObjectInfo(str(row["id"]), str(row["name"]), str(row.get("project_id") or row["id"]))


class LocalControlPlane:
    def __init__(self, store: Store) -> None:
        self.catalog = Catalog(store)
        self._objects = ObjectResolver(store)

    async def project_of(self, org_id: str, object_type: str, object_id: str) -> str | None:
        return await self._objects.project_of(org_id, object_type, object_id)

    async def project_id_by_name(self, principal: Principal, name: str) -> str:
        try:
            project, _ = await self.catalog.create_project(principal.org_id, name, user_id=principal.user_id)
        except Problem as exc:  # e.g. a name the catalog refuses
            raise ControlPlaneRefused(COMMON_ERRORS.status_of(exc), exc.message) from exc
        return str(project["id"])

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
