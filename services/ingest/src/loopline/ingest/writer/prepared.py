"""The writer's steps around the worker process (offload.py): prepare there; here, load the
bases of the rows the writer merges itself and merge them; every row goes on to the insert in
bus order (the order the writer without a worker inserts and announces them in).

    prepare (worker) → load_bases (rows with a stored version, groups that name a parent, rows
    whose merge failed in the worker) → merge (those rows, with `steps.merge_groups`; the
    worker's rows join as encoded lines) → insert → announce

When the worker merged every row and none has a stored version (steady ingest), each table's
body goes to the insert as the worker encoded it, with the announcements it made
(`steps.EncodedBody`): the rows are never decoded in the writer's process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loopline.common.bus import Message
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.rows import RowWrite
from loopline.common.pipeline import Batch
from loopline.common.store import Store
from loopline.common.stored_row import RowState
from loopline.ingest.writer.bases import LoadBases, existing_ids
from loopline.ingest.writer.offload import Offload
from loopline.ingest.writer.steps import (
    EncodedBody,
    EncodedRow,
    GroupKey,
    GroupWithBases,
    Merged,
    merge_groups,
)
from loopline.ingest.writer.wire import Handed, PreparedBatch, PreparedRow, TableBody


@dataclass(slots=True)
class Prepared:
    messages: Sequence[Message]
    handed: Handed


@dataclass(slots=True)
class Whole:
    """Every row of the batch is new and merged by the worker: its tables' bodies as they are."""

    tables: list[TableBody]
    messages: Sequence[Message]
    handed: Handed


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
        handed = await self.offload.prepare([m.value for m in messages])
        for i, reason in handed.undecodable:
            batch.reject(messages[i], reason)
        return Prepared(messages, handed)


class SplitAndLoadBases:
    """The step: which prepared rows have a stored version (one id-only read per group); those,
    and the rows the worker left to the writer, are decoded here and get their bases loaded."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.load_bases = LoadBases(store)

    async def __call__(self, batch: Batch[Prepared]) -> list[SplitGroup] | Whole:
        messages, handed = batch.value.messages, batch.value.handed
        stored_by_group = [set(await existing_ids(self.store, key, ids)) for key, ids in handed.groups]
        if handed.ok and not any(stored_by_group):
            return Whole(handed.tables, messages, handed)
        out: list[SplitGroup] = []
        prepared = handed.batch()
        for (key, prepared_rows), stored in zip(prepared.groups.items(), stored_by_group, strict=True):
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


async def merge_split(batch: Batch[list[SplitGroup] | Whole]) -> Merged:
    """The step: merge the writer's own rows (`merge_groups`: a whole group at once, else row by
    row), and put the worker's encoded rows in their places; or, for a `Whole` batch, its
    tables' bodies."""
    merged = Merged()
    if isinstance(batch.value, Whole):
        whole = batch.value
        for t in whole.tables:
            rows = _table_rows(whole.handed, whole.messages, t.table)
            merged.by_table[t.table] = [EncodedBody(t.body, t.count, t.announcements, rows)]
        return merged

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
            out.extend(_encoded(row, g.messages))
    return merged


def _encoded(row: PreparedRow, messages: Sequence[Message]) -> list[EncodedRow]:
    last_write = messages[row.writes[-1]].value
    return [EncodedRow(line, a, last_write) for line, a in zip(row.lines, row.announced, strict=True)]


def _table_rows(handed: Handed, messages: Sequence[Message], table: str) -> Callable[[], list[EncodedRow]]:
    """A `Whole` table's rows one by one, when the store rejected its body (the insert bisects)."""

    def rows() -> list[EncodedRow]:
        prepared: PreparedBatch = handed.batch()
        return [
            e
            for key, group in prepared.groups.items()
            if key[0] == table
            for row in group.values()
            for e in _encoded(row, messages)
        ]

    return rows
