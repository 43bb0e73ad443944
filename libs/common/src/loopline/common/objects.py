"""Which project an object belongs to, checked against the caller's org (cached)."""

from __future__ import annotations

import time

from loopline.common.store import Store

_TABLES = {"experiment": "experiments", "dataset": "datasets"}
_NEGATIVE_TTL_S = 1.0
_POSITIVE_TTL_S = 30.0


class ObjectResolver:
    """Resolves (org, object_type, object_id) to its project id, or None if it is not the org's.

    An object's project never changes, but an object can be deleted: positive answers are cached
    for 30 s (so a deleted object stops accepting writes within that), negative answers for 1 s
    (the object may be being created).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._hit: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._miss: dict[tuple[str, str, str], float] = {}

    async def project_of(self, org_id: str, object_type: str, object_id: str) -> str | None:
        key = (org_id, object_type, object_id)
        hit = self._hit.get(key)
        if hit is not None and time.monotonic() - hit[0] < _POSITIVE_TTL_S:
            return hit[1]
        missed = self._miss.get(key)
        if missed is not None and time.monotonic() - missed < _NEGATIVE_TTL_S:
            return None
        if object_type in _TABLES:
            sql = f"SELECT project_id FROM {{db}}.{_TABLES[object_type]} FINAL WHERE org_id = {{o:String}} AND id = {{i:String}}"
        else:  # project-scoped objects: project logs, prompt sessions, project prompts
            sql = "SELECT id AS project_id FROM {db}.projects FINAL WHERE org_id = {o:String} AND id = {i:String}"
        rows = await self.store.query(self.store.sql(sql), {"o": org_id, "i": object_id})
        if not rows[1]:
            if len(self._miss) > 100_000:
                self._miss.clear()
            self._miss[key] = time.monotonic()
            return None
        project_id = str(rows[1][0][0])
        if len(self._hit) > 1_000_000:
            self._hit.clear()
        self._hit[key] = (time.monotonic(), project_id)
        return project_id
