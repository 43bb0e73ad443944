"""The writer's steps around the worker process (offload.py): prepare there; here, load the
bases of the rows the writer merges itself and merge them; every row goes on to the insert in
bus order (the order the writer without a worker inserts and announces them in).

    prepare (worker) → load_bases (rows with a stored version, groups that name a parent, rows
    whose merge failed in the worker) → merge (those rows, with `steps.merge_groups`; the
    worker's rows join as encoded lines) → insert → announce
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loopline.common.bus import Message
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.rows import RowWrite
from loopline.common.pipeline import Batch
from loopline.common.store import Store
from loopline.common.stored_row import RowState
from loopline.ingest.writer.bases import LoadBases, existing_ids
from loopline.ingest.writer.offload import Offload, PreparedBatch, PreparedRow
from loopline.ingest.writer.steps import EncodedRow, GroupKey, GroupWithBases, Merged, merge_groups


@dataclass(slots=True)
class Prepared:
    messages: Sequence[Message]
    batch: PreparedBatch


@dataclass(slots=True)
class SplitGroup:
    """One object's rows in bus order: the worker's (`PreparedRow`) or the writer's own writes."""

    key: GroupKey
    rows: list[tuple[str, PreparedRow | list[RowWrite]]]
    bases: dict[str, RowState]
    #: every row is the writer's: merge the group as one (parents resolve within it)
    whole: bool
    messages: Sequence[Message]


class Prepare:
    """The step: the worker prepares the batch; messages that are not row writes are Invalid."""

    def __init__(self, offload: Offload) -> None:
        self.offload = offload

    async def __call__(self, batch: Batch[Sequence[Message]]) -> Prepared:
        messages = batch.value
        prepared = await self.offload.prepare([m.value for m in messages])
        for i, reason in prepared.undecodable:
            batch.reject(messages[i], reason)
        return Prepared(messages, prepared)


class SplitAndLoadBases:
    """The step: which prepared rows have a stored version (one id-only read per group); those,
    and the rows the worker left to the writer, are decoded here and get their bases loaded."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.load_bases = LoadBases(store)

    async def __call__(self, batch: Batch[Prepared]) -> list[SplitGroup]:
        messages = batch.value.messages
        out: list[SplitGroup] = []
        for key, prepared_rows in batch.value.batch.groups.items():
            stored = set(await existing_ids(self.store, key, list(prepared_rows)))
            rows: list[tuple[str, PreparedRow | list[RowWrite]]] = []
            here: dict[str, list[RowWrite]] = {}
            for row_id, row in prepared_rows.items():
                if row.ok and row_id not in stored:
                    rows.append((row_id, row))
                else:
                    ws = here[row_id] = [rows_topic.decode(messages[i].value) for i in row.writes]
                    rows.append((row_id, ws))
            bases: dict[str, RowState] = {}
            if here:
                (g,) = await self.load_bases(batch.with_value({key: here}))
                bases = g.bases
            out.append(SplitGroup(key, rows, bases, len(here) == len(rows), messages))
        return out


async def merge_split(batch: Batch[list[SplitGroup]]) -> Merged:
    """The step: merge the writer's own rows (`merge_groups`: a whole group at once, else row by
    row), and put the worker's encoded rows in their places."""
    merged = Merged()

    async def merge_here(g: GroupWithBases) -> None:
        m = await merge_groups(batch.with_value([g]))
        merged.originals.update(m.originals)
        for table, rows in m.by_table.items():
            merged.by_table.setdefault(table, []).extend(rows)

    for g in batch.value:
        if g.whole:
            await merge_here(
                GroupWithBases(g.key, {r: ws for r, ws in g.rows if isinstance(ws, list)}, g.bases)
            )
            continue
        for row_id, row in g.rows:
            if isinstance(row, list):
                await merge_here(GroupWithBases(g.key, {row_id: row}, g.bases))
                continue
            out = merged.by_table.setdefault(g.key[0], [])
            last_write = g.messages[row.writes[-1]].value
            out.extend(
                EncodedRow(line, a, last_write) for line, a in zip(row.lines, row.announced, strict=True)
            )
    return merged
