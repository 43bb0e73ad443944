"""Restoring a dataset to an earlier version: the records as they were at that version are written
back, and the records added since are deleted, in one new transaction (one new version), so the
dataset's history keeps every version and the restore itself is one more of them.

The dataset is read through the query service's fetch (as the caller, `ServiceCalls`), as it is
now and as of the version; only records that differ are written: a record whose current write is
the one it had at that version is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from loopline.common.auth import Principal
from loopline.common.errors import Forbidden, Invalid, NotFound, TooLarge, Unavailable
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


async def read_records(
    calls: ServiceCalls, principal: Principal, dataset_id: str, version: str | None
) -> dict[str, dict[str, Any]]:
    """The dataset's records by id, now or as of `version` (every page)."""
    out: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    path = f"/v1/dataset/{quote(dataset_id, safe='')}/fetch"
    while True:
        body: dict[str, Any] = {"limit": PAGE}
        if version is not None:
            body["version"] = version
        if cursor:
            body["cursor"] = cursor
        answer = await calls.call(principal, "POST", path, body)
        if not answer.ok:
            message = f"reading dataset {dataset_id!r}: {answer.error_message()}"
            if answer.status == 404:
                raise NotFound(message)
            if answer.status == 403:
                raise Forbidden(message)
            if 400 <= answer.status < 500:
                raise Invalid(message, field="version")
            raise Unavailable(message, retry_after=1)
        events = answer.body.get("events") if isinstance(answer.body, dict) else None
        if not isinstance(events, list):
            raise Unavailable(f"reading dataset {dataset_id!r}: the fetch answered no events", retry_after=1)
        for e in events:
            if isinstance(e, dict) and isinstance(e.get("id"), str):
                out[e["id"]] = e
        if len(out) > MAX_RECORDS:
            raise TooLarge(
                f"dataset {dataset_id!r} has more than {MAX_RECORDS} records; restore it in parts",
                limit=MAX_RECORDS,
            )
        cursor = answer.body.get("cursor")
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
    calls: ServiceCalls | None, write_api: WriteAPI, principal: Principal, dataset_id: str, version: Any
) -> Restored:
    if not isinstance(version, str) or not version.strip():
        raise Invalid(
            "'version' must be a version id of the dataset (from its versions list)", field="version"
        )
    if calls is None:
        raise Unavailable("this process cannot read datasets to restore them", retry_after=1)
    then = await read_records(calls, principal, dataset_id, version)
    now = await read_records(calls, principal, dataset_id, None)
    rows, written, deleted = restore_rows(dataset_id, then, now)
    if not rows:
        return Restored(version, None, 0, 0)
    size = len(orjson.dumps(rows))
    result = await write_api.write_rows(principal, rows, body_size=size, path="restore")
    return Restored(version, result.xact_id, written, deleted)
