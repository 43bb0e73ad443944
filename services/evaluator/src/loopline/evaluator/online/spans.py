"""The project-log rows online scoring reads back: spans by row id, and a trace's root."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopline.common import stored_row
from loopline.common.store import Store

_SELECT = f"SELECT {', '.join(stored_row.READ_COLUMNS)} FROM {{db}}.spans FINAL "
_OBJECT = (
    "WHERE org_id = {o:String} AND project_id = {p:String} AND object_type = {t:String} "
    "AND object_id = {i:String} AND _is_deleted = 0 "
)


def is_scorer_span(row: Mapping[str, Any]) -> bool:
    """A span a scorer wrote (never itself scored: scores on scores would never end)."""
    attrs = row.get("span_attributes")
    return isinstance(attrs, Mapping) and (attrs.get("purpose") == "scorer" or attrs.get("type") == "score")


def is_ended(row: Mapping[str, Any]) -> bool:
    """A span is ready to score once it has `metrics.end`; a row that never had `metrics.start`
    (written in one piece, e.g. through the insert API) is ready as it is."""
    metrics = row.get("metrics")
    if not isinstance(metrics, Mapping):
        return True
    return metrics.get("end") is not None or metrics.get("start") is None


class SpanRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def by_id(
        self, org_id: str, project_id: str, object_type: str, object_id: str, ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        found = await self.store.query_dicts(
            self.store.sql(_SELECT + _OBJECT + "AND id IN {ids:Array(String)}"),
            {"o": org_id, "p": project_id, "t": object_type, "i": object_id, "ids": list(ids)},
        )
        return {str(r["id"]): stored_row.to_read_row(r) for r in found}

    async def root(
        self, org_id: str, project_id: str, object_type: str, object_id: str, root_span_id: str
    ) -> dict[str, Any] | None:
        """The trace's root span (the row whose span_id is the root span id and has no parents)."""
        found = await self.store.query_dicts(
            self.store.sql(_SELECT + _OBJECT + "AND root_span_id = {r:String} AND is_root"),
            {"o": org_id, "p": project_id, "t": object_type, "i": object_id, "r": root_span_id},
        )
        rows = [stored_row.to_read_row(r) for r in found]
        for r in rows:
            if r.get("span_id") == root_span_id:
                return r
        return rows[0] if rows else None

    async def roots(
        self, org_id: str, project_id: str, object_type: str, object_id: str, root_span_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The root spans of these traces that are stored, by root span id."""
        if not root_span_ids:
            return {}
        found = await self.store.query_dicts(
            self.store.sql(_SELECT + _OBJECT + "AND root_span_id IN {r:Array(String)} AND is_root"),
            {"o": org_id, "p": project_id, "t": object_type, "i": object_id, "r": list(root_span_ids)},
        )
        out: dict[str, dict[str, Any]] = {}
        for r in (stored_row.to_read_row(x) for x in found):
            root = str(r.get("root_span_id"))
            if root not in out or r.get("span_id") == root:
                out[root] = r
        return out


def field_value(row: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at a field path of a row (None when any step is missing)."""
    v: Any = row
    for p in path:
        if not isinstance(v, Mapping):
            return None
        v = v.get(p)
    return v
