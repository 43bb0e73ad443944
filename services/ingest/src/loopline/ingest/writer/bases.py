"""Load bases: the stored state of every row a group writes (and of parents its writes name)."""

from __future__ import annotations

from collections.abc import Sequence

from loopline.common import stored_row
from loopline.common.pipeline import Batch
from loopline.common.rows import parse_row
from loopline.common.store import Store
from loopline.common.stored_row import RowState
from loopline.ingest import merge
from loopline.ingest.writer.steps import GroupKey, Groups, GroupWithBases


async def load_bases(store: Store, group: GroupKey, ids: Sequence[str]) -> dict[str, RowState]:
    """The newest stored state of rows `ids` of one object, by id (absent: never written)."""
    table, org, project, otype, oid = group
    cols = ", ".join(stored_row.STATE_COLUMNS)
    if table == "spans":
        sql = (
            f"SELECT {cols} FROM {{db}}.spans FINAL WHERE org_id = {{o:String}} AND project_id = {{p:String}} "
            "AND object_type = {t:String} AND object_id = {i:String} AND id IN {ids:Array(String)} "
            "SETTINGS do_not_merge_across_partitions_select_final = 1"
        )
    else:
        sql = (
            f"SELECT {cols} FROM {{db}}.dataset_rows WHERE org_id = {{o:String}} AND project_id = {{p:String}} "
            "AND object_id = {i:String} AND id IN {ids:Array(String)} "
            "ORDER BY _xact_id DESC LIMIT 1 BY id"
        )
    rows = await store.query_dicts(
        store.sql(sql), {"o": org, "p": project, "t": otype, "i": oid, "ids": list(ids)}
    )
    return {r["id"]: stored_row.state_from_columns(r) for r in rows}


class LoadBases:
    """The step: one store read per group, for its row ids plus the parents its writes resolve."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, batch: Batch[Groups]) -> list[GroupWithBases]:
        out: list[GroupWithBases] = []
        for key, by_id in batch.value.items():
            parent_ids = {
                pid
                for ws in by_id.values()
                for w in ws
                if "_parent_id" in w.row and (pid := merge.parent_to_resolve(parse_row(w.row)))
            }
            bases = await load_bases(self.store, key, list(by_id.keys() | parent_ids))
            out.append(GroupWithBases(key, by_id, bases))
        return out
