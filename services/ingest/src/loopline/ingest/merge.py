"""Merge semantics of row writes (protocol spec §6): pure functions, no I/O.

A logical row's state is folded from its writes in `_xact_id` order:

- `_is_merge: true` deep-merges the write into the row: objects recurse, scalars and arrays
  replace, except top-level `tags`, which is a set union (dedup by JSON value) unless `["tags"]`
  is in `_merge_paths`. `_merge_paths` stops descent (the value there replaces wholesale).
  `_array_delete` then removes the listed values from the arrays at its paths. Identity fields
  (`created`, `span_id`, `root_span_id`, `span_parents`) keep the base row's values.
  A merge with no live base row is an insert (a merge into an empty row).
- `_is_merge` absent/false replaces the row; `created` stays sticky when a base exists (it
  leads the spans table's sort key), and span ids absent from the write are kept from the base.
- `_object_delete: true` turns the row into a tombstone (identity fields kept).
- `_parent_id` (deprecated, ignored on merges) derives `root_span_id`/`span_parents` from the
  parent row when the write does not set them.
- Server defaults fill what is still missing: `created` ← ingest time (the time in the write's
  transaction id unless given), `span_id` ← the row id, `root_span_id` ← itself for roots.

Idempotency under redelivery: a write whose `_xact_id` is *below* the state's is stale and skipped
(`apply_write` returns None). A write with an *equal* `_xact_id` is applied again: that is what
makes it safe when one transaction carries several writes for one key that a consumer sees across
two batches (or two producers' ids collide). Re-applying is harmless because every write is
idempotent (f(f(s)) = f(s)) and so is any re-applied suffix of one key's write sequence: merges
set paths, unions/deletes settle per element on the last write touching it, replaces and deletes
overwrite. `tests/test_merge.py` checks this property on random write sequences. (Tags are a
set: a replay that deletes and re-adds one tag may leave it at the end of the array.)

Two deliberate differences from the SDK's client-side `merge_row_batch`: a sticky field the base
row lacks is taken from the write (the SDK drops it), and merged `tags` are always de-duplicated
(the SDK keeps duplicates when the base had no tags) — both needed for idempotent re-application.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from loopline.common.rows import STICKY_FIELDS, ArrayDelete, ValidatedRow, format_created, parse_row
from loopline.common.stored_row import RowState
from loopline.common.xact import xact_time

_IDENTITY_FIELDS = ("span_id", "root_span_id", "span_parents")
MAX_AUDIT_ENTRIES = 200


class MergeError(ValueError):
    """A write that cannot be applied to its row."""


# -- building blocks ------------------------------------------------------------------------


def _json_key(v: Any) -> bytes:
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS)


def union(a: Sequence[Any], b: Sequence[Any]) -> list[Any]:
    """Set union preserving first-seen order, dedup by JSON value (`1` and `"1"` differ)."""
    seen: set[bytes] = set()
    out: list[Any] = []
    for item in (*a, *b):
        k = _json_key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def deep_merge(
    into: Mapping[str, Any],
    merge_from: Mapping[str, Any],
    merge_paths: frozenset[tuple[str, ...]] = frozenset(),
    _path: tuple[str, ...] = (),
) -> dict[str, Any]:
    """`merge_from` deep-merged into a copy of `into` (neither input is modified).

    Same rules as the SDK's `merge_dicts_with_paths`: dicts recurse unless the path is in
    `merge_paths`; anything else (scalars, arrays, null) replaces; top-level `tags` arrays union.
    """
    out = dict(into)
    for k, v in merge_from.items():
        cur = out.get(k)
        if merge_paths:
            fp = (*_path, k)
            stop = fp in merge_paths
        else:
            fp = ()
            stop = False
        if not _path and k == "tags" and not stop and type(v) is list:
            out[k] = union(cur if type(cur) is list else (), v)
        elif type(cur) is dict and type(v) is dict and not stop:
            out[k] = deep_merge(cur, v, merge_paths, fp if merge_paths else (*_path, k))
        else:
            out[k] = v
    return out


def array_delete(row: dict[str, Any], deletes: Iterable[ArrayDelete]) -> dict[str, Any]:
    """Remove values (compared as JSON) from the arrays at the given paths; missing paths and
    non-array values are left alone. Copies the containers it changes."""
    for d in deletes:
        drop = {_json_key(x) for x in d.delete}
        if not drop:
            continue
        row = _delete_at(row, d.path, drop)
    return row


def _delete_at(obj: dict[str, Any], path: tuple[str, ...], drop: set[bytes]) -> dict[str, Any]:
    head, rest = path[0], path[1:]
    if head not in obj:
        return obj
    cur = obj[head]
    new: Any
    if rest:
        if type(cur) is not dict:
            return obj
        new = _delete_at(cur, rest, drop)
    else:
        if type(cur) is not list:
            return obj
        new = [x for x in cur if _json_key(x) not in drop]
    if new is cur:
        return obj
    out = dict(obj)
    out[head] = new
    return out


def derive_from_parent(parent_id: str, parent: Mapping[str, Any] | None) -> dict[str, Any]:
    """`root_span_id`/`span_parents` of a child of row `parent_id` (the deprecated `_parent_id`).

    With the parent row known: its root and its span id. Unknown: the parent row id stands for
    both (legacy rows have span_id = row id, and legacy trees are mostly root + children)."""
    if parent is None:
        return {"root_span_id": parent_id, "span_parents": [parent_id]}
    pspan = parent.get("span_id") or parent.get("id") or parent_id
    root = parent.get("root_span_id") or pspan
    return {"root_span_id": root, "span_parents": [pspan]}


def parent_to_resolve(write: ValidatedRow) -> str | None:
    """The `_parent_id` whose row the writer should load before applying `write`, if any."""
    c = write.control
    if c.parent_id is None or c.is_merge or c.object_delete:
        return None
    d = write.data
    if d.get("root_span_id") is not None and d.get("span_parents") is not None:
        return None
    return c.parent_id


def apply_defaults(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Fill server defaults in place: `created`, `span_id`, `root_span_id`."""
    if row.get("created") is None:
        row["created"] = format_created(now)
    if row.get("span_id") is None:
        row["span_id"] = row["id"]
    if row.get("root_span_id") is None:
        parents = row.get("span_parents")
        row["root_span_id"] = parents[0] if parents else row["span_id"]
    return row


def _audit(prior: Mapping[str, Any] | None, write: ValidatedRow, xact_id: int) -> list[Any]:
    """The row's audit trail with this write's entry (Braintrust's shape): which transaction, what
    it did (`upsert`, `merge`, `delete`), its source (`_audit_source`, else `api`) and metadata."""
    old = prior.get("audit_data") if prior is not None else None
    entries: list[Any] = list(old) if isinstance(old, list) else []
    c = write.control
    action = "delete" if c.object_delete else "merge" if c.is_merge else "upsert"
    entry: dict[str, Any] = {
        "_xact_id": str(xact_id),
        "audit_data": {"action": action},
        "metadata": c.audit_metadata if c.audit_metadata is not None else {},
        "source": c.audit_source if c.audit_source is not None else "api",
    }
    if entry not in entries:  # idempotent under re-application
        entries.append(entry)
        del entries[:-MAX_AUDIT_ENTRIES]
    return entries


# -- applying writes ------------------------------------------------------------------------


def apply_write(
    state: RowState | None,
    write: ValidatedRow | Mapping[str, Any],
    xact_id: int,
    *,
    parent: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> RowState | None:
    """The row state after `write` (transaction `xact_id`), or None if the write is stale
    (`xact_id` below the state's). `state` is the current state (None: no row yet; may be a
    tombstone). `parent` is the logical row named by the write's `_parent_id`, if known.
    `now` is the ingest time for a missing `created` (default: the time in `xact_id`)."""
    if state is not None and xact_id < state.xact_id:
        return None
    w = write if isinstance(write, ValidatedRow) else parse_row(write)
    c = w.control
    prior = state.row if state is not None else None
    base = prior if state is not None and not state.deleted else None
    fields = w.fields()

    if c.object_delete:
        new: dict[str, Any] = {"id": w.id}
        src = prior if prior is not None else fields
        for f in STICKY_FIELDS:
            v = src.get(f)
            if v is None and prior is not None:
                v = fields.get(f)
            if v is not None:
                new[f] = v
        deleted = True
    elif c.is_merge and base is not None:
        new = deep_merge(base, fields, frozenset(c.merge_paths) if c.merge_paths else frozenset())
        for f in STICKY_FIELDS:
            if base.get(f) is not None:
                new[f] = base[f]
        if c.array_delete:
            new = array_delete(new, c.array_delete)
        new["id"] = w.id
        deleted = False
    else:  # replace; or a merge without a live base row = insert (merge into an empty row)
        new = dict(fields)
        if c.is_merge:  # a merge into an empty row: tags still come out as a set
            tags = new.get("tags")
            if type(tags) is list and ("tags",) not in c.merge_paths:
                new["tags"] = union((), tags)
            if c.array_delete:
                new = array_delete(new, c.array_delete)
        new["id"] = w.id
        if not c.is_merge and c.parent_id is not None:
            derived = derive_from_parent(c.parent_id, parent)
            for f, v in derived.items():
                if new.get(f) is None:
                    new[f] = v
        if prior is not None:
            if prior.get("created") is not None:
                new["created"] = prior["created"]
            for f in _IDENTITY_FIELDS:
                if c.is_merge:  # merging into a tombstone: its identity stays, as on a live row
                    if prior.get(f) is not None:
                        new[f] = prior[f]
                elif f not in new and f in prior:  # replace: the write's ids, else the old ones
                    new[f] = prior[f]
        deleted = False

    new["audit_data"] = _audit(prior, w, xact_id)
    apply_defaults(new, now if now is not None else datetime.fromtimestamp(xact_time(xact_id), UTC))
    return RowState(new, xact_id, deleted)


def apply_insert(fields: dict[str, Any], row_id: str, xact_id: int) -> RowState:
    """`apply_write(None, row, xact_id)` for a row without control fields, from its
    `rows.plain_fields` (which it takes over): the state of a row written for the first time."""
    fields["id"] = row_id
    fields["audit_data"] = [
        {"_xact_id": str(xact_id), "audit_data": {"action": "upsert"}, "metadata": {}, "source": "api"}
    ]
    if fields.get("created") is None:
        apply_defaults(fields, datetime.fromtimestamp(xact_time(xact_id), UTC))
    else:
        apply_defaults(fields, _NO_TIME)  # `created` is there: the time is not read
    return RowState(fields, xact_id, False)


_NO_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)


def apply_writes(
    state: RowState | None,
    writes: Iterable[tuple[int, ValidatedRow | Mapping[str, Any]]],
    *,
    parents: Mapping[str, Mapping[str, Any]] | None = None,
    now: datetime | None = None,
) -> list[RowState]:
    """Fold `(xact_id, write)` pairs for ONE row key onto `state`, in `_xact_id` order (stable:
    input order among equal ids). Returns one state per transaction that changed the row (the
    state after that transaction's last write): the dataset version history; the last element is
    the final state. Empty if every write was stale."""
    out: list[RowState] = []
    ordered = sorted(writes, key=lambda p: p[0])
    for xact_id, write in ordered:
        w = write if isinstance(write, ValidatedRow) else parse_row(write)
        parent = None
        if parents is not None and w.control.parent_id is not None:
            parent = parents.get(w.control.parent_id)
        new = apply_write(state, w, xact_id, parent=parent, now=now)
        if new is None:
            continue
        if out and out[-1].xact_id == new.xact_id:
            out[-1] = new
        else:
            out.append(new)
        state = new
    return out
