"""The in-process `ControlPlane` (libs/common): the gateway's catalog, read and written directly.

The runtime builds it when the gateway runs in the same process, or when the process's store
holds the control-plane tables; other processes get `HttpControlPlane`.
"""

from __future__ import annotations

from loopline.common.auth import Principal
from loopline.common.control_plane import ControlPlaneRefused
from loopline.common.objects import ObjectResolver
from loopline.common.store import Store
from loopline.gateway.catalog import Catalog, CatalogError


class LocalControlPlane:
    def __init__(self, store: Store) -> None:
        self.catalog = Catalog(store)
        self._objects = ObjectResolver(store)

    async def project_of(self, org_id: str, object_type: str, object_id: str) -> str | None:
        return await self._objects.project_of(org_id, object_type, object_id)

    async def project_id_by_name(self, principal: Principal, name: str) -> str:
        try:
            project, _ = await self.catalog.create_project(principal.org_id, name, user_id=principal.user_id)
        except CatalogError as exc:
            raise ControlPlaneRefused(exc.status, exc.message) from exc
        return str(project["id"])
