"""Which project an object belongs to, checked against the caller's org (cached)."""

from __future__ import annotations

import time

from loopline.common.object_types import DATASET, EXPERIMENT
from loopline.common.store import Store

_TABLES = {EXPERIMENT: "experiments", DATASET: "datasets"}
_NEGATIVE_TTL_S = 1.0
_POSITIVE_TTL_S = 30.0


class CachedProjectLookup:
    """(org, object_type, object_id) → project id or None, with the answers cached.

    An object's project never changes, but an object can be deleted: positive answers are cached
    for 30 s (so a deleted object stops accepting writes within that), negative answers for 1 s
    (the object may be being created). Subclasses say where an answer comes from (`_fetch`).
    """

    def __init__(self) -> None:
        self._hit: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._miss: dict[tuple[str, str, str], float] = {}

    async def _fetch(self, org_id: str, object_type: str, object_id: str) -> str | None:
        raise NotImplementedError

    async def project_of(self, org_id: str, object_type: str, object_id: str) -> str | None:
        key = (org_id, object_type, object_id)
        hit = self._hit.get(key)
        if hit is not None and time.monotonic() - hit[0] < _POSITIVE_TTL_S:
            return hit[1]
        missed = self._miss.get(key)
        if missed is not None and time.monotonic() - missed < _NEGATIVE_TTL_S:
            return None
        project_id = await self._fetch(org_id, object_type, object_id)
        if project_id is None:
            if len(self._miss) > 100_000:
                self._miss.clear()
            self._miss[key] = time.monotonic()
            return None
        if len(self._hit) > 1_000_000:
            self._hit.clear()
        self._hit[key] = (time.monotonic(), project_id)
        return project_id


class ObjectResolver(CachedProjectLookup):
    """Resolves (org, object_type, object_id) to its project id, or None if it is not the org's,
    by reading the control-plane tables from the store (the gateway's tables: use it where the
    gateway runs, or where every process shares one ClickHouse)."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    async def _fetch(self, org_id: str, object_type: str, object_id: str) -> str | None:
        if object_type in _TABLES:
            sql = f"SELECT project_id FROM {{db}}.{_TABLES[object_type]} FINAL WHERE org_id = {{o:String}} AND id = {{i:String}}"
        else:  # project-scoped objects: project logs, prompt sessions, project prompts
            sql = "SELECT id AS project_id FROM {db}.projects FINAL WHERE org_id = {o:String} AND id = {i:String}"
        rows = await self.store.query(self.store.sql(sql), {"o": org_id, "i": object_id})
        if not rows[1]:
            return None
        return str(rows[1][0][0])
