"""The writer's steps around the worker process (offload.py): prepare there; here, load the
bases of the rows the writer merges itself and merge them; every row goes on to the insert in
bus order (the order the writer without a worker inserts and announces them in).

    prepare (worker) → load_bases (rows with a stored version, groups that name a parent, rows
    whose merge failed in the worker) → merge (those rows, with `steps.merge_groups`; the
    worker's rows join as encoded lines) → insert → announce

When the worker merged every row and none has a stored version (steady ingest), each table's
body goes to the insert as the worker encoded it, with the announcements it made
(`steps.EncodedBody`): the rows are never decoded in the writer's process.

Once the worker has prepared a batch, it prepares the next one (`take_next_batch`: the
in-process bus can tell it) while this process inserts the first: draining a backlog, the
worker's prepare and the store's insert then use both cores instead of taking turns. Only the
prepare runs ahead, and it reads nothing but the messages: which rows have a stored version is
still asked in load_bases, after the previous batch's insert returned, so a write onto a row of
the previous batch merges onto that row exactly as without the look-ahead. The next batch's
offsets are committed only after its own handler returns, as always.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loopline.common.bus import Message, take_next_batch
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


@dataclass(slots=True)
class _Ahead:
    """The worker's prepare of a batch the handler has not been given yet."""

    messages: list[Message]
    task: asyncio.Task[Handed]

    def is_for(self, messages: Sequence[Message]) -> bool:
        """`messages` are these very messages (same offsets, same values), in the same order."""
        return len(messages) == len(self.messages) and all(
            a.partition == b.partition and a.offset == b.offset and a.value is b.value
            for a, b in zip(messages, self.messages, strict=True)
        )

    def drop(self) -> None:
        self.task.cancel()  # the worker still answers it (one call at a time); nothing reads it


def _reap(task: asyncio.Task[Handed]) -> None:
    """Retrieve a prepare's failure, so one that is dropped is not reported as never retrieved
    (one that is awaited still raises it)."""
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()


class Prepare:
    """The step: the worker prepares the batch (or has prepared it ahead); messages that are not
    row writes are Invalid. Then the worker starts on the next batch of `ahead_min` or more
    messages, if the bus can tell it (see the module docstring). One batch ahead at a time: with
    several group members on one writer, one member's batch may drop another's prepare (which
    is then prepared again: correct, only not ahead)."""

    def __init__(self, offload: Offload, ahead_min: int = 1) -> None:
        self.offload = offload
        self.ahead_min = ahead_min
        self._ahead: _Ahead | None = None
        #: batches whose prepare was started ahead, and those of them that were then used (tests)
        self.started_ahead = 0
        self.used_ahead = 0

    async def __call__(self, batch: Batch[Sequence[Message]]) -> Prepared:
        messages = batch.value
        handed = await self._prepared(messages)
        for i, reason in handed.undecodable:
            batch.reject(messages[i], reason)
        self._prepare_next()
        return Prepared(messages, handed)

    async def _prepared(self, messages: Sequence[Message]) -> Handed:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            if ahead.is_for(messages):
                self.used_ahead += 1
                return await ahead.task  # a worker that died fails this batch (redelivered)
            ahead.drop()  # the last batch failed, or the group rebalanced: other messages came
        return await self.offload.prepare([m.value for m in messages])

    def _prepare_next(self) -> None:
        nxt = take_next_batch(self.ahead_min)
        if nxt is None:
            return
        task = asyncio.create_task(self.offload.prepare([m.value for m in nxt]), name="writer-prepare-ahead")
        task.add_done_callback(_reap)
        self._ahead = _Ahead(nxt, task)
        self.started_ahead += 1

    def close(self) -> None:
        """Drop a prepare started ahead (the writer stops)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.drop()


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
