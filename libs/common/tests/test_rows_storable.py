"""The storage contract part of `validate_row`: what every later step can carry exactly."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from loopline.common.rows import (
    ENCODER_MAX_DEPTH,
    MAX_INT,
    MAX_ROW_DEPTH,
    MIN_INT,
    RowValidationError,
    format_path,
    validate_row,
)


def row(**fields: Any) -> dict[str, Any]:
    return {"project_id": "p", "log_id": "g", "id": "r", **fields}


def nested(levels: int, leaf: Any = 1) -> Any:
    v = leaf
    for _ in range(levels):
        v = [v]
    return v


def test_the_depth_limit_is_the_encoders_minus_the_wrapping() -> None:
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(nested(ENCODER_MAX_DEPTH + 1))
    orjson.dumps(nested(ENCODER_MAX_DEPTH))
    validate_row(row(input=nested(MAX_ROW_DEPTH - 1)))  # the row object is level 1
    with pytest.raises(RowValidationError) as e:
        validate_row(row(input={"a": nested(MAX_ROW_DEPTH - 1)}), "rows[2]", index=2)
    assert e.value.index == 2 and e.value.field == "input"
    assert e.value.path.startswith("rows[2].input.a[0][0]") and "...(" in e.value.path
    assert f"limit of {MAX_ROW_DEPTH} levels" in e.value.message
    # control fields too: _audit_metadata is copied two levels deeper into audit_data
    with pytest.raises(RowValidationError, match=r"^row\._audit_metadata"):
        validate_row(row(_audit_metadata={"a": nested(MAX_ROW_DEPTH - 1)}))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (MAX_INT + 1, "integer 18446744073709551616 is out of range"),
        (MIN_INT - 1, "integer -9223372036854775809 is out of range"),
        (2**4000, "is out of range"),
        (float("nan"), "nan is not a JSON number"),
        (float("-inf"), "-inf is not a JSON number"),
        ("ok \ud800", "not valid Unicode"),
        ((1, 2), "got a Python tuple"),
        (b"x", "got a Python bytes"),
    ],
)
def test_values_no_json_codec_carries_exactly_are_refused_with_their_path(value: Any, message: str) -> None:
    with pytest.raises(RowValidationError) as e:
        validate_row(row(metadata={"a.b": [0, {"x": value}]}), "rows[0]", index=0)
    assert e.value.path == 'rows[0].metadata["a.b"][1].x' and message in e.value.message
    assert e.value.field == "metadata"


def test_keys_must_be_valid_text() -> None:
    with pytest.raises(RowValidationError, match=r"object keys must be strings"):
        validate_row(row(input={1: "x"}))
    with pytest.raises(RowValidationError, match=r"this key is not valid Unicode"):
        validate_row(row(input={"\udc00": "x"}))
    with pytest.raises(RowValidationError, match=r"^row\.tags\[1\]"):
        validate_row(row(tags=["a", "\ud800"]))


def test_the_edges_of_the_contract_are_accepted() -> None:
    ok = {
        "ints": [MIN_INT, MAX_INT, 0, -1],
        "floats": [1e308, -1e308, 5e-324, -0.0, 1.8446744073709552e19],
        "keys": {"": 1, ".": 2, "a.b": 3, "a": {"b": 4}, "%2E": 5, "é": "日本", "\x00": "🙂"},
        "long key": {".".join(["s"] * 10_000): 1},
        "unicode": "\U0010ffff",
    }
    v = validate_row(row(metadata=ok, input=ok, metrics={"tokens": MAX_INT, "big": 1e308}))
    assert v.row["metadata"] == ok
    orjson.dumps(v.row)


def test_format_path() -> None:
    assert format_path("row", ["input", "a", 2, "x.y", "", "_k9"]) == 'row.input.a[2]["x.y"][""]._k9'
    long = format_path("row", ["input", *[0] * 30])
    assert long == "row.input[0][0][0][0][0][0][0]...(15 levels)...[0][0][0][0][0][0][0][0]"


def _outcome(raw: Any, **kw: Any) -> Any:
    try:
        v = validate_row(raw, "rows[0]", index=0, **kw)
        return ("ok", v.row)
    except RowValidationError as exc:
        return ("refused", str(exc), exc.path, exc.field, exc.index)


@pytest.mark.parametrize(
    "text",
    [
        orjson.dumps(row(input=nested(MAX_ROW_DEPTH - 1))),  # the deepest accepted
        orjson.dumps(row(input={"a": nested(MAX_ROW_DEPTH - 1)})),  # one too deep
        orjson.dumps(row(metadata={"x": [{"y": nested(MAX_ROW_DEPTH - 3)}]})),
        orjson.dumps(row(metadata={"x": [{"y": nested(MAX_ROW_DEPTH - 2)}]})),
        orjson.dumps(row(_audit_metadata={"a": nested(MAX_ROW_DEPTH - 1)})),
        b'{"project_id":"p","log_id":"g","id":"r","metadata":{"big":18446744073709551615,'
        b'"bigger":18446744073709551616,"neg":-9223372036854775809,"s":"\\ud83d\\ude00 \xc3\xa9"}}',
        orjson.dumps(row(created="2024-01-02 03:04:05Z", input=[{"k": [1.5, None, True, "x"]}])),
    ],
)
def test_rows_from_orjson_only_need_their_depth_walked(text: bytes) -> None:
    """`from_json` (a row `orjson.loads` made) accepts and refuses exactly what the full walk does,
    with the same error: orjson itself refuses the rest of what the contract refuses."""
    assert _outcome(orjson.loads(text), from_json=True) == _outcome(orjson.loads(text))
    for bad in (b'{"a": "\\ud800"}', b'{"\\udc00": 1}', b"[1e400]", b"[NaN]"):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(bad)
