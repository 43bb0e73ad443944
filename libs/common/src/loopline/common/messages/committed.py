"""`loopline.rows.committed`: a trace changed — which rows of one root span the writer stored.

One message per (object, root span) per writer batch: the rows of that trace the batch wrote (not
deleted ones), and the highest transaction id among them. Downstream consumers (the classifier,
online scoring) read the trace back through the store; the message carries ids, not row data.

Value (schema 1): orjson of `{"org_id", "project_id", "object_type", "object_id", "root_span_id",
"ids": [row id, ...], "xact_id": int}`. Key: `org/object_type/object_id/root_span_id`, so every
announcement of a trace lands in one partition, in order. At-least-once: a redelivered writer
batch announces again; consumers must be idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from loopline.common.messages.contract import (
    CLASSIFIER,
    EVALUATOR,
    WRITER,
    MessageDecodeError,
    TopicContract,
)

TOPIC = "loopline.rows.committed"
SCHEMA_VERSION = 1
PRODUCERS = (WRITER,)
CONSUMERS = (CLASSIFIER, EVALUATOR)  # the evaluator's online scoring


@dataclass(frozen=True, slots=True)
class RowsCommitted:
    org_id: str
    project_id: str
    object_type: str
    object_id: str
    root_span_id: str
    xact_id: int
    ids: list[str] = field(default_factory=list)


def key(m: RowsCommitted) -> bytes:
    return f"{m.org_id}/{m.object_type}/{m.object_id}/{m.root_span_id}".encode()


def encode(m: RowsCommitted) -> bytes:
    return orjson.dumps(
        {
            "org_id": m.org_id,
            "project_id": m.project_id,
            "object_type": m.object_type,
            "object_id": m.object_id,
            "root_span_id": m.root_span_id,
            "ids": m.ids,
            "xact_id": m.xact_id,
        }
    )


def decode(value: bytes) -> RowsCommitted:
    try:
        d = orjson.loads(value)
        ids = d["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise TypeError("ids must be a list of strings")
        return RowsCommitted(
            org_id=str(d["org_id"]),
            project_id=str(d["project_id"]),
            object_type=str(d["object_type"]),
            object_id=str(d["object_id"]),
            root_span_id=str(d["root_span_id"]),
            xact_id=int(d["xact_id"]),
            ids=ids,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MessageDecodeError(f"not a rows-committed message: {exc}") from exc


def from_written(rows: Iterable[Mapping[str, Any]]) -> list[RowsCommitted]:
    """One message per trace among stored rows (the writer's column dicts); deletes are skipped.

    `xact_id` is that of the trace's first row in `rows` (in the writer: the first written row
    of the trace in batch order)."""
    by_root: dict[tuple[str, str, str, str], RowsCommitted] = {}
    for r in rows:
        if r.get("_is_deleted"):
            continue
        root = r.get("root_span_id") or r["id"]
        k = (r["org_id"], r["object_type"], r["object_id"], root)
        m = by_root.get(k)
        if m is None:
            m = by_root[k] = RowsCommitted(
                org_id=r["org_id"],
                project_id=r["project_id"],
                object_type=r["object_type"],
                object_id=r["object_id"],
                root_span_id=root,
                xact_id=int(r["_xact_id"]),
            )
        m.ids.append(r["id"])
    return list(by_root.values())


CONTRACT: TopicContract[RowsCommitted] = TopicContract(
    name=TOPIC,
    schema_version=SCHEMA_VERSION,
    producers=PRODUCERS,
    consumers=CONSUMERS,
    key=key,
    encode=encode,
    decode=decode,
)
