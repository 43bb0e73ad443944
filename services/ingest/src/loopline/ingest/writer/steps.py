"""The writer's pure steps: group row writes by object, merge them onto their bases, announce.

Each step function takes a `Batch` and returns the value handed to the next step; rejects go
through `batch.reject` (never raised). `group_writes` and `merge_group` are the plain functions
under the steps (the bench times them alone).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopline.common import stored_row
from loopline.common.bus import Bus, OutMessage
from loopline.common.logging import get_logger
from loopline.common.messages import committed
from loopline.common.messages.rows import RowWrite
from loopline.common.pipeline import Batch
from loopline.common.rows import RowValidationError, parse_row, plain_fields
from loopline.common.stored_row import RowState
from loopline.ingest import merge

log = get_logger(__name__)

GroupKey = tuple[str, str, str, str, str]  # table, org, project, object_type, object_id
Groups = dict[GroupKey, dict[str, list[RowWrite]]]


@dataclass(slots=True)
class GroupWithBases:
    """One object's writes by row id, with the stored states they apply to (and parents')."""

    key: GroupKey
    by_id: dict[str, list[RowWrite]]
    bases: dict[str, RowState]


@dataclass(frozen=True, slots=True)
class EncodedRow:
    """A row to insert that is already encoded (by the worker process, see offload.py): its
    JSONEachRow `line`, the fields the announcement reads, and its last write's message value
    (what a dead letter of it carries)."""

    line: bytes
    announced: dict[str, Any]
    last_write: bytes


@dataclass(frozen=True, slots=True)
class EncodedBody:
    """Every row of one table of a batch, encoded by the worker process (steady ingest: every
    row new): the JSONEachRow `body`, its row `count` and the `announcements` those rows make;
    `rows()` gives the same rows one by one (for the insert's bisection, if the store rejects
    the body)."""

    body: bytes | memoryview
    count: int
    announcements: list[OutMessage]
    rows: Callable[[], list[EncodedRow]]


@dataclass(slots=True)
class Merged:
    """Rows to insert (column dicts, rows already encoded, or one table's whole body), by table;
    and the last write of each row key merged here (for dead letters)."""

    by_table: dict[str, list[dict[str, Any] | EncodedRow | EncodedBody]] = field(default_factory=dict)
    originals: dict[str, RowWrite] = field(default_factory=dict)


@dataclass(slots=True)
class Written:
    """What the insert wrote: the written rows' column dicts (or announced fields), when they
    were inserted one by one, and the announcements of rows inserted as a worker's body; `count`
    rows in all."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    announcements: list[OutMessage] = field(default_factory=list)
    count: int = 0


def group_writes(writes: Sequence[RowWrite]) -> Groups:
    """Group by target object, then by row id, keeping bus order within a row."""
    groups: dict[GroupKey, dict[str, list[RowWrite]]] = defaultdict(lambda: defaultdict(list))
    for w in writes:
        groups[(w.table, w.org_id, w.project_id, w.object_type, w.object_id)][w.row_id].append(w)
    return groups


async def group(batch: Batch[list[RowWrite]]) -> Groups:
    return group_writes(batch.value)


def _columns(state: RowState, w: RowWrite) -> dict[str, Any]:
    return stored_row.state_to_columns(
        state,
        org_id=w.org_id,
        project_id=w.project_id,
        object_type=w.object_type,
        object_id=w.object_id,
        for_insert=True,
    )


def merge_group(
    group: GroupKey, by_id: dict[str, list[RowWrite]], bases: dict[str, RowState]
) -> list[dict[str, Any]]:
    """Fold each row's writes onto its base; returns column dicts to insert (the writer's insert
    form, `stored_row.to_columns(..., for_insert=True)`; `stored_row.insert_line` encodes them).

    Spans keep only the final state (ReplacingMergeTree); datasets keep one version per write.
    A row's first write without control fields (a plain insert: what steady ingest sends) is
    applied without parsing it into a `ValidatedRow` (`merge.apply_insert`, the same state).
    """
    table = group[0]
    out: list[dict[str, Any]] = []
    latest: dict[str, RowState] = dict(bases)  # parents may be written earlier in this batch
    for row_id, ws in by_id.items():
        state = bases.get(row_id)
        for w in sorted(ws, key=lambda w: w.xact_id) if len(ws) > 1 else ws:  # stable: bus order
            if state is None:
                fields = plain_fields(w.row)
                if fields is not None:
                    state = latest[row_id] = merge.apply_insert(fields, w.row_id, w.xact_id)
                    if table == "dataset_rows":
                        out.append(_columns(state, w))
                    continue
            parsed = parse_row(w.row)
            parent_id = merge.parent_to_resolve(parsed)
            parent = latest.get(parent_id) if parent_id else None
            new_state = merge.apply_write(
                state, parsed, w.xact_id, parent=parent.row if parent is not None else None
            )
            if new_state is None:
                continue  # stale (redelivery of an older write): already applied
            state = new_state
            latest[row_id] = state
            if table == "dataset_rows":
                out.append(_columns(state, w))
        if table == "spans" and state is not None and state is not bases.get(row_id):
            out.append(_columns(state, ws[-1]))
    return out


async def merge_groups(batch: Batch[list[GroupWithBases]]) -> Merged:
    """Merge every group; a group whose merge fails is retried row by row, and the rows that
    still fail are Invalid (each of their writes, with the reason)."""
    merged = Merged()
    for g in batch.value:
        for ws in g.by_id.values():
            merged.originals[ws[-1].key] = ws[-1]
        rows: list[dict[str, Any] | EncodedRow | EncodedBody] = merged.by_table.setdefault(g.key[0], [])
        try:
            rows.extend(merge_group(g.key, g.by_id, g.bases))
        except (merge.MergeError, RowValidationError) as exc:
            for ws in g.by_id.values():  # a row whose writes cannot be merged: isolate per row
                try:
                    rows.extend(merge_group(g.key, {ws[0].row_id: ws}, g.bases))
                except (merge.MergeError, RowValidationError) as row_exc:
                    for w in ws:
                        batch.reject(OutMessage(w.key.encode(), w.encode()), f"merge failed: {row_exc}")
            log.warning("merge failed for some rows", error=str(exc))
    return merged


class Announce:
    """Tell downstream consumers (classifier, online scoring) which traces changed:
    one `RowsCommitted` per trace on `loopline.rows.committed` (a table's rows never share a
    trace with another table's, so the worker's announcements of its bodies and those of the
    rows written one by one are the same as `from_written` over all of them). Hands `Written` on."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def __call__(self, batch: Batch[Written]) -> Written:
        written = batch.value
        messages = [committed.CONTRACT.out(m) for m in committed.from_written(written.rows)]
        messages += written.announcements
        if messages:
            await self.bus.publish(committed.TOPIC, messages)
        return written
