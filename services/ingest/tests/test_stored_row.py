from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from loopline.common import stored_row
from loopline.common.rows import validate_row
from loopline.common.stored_row import (
    READ_COLUMNS,
    STATE_COLUMNS,
    WRITE_COLUMNS,
    RowState,
    dumps,
    loads,
    row_from_columns,
    state_from_columns,
    state_to_columns,
    to_columns,
    to_read_row,
)
from loopline.common.xact import xact_for_time
from loopline.ingest.merge import apply_write

X = xact_for_time(1795337921, 5)
CREATED = "2026-11-22T08:58:41.886073+00:00"
CREATED_DT = datetime(2026, 11, 22, 8, 58, 41, 886073, tzinfo=UTC)

ROOT = {
    "id": "7dde",
    "created": CREATED,
    "span_id": "f7865a6f7f583c8c",
    "root_span_id": "cb59ef3648baa36c4bd6520df58c92c6",
    "span_parents": None,
    "span_attributes": {"exec_counter": 1, "name": "root", "type": "task"},
    "input": {"question": "hi"},
    "output": "hello",
    "expected": "hello",
    "scores": {"exact": 1, "none": None},
    "metadata": {"user": "u1"},
    "tags": ["t1"],
    "metrics": {"start": 1795337921.8859, "end": 1795337921.8871, "tokens": 5},
    "facets": {"topic": "greeting"},
}
TARGET: dict[str, Any] = {
    "org_id": "o1",
    "project_id": "p1",
    "object_type": "project_logs",
    "object_id": "p1",
}


def test_columns_of_a_root_span() -> None:
    c = to_columns(ROOT, xact_id=X, **TARGET)
    assert set(c) == set(WRITE_COLUMNS)
    assert c["org_id"] == "o1" and c["object_type"] == "project_logs" and c["object_id"] == "p1"
    assert c["id"] == "7dde" and c["_xact_id"] == X and c["_is_deleted"] == 0
    assert c["created"] == CREATED_DT
    assert c["span_id"] == "f7865a6f7f583c8c"
    assert c["root_span_id"] == "cb59ef3648baa36c4bd6520df58c92c6"
    assert c["span_parents"] == [] and c["is_root"] is True
    assert c["span_name"] == "root" and c["span_type"] == "task"
    assert c["span_attributes"] == '{"exec_counter":1,"name":"root","type":"task"}'
    assert c["input"] == '{"question":"hi"}'
    assert c["output"] == '"hello"'
    assert c["error"] == ""  # absent
    assert c["scores"] == '{"exact":1,"none":null}'
    assert c["scores_map"] == {"exact": 1.0}
    assert c["metrics_map"] == {"start": 1795337921.8859, "end": 1795337921.8871, "tokens": 5.0}
    assert c["start_time"] == datetime.fromtimestamp(1795337921.8859, UTC)
    assert c["end_time"] == datetime.fromtimestamp(1795337921.8871, UTC)
    assert c["duration"] == pytest.approx(0.0012, abs=1e-6)
    assert c["tags"] == ["t1"]
    assert c["extra"] == '{"facets":{"topic":"greeting"}}'
    assert c["context"] == c["origin"] == c["comment"] == c["audit_data"] == ""
    assert c["intent"] == "" and c["intent_confidence"] == 0.0


def test_companions_edge_cases() -> None:
    row = {
        "id": "c",
        "created": CREATED,
        "span_parents": ["p1"],
        "span_attributes": {"name": 3, "type": None},
        "scores": {"a": True, "b": 0.5, "c": "x"},
        "metrics": {"start": 1.7e12, "end": None, "n": 2**70, "b": False, "nested": {"x": 1}},
        "error": None,
        "intent": "billing",
        "intent_confidence": 0.75,
    }
    c = to_columns(row, xact_id=X, deleted=True, **TARGET)
    assert c["_is_deleted"] == 1
    assert c["is_root"] is False and c["span_parents"] == ["p1"]
    assert c["span_name"] == "" and c["span_type"] == ""
    assert c["scores_map"] == {"b": 0.5}
    assert c["metrics_map"] == {"start": 1.7e12, "n": float(2**70)}
    assert c["start_time"] == CREATED_DT  # 1.7e12 is not unix seconds: fall back to created
    assert c["end_time"] is None and c["duration"] is None
    assert c["error"] == "null"
    assert c["intent"] == "billing" and c["intent_confidence"] == 0.75


TRICKY: list[Any] = [
    "héllo ✓ 😀 \u0000 \u2028",
    18446744073709551615,
    -9223372036854775808,
    2**64,
    -(2**70),
    12345678901234567890123,
    0.1,
    1e300,
    -0.0,
    5e-324,
    1.0,
    {"a": None, "b": {"c": None, "d": {}}, "e": [], "f": [None, {}, []]},
    {},
    [],
    None,
    True,
    "1000192656880881099",
    {"origin": {"_xact_id": "1000192656880881099", "n": 1000192656880881099}},
]


@pytest.mark.parametrize("value", TRICKY)
def test_json_text_round_trip_is_exact(value: Any) -> None:
    back = loads(dumps(value))
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, float):
        assert repr(back) == repr(value)


#: Numbers around where orjson stops reading integers exactly (-2**63 .. 2**64-1; beyond that it
#: makes floats) and floats of many digits: `loads` must read each exactly as `json.loads` does.
WIDE_NUMBERS: list[str] = [
    str(2**63 - 1),
    str(2**63),
    str(2**64 - 1),
    str(2**64),
    str(2**64 + 1),
    str(10**19 - 1),
    str(10**19),
    str(10**20),
    str(-(2**63)),
    str(-(2**63) - 1),
    str(-(10**19 - 1)),
    str(-(10**18)),
    "1733312000123456789",
    "0.1234567890123456789",
    "0.12345678901234567890123",
    "1234567890123456789.5",
    "-1234567890123456789.25",
    "1234567890123456789e2",
    "1.2345678901234567890e5",
    "1e1234567890123456789",
    "1E-1234567890123456789",
    "12345678901234567890123456789",
    "0.000000000000000000001",
    "1e400",
    "-1e400",
    "1e300",
    "-1e300",
    "1.8446744073709552e19",
    "-9.223372036854775808e18",
    "9.2233720368547758e18",
]


@pytest.mark.parametrize("number", WIDE_NUMBERS)
@pytest.mark.parametrize("shape", ["{}", '{{"n": {}}}', "[1, {}, 2]", '{{"a": [{{"b": {}}}], "s": "x"}}'])
def test_loads_reads_wide_numbers_as_json_does(number: str, shape: str) -> None:
    text = shape.format(number)
    want = json.loads(text)
    got = loads(text)
    assert got == want
    assert repr(got) == repr(want)  # same types: an int stays an int, a float keeps its digits


@pytest.mark.parametrize(
    "text",
    [
        # OTLP nanosecond times and `_xact_id`s: 19-digit integers that fit 64 bits, and digits in strings
        '{"start": 1733312000123456789, "end": 9999999999999999999}',
        '{"origin": {"_xact_id": "1000192656880881099"}, "n": 1000192656880881099}',
        '["x1234567890123456789y", 1733312000123456789, 0.5, -922337203685477580]',
    ],
)
def test_loads_of_64_bit_numbers_does_not_need_the_stdlib(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    want = json.loads(text)

    def refuse(_: str) -> Any:
        raise AssertionError("parsed with json.loads")

    monkeypatch.setattr(stored_row.json, "loads", refuse)
    assert loads(text) == want


def test_state_round_trip_is_exact() -> None:
    row = {
        **ROOT,
        "span_parents": ["a", "b"],
        "input": TRICKY,
        "output": {"deep": TRICKY[11]},
        "expected": None,
        "error": "Traceback ...",
        "metadata": {"big": 2**64, "u": "ü", "empty": {}},
        "context": {"caller_lineno": 3},
        "origin": {"object_type": "dataset", "object_id": "d", "id": "r", "_xact_id": "1000192656880881099"},
        "comment": {"text": "nice"},
        "audit_data": [{"_xact_id": str(X), "audit_source": "external"}],
        "classifications": {"intent": [{"label": "x"}]},
    }
    state = RowState(row, X, False)
    back = state_from_columns(state_to_columns(state, **TARGET))
    assert back.xact_id == X and back.deleted is False
    assert back.row == row


def test_read_row_shapes() -> None:
    s = apply_write(
        None, validate_row({"dataset_id": "d1", "id": "r1", "created": CREATED, "input": {"q": 1}}), X
    )
    assert s is not None
    cols = state_to_columns(s, org_id="o1", project_id="p1", object_type="dataset", object_id="d1")
    read = to_read_row(cols)
    assert read == {
        "id": "r1",
        "_xact_id": str(X),
        "project_id": "p1",
        "dataset_id": "d1",
        "created": CREATED,
        "span_id": "r1",
        "root_span_id": "r1",
        "span_parents": None,
        "is_root": True,
        "input": {"q": 1},
        "output": None,
        "expected": None,
        "error": None,
        "scores": None,
        "metadata": None,
        "metrics": None,
        "tags": None,
        "context": None,
        "origin": None,
        "span_attributes": None,
    }
    assert len(read["_xact_id"]) == 19
    logs = to_read_row(to_columns(ROOT, xact_id=X, **TARGET))
    assert (logs["org_id"], logs["project_id"], logs["log_id"]) == ("o1", "p1", "g")
    assert "experiment_id" not in logs and logs["facets"] == {"topic": "greeting"}
    exp = to_read_row(
        to_columns(ROOT, xact_id=X, org_id="o1", project_id="p1", object_type="experiment", object_id="e1")
    )
    assert exp["experiment_id"] == "e1" and "log_id" not in exp and "org_id" not in exp
    assert not any(k.startswith("_") and k != "_xact_id" for k in exp)


def test_control_fields_never_stored() -> None:
    w = validate_row(
        {
            "project_id": "p1",
            "log_id": "g",
            "id": "x",
            "_is_merge": True,
            "_merge_paths": [["input"]],
            "_audit_source": "app",
            "_parent_id": "y",
            "input": 1,
        }
    )
    s = apply_write(None, w, X)
    assert s is not None
    c = state_to_columns(s, **TARGET)
    assert c["extra"] == ""
    read = to_read_row(c)
    assert set(read) - {"audit_data"} == {
        "id", "_xact_id", "project_id", "org_id", "log_id", "created", "span_id", "root_span_id", "span_parents",
        "is_root", "input", "output", "expected", "error", "scores", "metadata", "metrics", "tags", "context",
        "origin", "span_attributes",
    }  # fmt: skip


def test_columns_from_clickhouse_types() -> None:
    # clickhouse-connect returns naive UTC datetimes and tuples/lists for arrays
    cols = {
        "id": "r",
        "_xact_id": X,
        "_is_deleted": 1,
        "created": datetime(2026, 11, 22, 8, 58, 41, 886073),
        "span_id": "s",
        "root_span_id": "t",
        "span_parents": ("p",),
        "tags": [],
        **{k: "" for k in ("span_attributes", "input", "output", "expected", "error", "scores", "metadata")},
        **{k: "" for k in ("metrics", "context", "origin", "comment", "audit_data", "extra")},
    }
    assert set(cols) == set(STATE_COLUMNS)
    s = state_from_columns(cols)
    assert s.deleted is True and s.xact_id == X
    assert s.row == {
        "id": "r",
        "created": CREATED,
        "span_id": "s",
        "root_span_id": "t",
        "span_parents": ["p"],
    }
    assert (
        row_from_columns({**cols, "extra": '{"input": "shadow", "k": 1}', "input": '"real"'})["input"]
        == "real"
    )


@pytest.fixture
def chdb_client(chdb_dsn: str) -> Any:
    # the run's one embedded ClickHouse directory (chdb allows one per process)
    import clickhouse_connect
    from loopline.common.schema import ROW_TABLES

    Path(chdb_dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
    client = clickhouse_connect.get_client(dsn=chdb_dsn)
    client.command("DROP DATABASE IF EXISTS t_stored_row")
    client.command("CREATE DATABASE t_stored_row")
    for m in ROW_TABLES:
        for stmt in m.statements:
            client.command(stmt.replace("{db}", "t_stored_row"))
    yield client


def test_round_trip_through_the_embedded_store(chdb_client: Any) -> None:
    row = {
        **ROOT,
        "input": TRICKY,
        "metadata": {"big": 18446744073709551615, "u": "héllo ✓ 😀", "n": {"z": None}, "e": {}},
        "span_parents": ["7a4f2ffcb07f4643"],
    }
    cols = to_columns(row, xact_id=X, **TARGET)
    chdb_client.insert(
        "t_stored_row.spans", [[cols[k] for k in WRITE_COLUMNS]], column_names=list(WRITE_COLUMNS)
    )
    res = chdb_client.query(
        f"SELECT {', '.join(READ_COLUMNS)}, start_time, end_time, duration, scores_map, span_type, is_root "
        "FROM t_stored_row.spans FINAL WHERE id = '7dde'"
    )
    got = dict(zip(res.column_names, res.result_rows[0], strict=True))
    assert state_from_columns(got).row == row
    read = to_read_row(got)
    assert read["input"] == TRICKY and read["metadata"] == row["metadata"]
    assert read["_xact_id"] == str(X) and read["is_root"] is False and read["created"] == CREATED
    assert got["span_type"] == "task" and got["scores_map"] == {"exact": 1.0} and got["is_root"] is False
    assert got["duration"] == pytest.approx(0.0012, abs=1e-6)
    # a tombstone with a higher xact replaces the row under FINAL
    tomb = to_columns(
        {"id": "7dde", "created": CREATED, "span_id": ROOT["span_id"]}, xact_id=X + 1, deleted=True, **TARGET
    )
    chdb_client.insert(
        "t_stored_row.spans", [[tomb[k] for k in WRITE_COLUMNS]], column_names=list(WRITE_COLUMNS)
    )
    assert (
        chdb_client.query("SELECT count() FROM t_stored_row.spans FINAL WHERE id = '7dde'").result_rows[0][0]
        == 0
    )
