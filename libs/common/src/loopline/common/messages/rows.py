"""`loopline.rows`: one row write — who wrote it, to which object, at which transaction.

Value (schema 1): orjson of `{"o": org_id, "p": project_id, "t": object_type, "i": object_id,
"x": xact_id, "r": row}` where `row` is the validated write as received (data and control
fields). Key: the row key `org/object_type/object_id/id` (`row_key`, the only definition of it),
so every write of a row goes to one partition, in order. Producers: ingest (the write API and the
dead-letter replay), later the evaluator and classifier (scores and labels as merge rows).
Consumer: the writer. Encode and decode are on the ingest and writer hot paths: keep them plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from loopline.common.messages.contract import (
    CLASSIFIER,
    EVALUATOR,
    INGEST,
    WRITER,
    MessageDecodeError,
    TopicContract,
)
from loopline.common.object_types import DATASET, ON_THE_BUS

TOPIC = "loopline.rows"
SCHEMA_VERSION = 1
PRODUCERS = (INGEST, EVALUATOR, CLASSIFIER)
CONSUMERS = (WRITER,)


class RowWriteError(MessageDecodeError):
    """A message on `loopline.rows` that is not a row write."""


def row_key(org_id: str, object_type: str, object_id: str, row_id: str) -> str:
    """The row key: one logical row → one key → one partition → per-key order."""
    return f"{org_id}/{object_type}/{object_id}/{row_id}"


@dataclass(frozen=True, slots=True)
class RowWrite:
    org_id: str
    project_id: str
    object_type: str
    object_id: str
    xact_id: int
    row: dict[str, Any]

    @property
    def row_id(self) -> str:
        return str(self.row["id"])

    @property
    def key(self) -> str:
        return row_key(self.org_id, self.object_type, self.object_id, self.row_id)

    @property
    def table(self) -> str:
        return "dataset_rows" if self.object_type == DATASET else "spans"

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "o": self.org_id,
                "p": self.project_id,
                "t": self.object_type,
                "i": self.object_id,
                "x": self.xact_id,
                "r": self.row,
            }
        )


def key(w: RowWrite) -> bytes:
    return w.key.encode()


def encode(w: RowWrite) -> bytes:
    return w.encode()


def encode_encoded(w: RowWrite, row_json: bytes) -> bytes:
    """`encode(w)` for a write whose row is already encoded (`row_json` = `orjson.dumps(w.row)`):
    the same bytes, without encoding the row a second time."""
    return orjson.dumps(
        {
            "o": w.org_id,
            "p": w.project_id,
            "t": w.object_type,
            "i": w.object_id,
            "x": w.xact_id,
            "r": orjson.Fragment(row_json),
        }
    )


def decode(value: bytes) -> RowWrite:
    try:
        d = orjson.loads(value)
        w = RowWrite(
            org_id=str(d["o"]),
            project_id=str(d["p"]),
            object_type=str(d["t"]),
            object_id=str(d["i"]),
            xact_id=int(d["x"]),
            row=d["r"],
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RowWriteError(f"not a row envelope: {exc}") from exc
    if not isinstance(w.row, dict) or not isinstance(w.row.get("id"), str):
        raise RowWriteError("row envelope without a row id")
    if w.object_type not in ON_THE_BUS:
        raise RowWriteError(f"unknown object type {w.object_type!r}")
    return w


CONTRACT: TopicContract[RowWrite] = TopicContract(
    name=TOPIC,
    schema_version=SCHEMA_VERSION,
    producers=PRODUCERS,
    consumers=CONSUMERS,
    key=key,
    encode=encode,
    decode=decode,
)
