"""Pipelines end to end without a broker: composition, decode, dead letters, failures."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from loopline.common.bus import Message
from loopline.common.messages import rows
from loopline.common.metrics import DEAD_LETTERS
from loopline.common.pipeline import Batch, Collect, Invalid, Pipeline, decode, hand_off, run_task


def _msg(value: bytes, key: bytes = b"k") -> Message:
    return Message("loopline.rows", 0, 0, key, value)


def _row_write(row_id: str) -> bytes:
    return rows.RowWrite("o", "p", "project_logs", "g", 1, {"id": row_id}).encode()


async def test_decode_step_rejects_what_is_not_a_message_of_the_topic() -> None:
    end: Collect[list[rows.RowWrite]] = Collect()
    p: Pipeline[list[Message]] = Pipeline("t-dec", [decode(rows.CONTRACT)])
    invalid = await p.run([_msg(_row_write("a")), _msg(b"garbage", b"bad-key")], end)
    assert [w.row_id for w in end.values[0]] == ["a"]
    assert len(invalid) == 1 and invalid[0].message.key == b"bad-key"
    assert "not a row envelope" in invalid[0].reason


async def test_steps_run_in_order_and_dead_letters_are_sunk_once_at_the_end() -> None:
    seen: list[str] = []
    sunk: list[Sequence[Invalid]] = []

    async def ids(batch: Batch[list[rows.RowWrite]]) -> list[str]:
        seen.append("ids")
        return [w.row_id for w in batch.value]

    async def upper(batch: Batch[list[str]]) -> list[str]:
        seen.append("upper")
        return [i.upper() for i in batch.value]

    async def sink(invalid: Sequence[Invalid]) -> None:
        seen.append("sink")
        sunk.append(invalid)

    before = _dead_letters("t-order")
    p: Pipeline[list[Message]] = Pipeline(
        "t-order", [decode(rows.CONTRACT), run_task("ids", ids), run_task("upper", upper)], dead_letters=sink
    )
    await p([_msg(_row_write("a")), _msg(b"x")])
    assert seen == ["ids", "upper", "sink"]
    assert len(sunk) == 1 and len(sunk[0]) == 1
    assert _dead_letters("t-order") == before + 1


async def test_a_failing_step_fails_the_run_and_sinks_nothing() -> None:
    sunk: list[Sequence[Invalid]] = []

    async def boom(batch: Batch[list[rows.RowWrite]]) -> None:
        raise ConnectionError("store down")

    async def sink(invalid: Sequence[Invalid]) -> None:
        sunk.append(invalid)

    p: Pipeline[list[Message]] = Pipeline(
        "t-fail", [decode(rows.CONTRACT), hand_off(2), run_task("boom", boom)], dead_letters=sink
    )
    with pytest.raises(ConnectionError):
        await p([_msg(b"x"), _msg(_row_write("a"))])
    assert sunk == []  # the bus redelivers the batch; its dead letters are recorded then


async def test_rejects_without_a_sink_fail_loudly() -> None:
    p: Pipeline[list[Message]] = Pipeline("t-nosink", [decode(rows.CONTRACT)])
    with pytest.raises(RuntimeError, match="no dead-letter sink"):
        await p([_msg(b"x")])


def _dead_letters(pipeline: str) -> float:
    for family in DEAD_LETTERS.collect():
        for s in family.samples:
            if s.name == "loopline_dead_letters_total" and s.labels == {"pipeline": pipeline}:
                return float(s.value)
    return 0.0
