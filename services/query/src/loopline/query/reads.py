"""Object reads: fetch a project's logs, an experiment or a dataset (optionally as of a version).

Refusals are the domain kinds of `loopline.common.errors` (`NotFound`, `Invalid`); the HTTP edge
answers them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopline.btql import newest
from loopline.common import stored_row
from loopline.common.control_plane import ProjectLookup
from loopline.common.errors import Invalid, NotFound
from loopline.common.object_types import READABLE, stored_object_id
from loopline.common.store import Store
from loopline.query.cursor import decode_cursor, encode_cursor

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class ObjectScope:
    org_id: str
    project_id: str
    object_type: str  # experiment | dataset | project_logs
    object_id: str  # experiment id, dataset id, or "g" for project logs


def parse_version(version: Any) -> int | None:
    if version is None or version == "":
        return None
    try:
        v = int(str(version))
    except ValueError:
        raise Invalid(
            f"'version' must be a transaction id (a decimal integer), got {version!r}", field="version"
        ) from None
    if v < 0:
        raise Invalid("'version' must be >= 0", field="version")
    return v


def parse_limit(limit: Any) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    try:
        n = int(limit)
    except (TypeError, ValueError):
        raise Invalid(f"'limit' must be an integer, got {limit!r}", field="limit") from None
    if n < 1:
        raise Invalid("'limit' must be >= 1", field="limit")
    return min(n, MAX_LIMIT)


class ObjectReader:
    #: the newest-first windows of a span fetch (`btql.newest`); () reads every live row
    newest_windows: tuple[int, ...] = newest.DEFAULT_WINDOWS

    def __init__(self, store: Store, objects: ProjectLookup) -> None:
        self.store = store
        self.objects = objects

    async def scope(self, org_id: str, object_type: str, object_id: str) -> ObjectScope:
        if object_type not in READABLE:
            raise NotFound(f"unknown object type {object_type!r}: use experiment, dataset or project_logs")
        project_id = await self.objects.project_of(org_id, object_type, object_id)
        if project_id is None:
            raise NotFound(f"{object_type} {object_id!r} does not exist in this organization")
        return ObjectScope(org_id, project_id, object_type, stored_object_id(object_type, object_id))

    def current_rows_sql(
        self, scope: ObjectScope, version: int | None, columns: str, prewhere: str = ""
    ) -> tuple[str, dict[str, Any]]:
        """SQL (a subquery) of the object's live rows, as of `version` when given (span rows:
        only those matching `prewhere`, a condition on what every version of a row shares: the
        sort key, `created`)."""
        params: dict[str, Any] = {
            "o": scope.org_id,
            "p": scope.project_id,
            "t": scope.object_type,
            "i": scope.object_id,
        }
        if scope.object_type == "dataset":
            vfilter = ""
            if version is not None:
                vfilter = "AND _xact_id <= {v:UInt64}"
                params["v"] = version
            # the newest version of each row, unless it is a deletion (`_live` whatever `columns` is)
            sql = (
                f"SELECT * EXCEPT (_live) FROM (SELECT {columns}, _is_deleted = 0 AS _live "
                f"FROM {{db}}.dataset_rows WHERE org_id = {{o:String}} "
                f"AND project_id = {{p:String}} AND object_id = {{i:String}} {vfilter} "
                "ORDER BY id, _xact_id DESC LIMIT 1 BY id) WHERE _live"
            )
        else:
            vfilter = ""
            if version is not None:
                vfilter = "AND _xact_id <= {v:UInt64}"
                params["v"] = version
            pre = f" PREWHERE {prewhere}" if prewhere else ""
            sql = (
                f"SELECT {columns} FROM {{db}}.spans FINAL{pre} WHERE org_id = {{o:String}} AND project_id = {{p:String}} "
                f"AND object_type = {{t:String}} AND object_id = {{i:String}} {vfilter}"
            )
        return self.store.sql(sql), params

    def _prescan_sql(self, version: int | None, after_cursor: bool) -> str:
        """The newest `m` stored rows' count, the `created` of the oldest and how many rows they are
        versions of (`btql.newest`)."""
        conds = "org_id = {o:String} AND project_id = {p:String} AND object_type = {t:String} AND object_id = {i:String}"
        if version is not None:
            conds += " AND _xact_id <= {v:UInt64}"
        if after_cursor:
            conds += " AND created <= toDateTime64({cc:String}, 6, 'UTC')"
        return self.store.sql(
            "SELECT count() AS _n, min(created) AS _c0, toString(min(created)) AS _c0s, uniqExact(id) AS _u "
            f"FROM (SELECT created, id FROM {{db}}.spans WHERE {conds} ORDER BY created DESC LIMIT {{{newest.M_PARAM}:UInt64}})"
        )

    async def fetch(
        self,
        scope: ObjectScope,
        *,
        limit: Any = None,
        cursor: str | None = None,
        version: Any = None,
        audit_log: bool = False,
    ) -> dict[str, Any]:
        n = parse_limit(limit)
        v = parse_version(version)
        inner, params = self.current_rows_sql(scope, v, ", ".join(stored_row.READ_COLUMNS))
        where = ""
        if cursor:
            try:
                state = decode_cursor(cursor)
                params["cc"] = str(state["c"])
                params["ci"] = str(state["i"])
            except (ValueError, KeyError) as exc:
                raise Invalid(
                    "invalid cursor: pass back the 'cursor' value of the previous page", field="cursor"
                ) from exc
            where = "WHERE (created, id) < (toDateTime64({cc:String}, 6, 'UTC'), {ci:String})"
        order = f"ORDER BY created DESC, id DESC LIMIT {n + 1}"
        sql = f"SELECT * FROM ({inner}) {where} {order}"
        nw = None
        if scope.object_type != "dataset":
            # newest first (btql/newest.py): the rows at or after the pre-scan's cut-off, then all
            windowed, _ = self.current_rows_sql(
                scope, v, ", ".join(stored_row.READ_COLUMNS), f"created >= {newest.C0}"
            )
            nw = newest.NewestFirst(
                self._prescan_sql(v, bool(cursor)),
                f"SELECT * FROM ({windowed}) {where} {order}",
                newest.windows(n, self.newest_windows),
            )
        cols, found = await newest.collect(
            newest.statements(nw, sql, params, n, key="created"), self.store.query
        )
        rows = [dict(zip(cols, r, strict=True)) for r in found]
        more = len(rows) > n
        rows = rows[:n]
        events = [stored_row.to_read_row(r, audit_log=audit_log) for r in rows]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = encode_cursor(
                {"c": last["created"].strftime("%Y-%m-%d %H:%M:%S.%f"), "i": last["id"]}
            )
        return {"events": events, "cursor": next_cursor}
