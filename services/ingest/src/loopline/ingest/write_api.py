"""The write API's logic: validate a `/logs3` batch, check ownership, publish, and only then ack.

Nothing of a request is published unless every row in it is valid and targets an object of the
caller's org. The request is acknowledged only after the bus acknowledged every row; if the bus
cannot, the caller gets 503 with Retry-After and must retry (a retry is idempotent).

Refusals are domain errors (`RowValidationError`, and `Invalid`, `NotFound`, `TooLarge`,
`Unavailable` of `loopline.common.errors`); the HTTP edge's error table gives them their status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from loopline.common.auth import Principal
from loopline.common.bus import Bus, BusUnavailable, OutMessage
from loopline.common.control_plane import ControlPlane
from loopline.common.errors import Invalid, NotFound, TooLarge, Unavailable
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.rows import RowWrite
from loopline.common.object_types import stored_object_id
from loopline.common.rows import ValidatedRow, validate_rows, waves
from loopline.common.store import StoreError
from loopline.common.xact import XactIdGenerator, format_xact
from loopline.ingest.body import THREAD_BODY_BYTES


def _encode(
    writes: Sequence[RowWrite], path: str, encoded: Sequence[bytes | None] | None = None
) -> list[OutMessage]:
    """`rows_topic.CONTRACT.out` of each write (the topic has no headers), inlined: it is per row.
    `encoded[i]`, when given, is write i's row already encoded (the envelope carries it)."""
    messages = []
    key, encode, encode_encoded = rows_topic.key, rows_topic.encode, rows_topic.encode_encoded
    for i, w in enumerate(writes):
        row_json = encoded[i] if encoded is not None else None
        try:
            messages.append(
                OutMessage(key(w), encode(w) if row_json is None else encode_encoded(w, row_json))
            )
        except TypeError as exc:  # validate_row's contract guarantees this cannot happen
            raise Invalid(
                f"{path}[{i}] cannot be encoded as JSON: {exc}", row_index=i, field=f"{path}[{i}]"
            ) from exc
    return messages


@dataclass(frozen=True)
class WriteResult:
    xact_id: str
    row_ids: list[str]


class WriteAPI:
    def __init__(
        self,
        bus: Bus,
        objects: ControlPlane,
        xact: XactIdGenerator,
        *,
        max_row_bytes: int,
        publish_timeout_s: float,
    ) -> None:
        self.bus = bus
        self.objects = objects
        self.xact = xact
        self.max_row_bytes = max_row_bytes
        self.publish_timeout_s = publish_timeout_s

    def check_row_sizes(self, rows: Sequence[Any], body_size: int) -> None:
        if body_size <= self.max_row_bytes:
            return  # no row can be larger than the whole body
        for i, row in enumerate(rows):
            size = len(orjson.dumps(row))
            if size > self.max_row_bytes:
                raise TooLarge(
                    f"rows[{i}] is {size} bytes, over the row limit of {self.max_row_bytes} bytes",
                    row_index=i,
                    limit=self.max_row_bytes,
                )

    async def write_rows(
        self, principal: Principal, rows: Any, *, body_size: int, path: str = "rows", from_json: bool = False
    ) -> WriteResult:
        """Validate, check ownership, publish. `from_json`: the rows are what `orjson.loads` made of
        the request (`rows.validate_row`)."""
        if not isinstance(rows, list):
            raise Invalid(f"'{path}' must be an array of rows", field=path)
        if not rows:
            return WriteResult(self.xact.next_str(), [])
        big = body_size > THREAD_BODY_BYTES
        validated = (
            await asyncio.to_thread(self.validate, rows, body_size, path, from_json)
            if big
            else self.validate(rows, body_size, path, from_json)
        )
        return await self.write_validated(principal, validated, path=path, off_loop=big)

    def validate(
        self, rows: list[Any], body_size: int, path: str, from_json: bool = False
    ) -> list[ValidatedRow]:
        """The rows, validated (`RowValidationError` names the first refused one)."""
        self.check_row_sizes(rows, body_size)
        return validate_rows(rows, path=path, from_json=from_json)

    async def write_validated(
        self,
        principal: Principal,
        validated: Sequence[ValidatedRow],
        *,
        path: str = "rows",
        off_loop: bool = False,
    ) -> WriteResult:
        """Check ownership of already validated rows, publish them, and only then acknowledge."""
        if not validated:
            return WriteResult(self.xact.next_str(), [])
        # ownership: every target object must exist in the caller's org
        projects: dict[tuple[str, str], str] = {}
        for i, v in enumerate(validated):
            key = (v.ref.object_type, v.ref.object_id)
            if key in projects:
                continue
            try:
                project_id = await self.objects.project_of(principal.org_id, v.object_type, v.object_id)
            except StoreError as exc:
                raise Unavailable(
                    f"cannot check {path}[{i}]'s target object now: {exc}", retry_after=1
                ) from exc
            if project_id is None or (v.project_id and v.project_id != project_id):
                raise NotFound(
                    f"{path}[{i}]: {v.object_type} {v.object_id!r} does not exist in this organization",
                    row_index=i,
                    field=v.id_field,
                )
            projects[key] = project_id
        # one transaction id per request; a request writing a row key twice gets one per "wave"
        # (first occurrences, second occurrences, ...) so no two writes of a key share an id
        wave_of = waves(validated)
        xacts = [self.xact.next() for _ in range(max(wave_of) + 1)]
        org = principal.org_id
        stored_ids = {key: stored_object_id(*key) for key in projects}
        writes = [
            RowWrite(org, projects[key], key[0], stored_ids[key], xacts[w], v.row)
            for v, w in zip(validated, wave_of, strict=True)
            for key in ((v.ref.object_type, v.ref.object_id),)
        ]
        encoded = [v.encoded for v in validated] if any(v.encoded is not None for v in validated) else None
        messages = (
            await asyncio.to_thread(_encode, writes, path, encoded)
            if off_loop
            else _encode(writes, path, encoded)
        )
        try:
            await self.bus.publish(rows_topic.TOPIC, messages, timeout_s=self.publish_timeout_s)
        except BusUnavailable as exc:
            raise Unavailable(
                f"the event bus is unavailable, nothing was written: {exc}", retry_after=1
            ) from exc
        return WriteResult(format_xact(xacts[-1]), [v.id for v in validated])  # (= `w.row_id`)
