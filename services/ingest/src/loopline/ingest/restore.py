"""Restoring a dataset to an earlier version: the records as they were at that version are written
back, and the records added since are deleted, in one new transaction (one new version), so the
dataset's history keeps every version and the restore itself is one more of them.

The dataset is read through the query service's fetch (as the caller, `ServiceCalls`), as it is
now and as of the version; only records that differ are written: a record whose current write is
the one it had at that version is left alone.

Writes that land while a restore runs: the caller sends `head`, the dataset's latest version it
saw when it chose to restore; if the dataset's head is another version by then, the restore is a
409 and nothing is written (the caller looks again and restores again). The server reads the head
itself (read-your-writes) before reading the records and again after, just before writing: a head
that moved in between is a 409 too, nothing written, so a write acknowledged while the restore read
is never overwritten or left half-undone by it. What remains is the instant between that last
check and the restore's own transaction (no read, only computing and encoding the rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from loopline.common.auth import Principal
from loopline.common.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge, Unavailable
from loopline.common.rows import DATA_FIELDS
from loopline.common.service_calls import ServiceCalls
from loopline.ingest.write_api import WriteAPI

#: the most records a restore reads (each of the two reads); more is a 413
MAX_RECORDS = 100_000
PAGE = 5_000

#: the record's fields written back (its data; ids of the object and server-set fields are not)
_KEPT = DATA_FIELDS - {"id"}


@dataclass(frozen=True)
class Restored:
    version: str  # the version read
    xact_id: str | None  # the new version (None when the dataset already was as of `version`)
    written: int  # records written back as they were
    deleted: int  # records deleted (added after `version`)


def _refused(answer: Any, dataset_id: str) -> Exception:
    message = f"reading dataset {dataset_id!r}: {answer.error_message()}"
    if answer.status == 404:
        return NotFound(message)
    if answer.status == 403:
        return Forbidden(message)
    if 400 <= answer.status < 500:
        return Invalid(message, field="version")
    return Unavailable(message, retry_after=1)


async def _read_list(
    calls: ServiceCalls, principal: Principal, dataset_id: str, method: str, path: str, body: Any, key: str
) -> tuple[list[Any], dict[str, Any]]:
    """The list `key` of the query service's answer to a read of the dataset, and the answer."""
    answer = await calls.call(principal, method, f"/v1/dataset/{quote(dataset_id, safe='')}/{path}", body)
    if not answer.ok:
        raise _refused(answer, dataset_id)
    found = answer.body.get(key) if isinstance(answer.body, dict) else None
    if not isinstance(found, list):
        raise Unavailable(f"reading dataset {dataset_id!r}: the answer has no {key}", retry_after=1)
    return found, answer.body


async def read_head(calls: ServiceCalls, principal: Principal, dataset_id: str) -> str | None:
    """The dataset's latest version (None: never written)."""
    found, _ = await _read_list(calls, principal, dataset_id, "GET", "versions?limit=1", None, "versions")
    return str(found[0]["version"]) if found else None


def _moved(dataset_id: str, expected: str | None, head: str | None, when: str) -> Conflict:
    return Conflict(
        f"dataset {dataset_id!r} changed {when}: its latest version is {head}, not {expected}; "
        "nothing was restored. Look at the dataset again and restore again",
        field="head",
        head=head,
    )


async def read_records(
    calls: ServiceCalls, principal: Principal, dataset_id: str, version: str | None
) -> dict[str, dict[str, Any]]:
    """The dataset's records by id, now or as of `version` (every page)."""
    out: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        body: dict[str, Any] = {"limit": PAGE}
        if version is not None:
            body["version"] = version
        if cursor:
            body["cursor"] = cursor
        events, answer = await _read_list(calls, principal, dataset_id, "POST", "fetch", body, "events")
        for e in events:
            if isinstance(e, dict) and isinstance(e.get("id"), str):
                out[e["id"]] = e
        if len(out) > MAX_RECORDS:
            raise TooLarge(
                f"dataset {dataset_id!r} has more than {MAX_RECORDS} records; restore it in parts",
                limit=MAX_RECORDS,
            )
        cursor = answer.get("cursor")
        if not cursor or len(events) < PAGE:
            return out


def restore_rows(
    dataset_id: str, then: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], int, int]:
    """The rows that make the dataset as it was `then`: each record of then whose current write
    differs, written back whole; each record added since, deleted. With the counts of both."""
    rows: list[dict[str, Any]] = []
    written = deleted = 0
    for rid, old in sorted(then.items()):
        cur = now.get(rid)
        if cur is not None and cur.get("_xact_id") == old.get("_xact_id"):
            continue  # unchanged since
        rows.append({"id": rid, "dataset_id": dataset_id, **{k: v for k, v in old.items() if k in _KEPT}})
        written += 1
    for rid in sorted(now.keys() - then.keys()):
        rows.append({"id": rid, "dataset_id": dataset_id, "_object_delete": True})
        deleted += 1
    return rows, written, deleted


async def restore_dataset(
    calls: ServiceCalls | None,
    write_api: WriteAPI,
    principal: Principal,
    dataset_id: str,
    version: Any,
    head: Any = None,
) -> Restored:
    """`head`: the dataset's latest version as the caller saw it (None: not checked against the
    caller's view, only against writes during the restore)."""
    if not isinstance(version, str) or not version.strip():
        raise Invalid(
            "'version' must be a version id of the dataset (from its versions list)", field="version"
        )
    if head is not None and (not isinstance(head, str) or not head.strip()):
        raise Invalid("'head' must be the dataset's latest version id as you saw it", field="head")
    if calls is None:
        raise Unavailable("this process cannot read datasets to restore them", retry_after=1)
    before = await read_head(calls, principal, dataset_id)
    if head is not None and before != head:
        raise _moved(dataset_id, head, before, "since you looked at it")
    then = await read_records(calls, principal, dataset_id, version)
    now = await read_records(calls, principal, dataset_id, None)
    rows, written, deleted = restore_rows(dataset_id, then, now)
    after = await read_head(calls, principal, dataset_id)
    if after != before:
        raise _moved(dataset_id, before, after, "while it was being restored")
    if not rows:
        return Restored(version, None, 0, 0)
    size = len(orjson.dumps(rows))
    result = await write_api.write_rows(principal, rows, body_size=size, path="restore")
    return Restored(version, result.xact_id, written, deleted)
