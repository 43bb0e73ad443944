"""The framed orjson protocol of the sandbox pipes and the scorer-result normalisation (pure)."""

from __future__ import annotations

import os

import pytest
from loopline.evaluator.sandbox.framing import (
    HEADER,
    FrameBuffer,
    FrameError,
    encode_frame,
    read_frame_fd,
    write_frame_fd,
)
from loopline.evaluator.sandbox.results import InvalidScore, Score, normalize_scores


def test_frames_round_trip_through_a_pipe() -> None:
    r, w = os.pipe()
    try:
        write_frame_fd(w, {"id": 1, "value": ["é", 2.5, None]})
        write_frame_fd(w, "second")
        os.close(w)
        assert read_frame_fd(r, 1024) == {"id": 1, "value": ["é", 2.5, None]}
        assert read_frame_fd(r, 1024) == "second"
        with pytest.raises(EOFError):
            read_frame_fd(r, 1024)
    finally:
        os.close(r)


def test_a_frame_over_the_limit_is_refused_from_its_header() -> None:
    r, w = os.pipe()
    try:
        os.write(w, HEADER.pack(10_000_000))
        with pytest.raises(FrameError, match="exceeds the limit of 100 bytes"):
            read_frame_fd(r, 100)
    finally:
        os.close(r)
        os.close(w)


def test_a_truncated_frame_is_an_eof_error() -> None:
    r, w = os.pipe()
    os.write(w, encode_frame({"a": 1})[:-2])
    os.close(w)
    try:
        with pytest.raises(EOFError, match="middle of a frame"):
            read_frame_fd(r, 100)
    finally:
        os.close(r)


def test_frame_buffer_takes_whole_frames_fed_in_pieces() -> None:
    data = encode_frame({"n": 1}) + encode_frame({"n": 2}) + encode_frame({"n": 3})
    buffer = FrameBuffer(100)
    got = []
    for i in range(0, len(data), 3):
        buffer.feed(data[i : i + 3])
        got += buffer.take()
    assert got == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert buffer.pending == 0


def test_frame_buffer_refuses_oversized_and_invalid_frames() -> None:
    with pytest.raises(FrameError, match="exceeds"):
        FrameBuffer(10).feed(encode_frame("x" * 20))
    buffer = FrameBuffer(10)
    buffer.feed(HEADER.pack(3) + b"{{{")
    with pytest.raises(FrameError, match="not valid JSON"):
        buffer.take()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.25, (Score("acc", 0.25),)),
        (1, (Score("acc", 1.0),)),
        (True, (Score("acc", 1.0),)),
        (False, (Score("acc", 0.0),)),
        (None, ()),
        ({"score": None}, (Score("acc", None),)),
        ({"name": "Exact", "score": 0, "metadata": {"why": "x"}}, (Score("Exact", 0.0, {"why": "x"}),)),
        ({"score": 0.5, "metadata": None}, (Score("acc", 0.5),)),
        ([{"name": "a", "score": 1}, {"name": "b", "score": 0.5}], (Score("a", 1.0), Score("b", 0.5))),
        ([], ()),
    ],
)
def test_scorer_return_values_become_scores(value: object, expected: tuple[Score, ...]) -> None:
    assert normalize_scores(value, "acc") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "between 0 and 1, got 1.5"),
        (-0.1, "between 0 and 1"),
        (float("nan"), "between 0 and 1"),
        ("high", "got str"),
        ({"name": "x"}, "without a 'score' field"),
        ({"name": "", "score": 1}, "name must be a non-empty string"),
        ({"score": 1, "metadata": [1]}, "metadata must be an object"),
        ([{"name": "a", "score": 1}, {"name": "a", "score": 0}], "duplicate score names"),
        ([0.5, 2], r"result\[1\] must be between 0 and 1"),
    ],
)
def test_invalid_scorer_return_values_are_explained(value: object, message: str) -> None:
    with pytest.raises(InvalidScore, match=message):
        normalize_scores(value, "acc")
