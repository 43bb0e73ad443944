from __future__ import annotations

import copy
from typing import Any

import pytest
from loopline.common.rows import (
    DATASET,
    EXPERIMENT,
    NO_CONTROL,
    PROJECT_LOGS,
    PROJECT_PROMPTS,
    PROMPT_SESSION,
    ArrayDelete,
    ObjectRef,
    RowKey,
    RowValidationError,
    normalize_created,
    parse_row,
    validate_row,
    validate_rows,
    waves,
)

# Captured 0.47 rows (protocol spec §5.1), ids completed.
LOG_ROOT = {
    "id": "7dde0001",
    "project_id": "9c2a",
    "log_id": "g",
    "created": "2026-11-22T08:58:41.886073+00:00",
    "span_id": "f7865a6f7f583c8c",
    "root_span_id": "cb59ef3648baa36c4bd6520df58c92c6",
    "span_parents": None,
    "span_attributes": {"exec_counter": 1, "name": "root", "type": "task"},
    "input": {"question": "hi"},
    "output": "hello",
    "expected": "hello",
    "scores": {"exact": 1},
    "metadata": {"user": "u1"},
    "tags": ["t1"],
    "metrics": {"start": 1795337921.8859, "end": 1795337921.8871, "tokens": 5},
    "context": {
        "caller_functionname": "main",
        "caller_filename": "app.py",
        "caller_lineno": 12,
        "span_origin": {
            "name": "braintrust.sdk.python",
            "version": "0.47.0",
            "instrumentation": {"name": "braintrust-python-logger"},
        },
    },
}
LOG_MERGE = {
    "_is_merge": True,
    "id": "3240",
    "project_id": "9c2a",
    "log_id": "g",
    "span_id": "025c88538ef80205",
    "root_span_id": "8ad0",
    "span_parents": None,
    "output": "final",
    "metadata": {"late": True},
    "metrics": {"end": 1795337922.0496},
}
FEEDBACK = {
    "_is_merge": True,
    "id": "7dde0001",
    "project_id": "9c2a",
    "log_id": "g",
    "scores": {"thumbs": 1},
    "_audit_source": "external",
    "_audit_metadata": {"src": "user"},
}
COMMENT = {
    "id": "bf45",
    "project_id": "9c2a",
    "log_id": "g",
    "created": "2026-11-22T08:58:42.000001+00:00",
    "comment": {"text": "nice"},
    "origin": {"id": "7dde0001"},
    "_audit_source": "external",
    "_audit_metadata": {"src": "user"},
}
DS_INSERT = {
    "id": "custom-row-id",
    "dataset_id": "a04e",
    "created": "2026-11-22T08:58:41.886073+00:00",
    "input": {"q": "3+3"},
    "expected": "6",
    "tags": None,
}
DS_UPDATE = {"_is_merge": True, "id": "49f0", "dataset_id": "a04e", "metadata": {"reviewed": True}}
DS_DELETE = {
    "_object_delete": True,
    "id": "6506",
    "dataset_id": "a04e",
    "created": "2026-11-22T08:58:41.886073+00:00",
}
SCORE_SPAN = {
    "id": "e153",
    "experiment_id": "c72e",
    "span_id": "ac77b875ad30a095",
    "root_span_id": "4624",
    "span_parents": ["b600e438cb6a2e2f"],
    "span_attributes": {"exec_counter": 5, "name": "Levenshtein", "purpose": "scorer", "type": "score"},
    "input": {
        "input": {"q": "2+2"},
        "output": "4",
        "expected": "4",
        "metadata": {},
        "tags": ["math"],
        "id": "49f0",
    },
    "output": {"score": 0.0},
    "scores": {"Levenshtein": 0.0},
    "metadata": {},
    "metrics": {"start": 1795337921.1, "end": 1795337921.2},
}


@pytest.mark.parametrize(
    ("raw", "ref", "id_field"),
    [
        (LOG_ROOT, ObjectRef(PROJECT_LOGS, "9c2a", "9c2a"), "project_id"),
        (LOG_MERGE, ObjectRef(PROJECT_LOGS, "9c2a", "9c2a"), "project_id"),
        (FEEDBACK, ObjectRef(PROJECT_LOGS, "9c2a", "9c2a"), "project_id"),
        (COMMENT, ObjectRef(PROJECT_LOGS, "9c2a", "9c2a"), "project_id"),
        (DS_INSERT, ObjectRef(DATASET, "a04e", None), "dataset_id"),
        (DS_UPDATE, ObjectRef(DATASET, "a04e", None), "dataset_id"),
        (DS_DELETE, ObjectRef(DATASET, "a04e", None), "dataset_id"),
        (SCORE_SPAN, ObjectRef(EXPERIMENT, "c72e", None), "experiment_id"),
        ({"id": "x", "project_id": "p", "log_id": "p"}, ObjectRef(PROJECT_PROMPTS, "p", "p"), "project_id"),
        ({"id": "x", "prompt_session_id": "ps"}, ObjectRef(PROMPT_SESSION, "ps", None), "prompt_session_id"),
        (
            {"id": "x", "experiment_id": "e", "project_id": "p"},
            ObjectRef(EXPERIMENT, "e", "p"),
            "experiment_id",
        ),
        ({"id": "x", "project_id": "p"}, ObjectRef(PROJECT_LOGS, "p", "p"), "project_id"),
    ],
)
def test_captured_rows_validate_and_target(raw: dict[str, Any], ref: ObjectRef, id_field: str) -> None:
    before = copy.deepcopy(raw)
    v = validate_row(raw, "rows[0]", index=0)
    assert raw == before  # input untouched
    assert v.ref == ref
    assert v.id == raw["id"]
    assert v.id_field == id_field
    assert v.key == RowKey(ref.object_type, ref.object_id, raw["id"])


def test_parts_are_separated() -> None:
    v = validate_row(FEEDBACK)
    assert v.data == {"scores": {"thumbs": 1}}
    assert v.extra == {}
    assert v.control.is_merge is True
    assert v.control.audit_source == "external"
    assert v.control.audit_metadata == {"src": "user"}
    assert v.control.object_delete is False
    assert v.row == FEEDBACK


def test_data_fields_of_a_root_span() -> None:
    v = validate_row(LOG_ROOT)
    assert v.control is NO_CONTROL
    assert v.extra == {}
    assert set(v.data) == set(LOG_ROOT) - {"id", "project_id", "log_id"}
    assert v.fields() == v.data


def test_org_id_from_the_body_is_never_trusted() -> None:
    v = validate_row({**LOG_ROOT, "org_id": "someone-elses-org"})
    assert "org_id" not in v.row
    assert "org_id" not in v.data and "org_id" not in v.extra


def test_unknown_fields_kept_in_extra_read_only_fields_dropped() -> None:
    raw = {
        "id": "r",
        "dataset_id": "d",
        "facets": {"f": "x"},
        "classifications": {"intent": [{"label": "billing"}]},
        "_something_new": 1,
        "_xact_id": "1000192656880881099",
        "is_root": True,
        "audit_data": [{"x": 1}],
        "comments": [],
        "_pagination_key": "p",
    }
    v = validate_row(raw)
    assert v.extra == {
        "facets": {"f": "x"},
        "classifications": {"intent": [{"label": "billing"}]},
        "_something_new": 1,
    }
    assert v.row == {
        "id": "r",
        "dataset_id": "d",
        "facets": {"f": "x"},
        "classifications": {"intent": [{"label": "billing"}]},
        "_something_new": 1,
    }
    assert v.fields() == v.extra


def test_control_fields() -> None:
    v = validate_row(
        {
            "id": "r",
            "dataset_id": "d",
            "_is_merge": True,
            "_merge_paths": [["input", "a"], ["output"]],
            "_array_delete": [{"path": ["tags"], "delete": ["old", 1]}],
            "_skip_async_scoring": True,
        }
    )
    c = v.control
    assert c.merge_paths == (("input", "a"), ("output",))
    assert c.array_delete == (ArrayDelete(("tags",), ("old", 1)),)
    assert c.other == {"_skip_async_scoring": True}
    assert v.data == {} and v.extra == {}
    d = validate_row({"id": "r", "dataset_id": "d", "_parent_id": "p0"})
    assert d.control.parent_id == "p0" and d.control.is_merge is False


def test_missing_id_is_generated() -> None:
    v = validate_row({"dataset_id": "d", "input": 1}, new_id=lambda: "gen-1")
    assert v.id == "gen-1" and v.row["id"] == "gen-1"
    w = validate_row({"dataset_id": "d"})
    assert len(w.id) == 36


def test_created_is_normalised_to_utc_microseconds() -> None:
    assert normalize_created("2026-11-22T08:58:41.886073+00:00") == "2026-11-22T08:58:41.886073+00:00"
    assert normalize_created("2026-11-22T08:58:41Z") == "2026-11-22T08:58:41.000000+00:00"
    assert normalize_created("2026-11-22T10:58:41.5+02:00") == "2026-11-22T08:58:41.500000+00:00"
    assert normalize_created("2026-11-22 08:58:41") == "2026-11-22T08:58:41.000000+00:00"
    assert normalize_created("2026-11-22T08:58:41.123456789Z") == "2026-11-22T08:58:41.123456+00:00"
    v = validate_row({"id": "x", "dataset_id": "d", "created": "2026-11-22T08:58:41Z"})
    assert v.data["created"] == v.row["created"] == "2026-11-22T08:58:41.000000+00:00"


ERRORS: list[tuple[dict[str, Any], str]] = [
    (
        {"id": "a", "project_id": "p", "log_id": "g", "scores": {"accuracy": 1.5}},
        "rows[3].scores.accuracy: expected a number between 0 and 1 or null",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "scores": {"accuracy": -0.1}},
        "rows[3].scores.accuracy: expected a number between 0 and 1 or null",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "scores": {"accuracy": True}},
        "rows[3].scores.accuracy: expected a number between 0 and 1 or null",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "scores": {"accuracy": "0.5"}},
        "rows[3].scores.accuracy: expected a number between 0 and 1 or null",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "scores": [1]},
        "rows[3].scores: expected an object or null, got an array",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "metrics": {"start": "now"}},
        "rows[3].metrics.start: expected a number or null, got a string",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "tags": ["ok", 3]},
        "rows[3].tags[1]: expected a string, got a number",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "tags": "t"},
        "rows[3].tags: expected an array of strings or null, got a string",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "span_parents": ["x", None]},
        "rows[3].span_parents[1]: expected a string, got null",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "span_id": 5},
        "rows[3].span_id: expected a string or null, got a number",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "metadata": "m"},
        "rows[3].metadata: expected an object or null, got a string",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "span_attributes": {"type": 3}},
        "rows[3].span_attributes.type: expected a string or null, got a number",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "created": "yesterday"},
        "rows[3].created: expected an ISO-8601 timestamp, got 'yesterday'",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "g", "created": 12},
        "rows[3].created: expected an ISO-8601 timestamp string or null, got a number",
    ),
    ({"id": 7, "dataset_id": "d"}, "rows[3].id: expected a non-empty string, got a number"),
    ({"id": "", "dataset_id": "d"}, "rows[3].id: expected a non-empty string, got a string"),
    (
        {"id": "a"},
        "rows[3]: missing target object: set one of experiment_id, dataset_id, project_id+log_id, prompt_session_id",
    ),
    (
        {"id": "a", "experiment_id": "e", "dataset_id": "d"},
        "rows[3]: a row must target exactly one object, found experiment_id and dataset_id",
    ),
    (
        {"id": "a", "experiment_id": "e", "project_id": "p", "log_id": "g"},
        "rows[3]: a row must target exactly one object, found experiment_id and project_id+log_id",
    ),
    (
        {"id": "a", "project_id": "p", "log_id": "x"},
        'rows[3].log_id: expected "g" (project logs) or "p" (prompts), got \'x\'',
    ),
    ({"id": "a", "log_id": "g"}, "rows[3].project_id: a row with log_id needs a project_id"),
    ({"id": "a", "experiment_id": 3}, "rows[3].experiment_id: expected a non-empty string, got a number"),
    (
        {"id": "a", "dataset_id": "d", "_is_merge": "yes"},
        "rows[3]._is_merge: expected a boolean or null, got a string",
    ),
    (
        {"id": "a", "dataset_id": "d", "_merge_paths": [["input"], []]},
        "rows[3]._merge_paths[1]: expected a non-empty array of field names (strings)",
    ),
    (
        {"id": "a", "dataset_id": "d", "_merge_paths": "input"},
        "rows[3]._merge_paths: expected an array of paths, got a string",
    ),
    (
        {"id": "a", "dataset_id": "d", "_array_delete": [{"path": ["tags"], "delete": "x"}]},
        "rows[3]._array_delete[0].delete: expected an array of values, got a string",
    ),
    (
        {"id": "a", "dataset_id": "d", "_array_delete": [{"path": "tags", "delete": []}]},
        "rows[3]._array_delete[0].path: expected a non-empty array of field names (strings)",
    ),
    (
        {"id": "a", "dataset_id": "d", "_parent_id": 1},
        "rows[3]._parent_id: expected a non-empty string or null, got a number",
    ),
    (
        {"id": "a", "dataset_id": "d", "_audit_metadata": []},
        "rows[3]._audit_metadata: expected an object or null, got an array",
    ),
    (
        {"id": "a", "dataset_id": "d", "_object_delete": True, "_is_merge": True},
        "rows[3]: _object_delete cannot be combined with _is_merge",
    ),
]


@pytest.mark.parametrize(("raw", "message"), ERRORS)
def test_errors_name_the_field_path(raw: dict[str, Any], message: str) -> None:
    rows: list[Any] = [LOG_ROOT, DS_INSERT, SCORE_SPAN, raw]
    with pytest.raises(RowValidationError) as ei:
        validate_rows(rows)
    assert str(ei.value) == message
    assert ei.value.index == 3


def test_non_object_row() -> None:
    with pytest.raises(RowValidationError, match=r"^rows\[0\]: expected an object, got an array$"):
        validate_rows([[1]])


def test_nulls_are_accepted_everywhere() -> None:
    raw = {
        "id": "a",
        "experiment_id": "e",
        **{
            k: None
            for k in (
                "created",
                "span_id",
                "root_span_id",
                "span_parents",
                "span_attributes",
                "input",
                "output",
            )
        },
        **{
            k: None
            for k in ("expected", "error", "scores", "metadata", "metrics", "tags", "context", "origin")
        },
        "scores_x": None,
        "_is_merge": None,
        "_merge_paths": None,
        "_array_delete": None,
        "_object_delete": None,
        "_parent_id": None,
    }
    v = validate_row(raw)
    assert v.control.is_merge is False and v.control.merge_paths == ()
    assert v.data["input"] is None and v.extra == {"scores_x": None}


def test_scores_boundaries_and_nulls() -> None:
    v = validate_row({"id": "a", "experiment_id": "e", "scores": {"a": 0, "b": 1, "c": 0.5, "d": None}})
    assert v.data["scores"] == {"a": 0, "b": 1, "c": 0.5, "d": None}


def test_bus_key() -> None:
    v = validate_row(DS_INSERT)
    assert v.key.bus_key("org1") == b"org1/dataset/a04e/custom-row-id"


def test_parse_row_rebuilds_the_validated_row() -> None:
    for raw in (LOG_ROOT, LOG_MERGE, FEEDBACK, COMMENT, DS_INSERT, DS_UPDATE, DS_DELETE, SCORE_SPAN):
        v = validate_row({**raw, "unknown": [1, {"a": None}]})
        p = parse_row(v.row)
        assert (p.ref, p.id, p.data, p.extra, p.control, p.id_field) == (
            v.ref,
            v.id,
            v.data,
            v.extra,
            v.control,
            v.id_field,
        )


def test_parse_row_without_target_fields() -> None:
    p = parse_row({"id": "r", "_is_merge": True, "metadata": {"intent": "billing"}})
    assert p.ref == ObjectRef("", "") and p.control.is_merge and p.data == {"metadata": {"intent": "billing"}}
    q = parse_row({"id": "r"}, ObjectRef(DATASET, "d"))
    assert q.ref == ObjectRef(DATASET, "d")


def test_waves_number_repeated_keys() -> None:
    rows = validate_rows(
        [
            {"id": "a", "dataset_id": "d"},
            {"id": "b", "dataset_id": "d"},
            {"id": "a", "dataset_id": "d", "_is_merge": True},
            {"id": "a", "experiment_id": "d"},
            {"id": "a", "dataset_id": "d", "_is_merge": True},
        ]
    )
    assert waves(rows) == [0, 0, 1, 0, 2]
