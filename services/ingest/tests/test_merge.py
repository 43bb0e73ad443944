from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loopline.common.rows import RowValidationError, parse_row, plain_fields, validate_row
from loopline.common.xact import xact_for_time
from loopline.ingest.merge import (
    RowState,
    apply_defaults,
    apply_insert,
    apply_write,
    apply_writes,
    deep_merge,
    derive_from_parent,
    parent_to_resolve,
    union,
)

T0 = 1795337921
X1 = xact_for_time(T0, 1)
X2 = xact_for_time(T0, 2)
X3 = xact_for_time(T0, 3)
X4 = xact_for_time(T0, 4)
CREATED = "2026-11-22T08:58:41.886073+00:00"


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row without its audit trail (checked on its own in the audit tests)."""
    return {k: v for k, v in row.items() if k != "audit_data"}


def ds(**fields: Any) -> dict[str, Any]:
    return {"dataset_id": "d1", **fields}


def log(**fields: Any) -> dict[str, Any]:
    return {"project_id": "p1", "log_id": "g", **fields}


def state(row: dict[str, Any], xact: int = X1, deleted: bool = False) -> RowState:
    return RowState(row, xact, deleted)


def apply(st_: RowState | None, raw: dict[str, Any], xact: int) -> RowState:
    out = apply_write(st_, validate_row(raw), xact)
    assert out is not None
    return out


# -- the REST docs' examples ------------------------------------------------------------------


def test_docs_merge_and_replace_examples() -> None:
    base = state(
        {"id": "foo", "created": CREATED, "span_id": "foo", "root_span_id": "foo", "input": {"a": 5, "b": 10}}
    )
    merged = apply(base, ds(_is_merge=True, id="foo", input={"b": 11, "c": 20}), X2)
    assert plain(merged.row) == {
        "id": "foo",
        "created": CREATED,
        "span_id": "foo",
        "root_span_id": "foo",
        "input": {"a": 5, "b": 11, "c": 20},
    }
    replaced = apply(base, ds(id="foo", input={"b": 11, "c": 20}), X2)
    assert plain(replaced.row) == {
        "id": "foo",
        "created": CREATED,
        "span_id": "foo",
        "root_span_id": "foo",
        "input": {"b": 11, "c": 20},
    }
    assert replaced.xact_id == X2 and not replaced.deleted


def test_docs_merge_paths_example() -> None:
    base = state(
        {"id": "foo", "created": CREATED, "input": {"a": {"b": 10}, "c": {"d": 20}}, "output": {"a": 20}}
    )
    w = ds(
        _is_merge=True,
        _merge_paths=[["input", "a"], ["output"]],
        id="foo",
        input={"a": {"q": 30}, "c": {"e": 30}, "bar": "baz"},
        output={"d": 40},
    )
    out = apply(base, w, X2)
    assert out.row["input"] == {"a": {"q": 30}, "c": {"d": 20, "e": 30}, "bar": "baz"}
    assert out.row["output"] == {"d": 40}


def test_sdk_rest_example_merge_paths_and_array_delete() -> None:
    # braintrust/api/test_datasets.py: insert then merge with _merge_paths + _array_delete
    s = apply(
        None,
        ds(
            id="row",
            input={
                "question": "What is the answer?",
                "context": {"preserved": True},
                "replace_me": {"old": True},
            },
            expected="42",
            tags=["keep", "remove"],
        ),
        X1,
    )
    s = apply(
        s,
        ds(
            id="row",
            _is_merge=True,
            _merge_paths=[["input", "replace_me"]],
            _array_delete=[{"path": ["tags"], "delete": ["remove"]}],
            input={"question": "What is the updated answer?", "replace_me": {"new": True}},
        ),
        X2,
    )
    assert s.row["input"] == {
        "question": "What is the updated answer?",
        "context": {"preserved": True},
        "replace_me": {"new": True},
    }
    assert s.row["tags"] == ["keep"]
    assert s.row["expected"] == "42"


# -- deep merge rules -------------------------------------------------------------------------


def test_deep_merge_scalars_arrays_nulls_replace() -> None:
    into = {"input": {"list": [1, 2], "x": {"y": 1}, "n": 1}, "output": "a", "metadata": {"k": {"z": 1}}}
    frm = {
        "input": {"list": [3], "x": None, "n": {"now": "object"}},
        "output": {"o": 1},
        "metadata": {"k": {}},
    }
    assert deep_merge(into, frm) == {
        "input": {"list": [3], "x": None, "n": {"now": "object"}},
        "output": {"o": 1},
        "metadata": {"k": {"z": 1}},  # merging an empty object changes nothing
    }
    assert into == {
        "input": {"list": [1, 2], "x": {"y": 1}, "n": 1},
        "output": "a",
        "metadata": {"k": {"z": 1}},
    }


def test_tags_union_dedup_by_json_value() -> None:
    assert union(["a", "b"], ["b", "c", "a"]) == ["a", "b", "c"]
    assert union([1, {"x": 1, "y": 2}], ["1", {"y": 2, "x": 1}, 1.5]) == [1, {"x": 1, "y": 2}, "1", 1.5]
    base = state({"id": "r", "created": CREATED, "tags": ["a", "b"], "metadata": {"tags": ["m1"]}})
    s = apply(base, ds(id="r", _is_merge=True, tags=["b", "c"], metadata={"tags": ["m2"]}), X2)
    assert s.row["tags"] == ["a", "b", "c"]
    assert s.row["metadata"] == {"tags": ["m2"]}  # only top-level tags union


def test_tags_replace_when_in_merge_paths_or_null() -> None:
    base = state({"id": "r", "created": CREATED, "tags": ["a", "b"]})
    s = apply(base, ds(id="r", _is_merge=True, _merge_paths=[["tags"]], tags=["c"]), X2)
    assert s.row["tags"] == ["c"]
    s = apply(base, ds(id="r", _is_merge=True, tags=None), X2)
    assert s.row["tags"] is None
    s = apply(
        state({"id": "r", "created": CREATED, "tags": None}), ds(id="r", _is_merge=True, tags=["x"]), X2
    )
    assert s.row["tags"] == ["x"]


def test_array_delete_nested_missing_and_non_array() -> None:
    base = state(
        {
            "id": "r",
            "created": CREATED,
            "tags": ["a", "b", "c"],
            "metadata": {"categories": ["x", {"k": 1}, "y"], "s": "str"},
        }
    )
    s = apply(
        base,
        ds(
            id="r",
            _is_merge=True,
            _array_delete=[
                {"path": ["tags"], "delete": ["a", "c", "zz"]},
                {"path": ["metadata", "categories"], "delete": [{"k": 1}]},
                {"path": ["metadata", "s"], "delete": ["str"]},
                {"path": ["metadata", "missing", "deep"], "delete": ["x"]},
                {"path": ["nothing"], "delete": ["x"]},
            ],
        ),
        X2,
    )
    assert s.row["tags"] == ["b"]
    assert s.row["metadata"] == {"categories": ["x", "y"], "s": "str"}
    assert "nothing" not in s.row


def test_array_delete_applies_after_the_merge() -> None:
    base = state({"id": "r", "created": CREATED, "tags": ["a"]})
    s = apply(
        base,
        ds(id="r", _is_merge=True, tags=["b"], _array_delete=[{"path": ["tags"], "delete": ["a", "b"]}]),
        X2,
    )
    assert s.row["tags"] == []


# -- identity, replace, insert, delete --------------------------------------------------------


def test_sticky_identity_on_merge() -> None:
    base = state(
        {
            "id": "r",
            "created": CREATED,
            "span_id": "s1",
            "root_span_id": "t1",
            "span_parents": None,
            "output": "x",
        }
    )
    s = apply(
        base,
        log(
            id="r",
            _is_merge=True,
            created="2030-01-01T00:00:00Z",
            span_id="s2",
            root_span_id="t2",
            span_parents=["p"],
            output="y",
        ),
        X2,
    )
    assert plain(s.row) == {
        "id": "r",
        "created": CREATED,
        "span_id": "s1",
        "root_span_id": "t1",
        "span_parents": ["p"],
        "output": "y",
    }


def test_sticky_span_parents_when_base_has_them() -> None:
    base = state(
        {"id": "r", "created": CREATED, "span_id": "s1", "root_span_id": "t1", "span_parents": ["p0"]}
    )
    s = apply(base, log(id="r", _is_merge=True, span_parents=["p9"]), X2)
    assert s.row["span_parents"] == ["p0"]


def test_replace_keeps_created_and_missing_span_ids() -> None:
    base = state(
        {"id": "r", "created": CREATED, "span_id": "r", "root_span_id": "r", "input": 1, "tags": ["t"]}
    )
    s = apply(base, ds(id="r", created="2030-01-01T00:00:00Z", input=2), X2)
    assert plain(s.row) == {"id": "r", "created": CREATED, "span_id": "r", "root_span_id": "r", "input": 2}
    s = apply(base, log(id="r", span_id="new", root_span_id="newroot", span_parents=None, input=3), X2)
    assert plain(s.row) == {
        "id": "r",
        "created": CREATED,
        "span_id": "new",
        "root_span_id": "newroot",
        "span_parents": None,
        "input": 3,
    }


def test_merge_without_base_is_an_insert_with_defaults() -> None:
    s = apply(None, ds(id="r", _is_merge=True, metadata={"reviewed": True}, tags=["a"]), X1)
    assert plain(s.row) == {
        "id": "r",
        "metadata": {"reviewed": True},
        "tags": ["a"],
        "created": datetime.fromtimestamp(T0, UTC).isoformat(timespec="microseconds"),
        "span_id": "r",
        "root_span_id": "r",
    }
    # a later full write replaces it (created stays: it leads the sort key)
    s2 = apply(s, ds(id="r", created=CREATED, input="full"), X2)
    assert plain(s2.row) == {
        "id": "r",
        "created": s.row["created"],
        "input": "full",
        "span_id": "r",
        "root_span_id": "r",
    }


def test_explicit_now_for_created() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    out = apply_write(None, validate_row(ds(id="r")), X1, now=now)
    assert out is not None and out.row["created"] == "2026-01-02T03:04:05.678901+00:00"


def test_object_delete_tombstones_and_keeps_identity() -> None:
    base = state({"id": "r", "created": CREATED, "span_id": "s", "root_span_id": "t", "input": {"secret": 1}})
    s = apply(base, ds(id="r", _object_delete=True, created="2030-01-01T00:00:00Z"), X2)
    assert s.deleted is True and s.xact_id == X2
    assert plain(s.row) == {"id": "r", "created": CREATED, "span_id": "s", "root_span_id": "t"}
    # delete without a base: a tombstone from the write's own identity
    t = apply(None, ds(id="q", _object_delete=True, created=CREATED), X1)
    assert t.deleted and plain(t.row) == {"id": "q", "created": CREATED, "span_id": "q", "root_span_id": "q"}
    # a merge after a delete is an insert (the deleted content does not come back)
    u = apply(s, ds(id="r", _is_merge=True, output="back"), X3)
    assert not u.deleted
    assert plain(u.row) == {
        "id": "r",
        "output": "back",
        "created": CREATED,
        "span_id": "s",
        "root_span_id": "t",
    }


# -- _parent_id ---------------------------------------------------------------------------------


def test_parent_id_derives_span_fields() -> None:
    parent = {"id": "abc", "span_id": "sp-abc", "root_span_id": "root-1"}
    w = validate_row(log(id="llm_call", _parent_id="abc", input={"prompt": "What comes after foo?"}))
    assert parent_to_resolve(w) == "abc"
    s = apply_write(None, w, X1, parent=parent)
    assert s is not None
    assert (
        s.row["root_span_id"] == "root-1"
        and s.row["span_parents"] == ["sp-abc"]
        and s.row["span_id"] == "llm_call"
    )
    # unknown parent: the parent row id stands in (legacy rows have span_id = id)
    s2 = apply_write(None, w, X1)
    assert s2 is not None and s2.row["root_span_id"] == "abc" and s2.row["span_parents"] == ["abc"]
    assert derive_from_parent("p", {"id": "p"}) == {"root_span_id": "p", "span_parents": ["p"]}


def test_parent_id_ignored_on_merges_and_when_span_fields_are_explicit() -> None:
    m = validate_row(log(id="x", _is_merge=True, _parent_id="abc"))
    assert parent_to_resolve(m) is None
    base = state({"id": "x", "created": CREATED, "span_id": "x", "root_span_id": "x", "span_parents": None})
    s = apply_write(base, m, X2, parent={"id": "abc", "span_id": "a", "root_span_id": "r"})
    assert s is not None and s.row["span_parents"] is None and s.row["root_span_id"] == "x"
    e = validate_row(log(id="x", _parent_id="abc", root_span_id="R", span_parents=["P"]))
    assert parent_to_resolve(e) is None
    s = apply_write(None, e, X1, parent={"id": "abc", "span_id": "a", "root_span_id": "r"})
    assert s is not None and s.row["root_span_id"] == "R" and s.row["span_parents"] == ["P"]


# -- defaults -------------------------------------------------------------------------------------


def test_defaults() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert apply_defaults({"id": "r"}, now) == {
        "id": "r",
        "created": "2026-01-01T00:00:00.000000+00:00",
        "span_id": "r",
        "root_span_id": "r",
    }
    assert apply_defaults({"id": "r", "span_id": "s", "span_parents": ["p"]}, now)["root_span_id"] == "p"
    kept = {"id": "r", "created": CREATED, "span_id": "s", "root_span_id": "t"}
    assert apply_defaults(dict(kept), now) == kept


def test_dataset_rows_get_span_ids() -> None:
    s = apply(None, ds(id="custom-row-id", created=CREATED, input={"q": "3+3"}, expected="6", tags=None), X1)
    assert plain(s.row) == {
        "id": "custom-row-id",
        "created": CREATED,
        "input": {"q": "3+3"},
        "expected": "6",
        "tags": None,
        "span_id": "custom-row-id",
        "root_span_id": "custom-row-id",
    }


# -- audit --------------------------------------------------------------------------------------


def test_feedback_audit_trail_is_idempotent() -> None:
    base = state(
        {"id": "7dde", "created": CREATED, "span_id": "s", "root_span_id": "t", "scores": {"exact": 1}}
    )
    fb = validate_row(
        log(
            id="7dde",
            _is_merge=True,
            scores={"thumbs": 1},
            _audit_source="external",
            _audit_metadata={"src": "user"},
        )
    )
    s = apply_write(base, fb, X2)
    assert s is not None
    assert s.row["scores"] == {"exact": 1, "thumbs": 1}
    entry = {
        "_xact_id": str(X2),
        "audit_data": {"action": "merge"},
        "metadata": {"src": "user"},
        "source": "external",
    }
    assert s.row["audit_data"] == [entry]  # the base state had no trail (written before one existed)
    again = apply_write(s, fb, X2)
    assert again is not None and again.row == s.row
    # a client cannot write audit_data, and later writes keep the trail
    s3 = apply(s, log(id="7dde", input="replaced", audit_data=[{"forged": True}]), X3)
    upsert = {"_xact_id": str(X3), "audit_data": {"action": "upsert"}, "metadata": {}, "source": "api"}
    assert s3.row["audit_data"] == [entry, upsert]
    s4 = apply(s3, log(id="7dde", _object_delete=True), X4)
    assert s4.row["audit_data"][-1]["audit_data"] == {"action": "delete"}


# -- ordering and redelivery --------------------------------------------------------------------


def test_stale_write_is_skipped_equal_xact_reapplied() -> None:
    base = state({"id": "r", "created": CREATED, "span_id": "r", "root_span_id": "r", "input": {"a": 1}}, X2)
    assert apply_write(base, validate_row(ds(id="r", input="old")), X1) is None
    w = validate_row(ds(id="r", _is_merge=True, input={"b": 2}))
    once = apply_write(base, w, X2)
    assert once is not None
    twice = apply_write(once, w, X2)
    assert twice is not None and plain(twice.row) == plain(once.row) == {
        **base.row,
        "input": {"a": 1, "b": 2},
    }


def test_apply_writes_sorts_by_xact_and_keeps_one_version_per_xact() -> None:
    writes = [
        (X3, ds(id="r", _is_merge=True, metadata={"c": 3})),
        (X1, ds(id="r", created=CREATED, input="i")),
        (X2, ds(id="r", _is_merge=True, metadata={"a": 1})),
        (X2, ds(id="r", _is_merge=True, metadata={"b": 2})),
    ]
    versions = apply_writes(None, writes)
    assert [v.xact_id for v in versions] == [X1, X2, X3]
    assert versions[1].row["metadata"] == {"a": 1, "b": 2}
    assert plain(versions[-1].row) == {
        "id": "r",
        "created": CREATED,
        "input": "i",
        "metadata": {"a": 1, "b": 2, "c": 3},
        "span_id": "r",
        "root_span_id": "r",
    }
    # redelivered against the stored final state: X1/X2 stale, X3 re-applied harmlessly
    again = apply_writes(versions[-1], writes)
    assert [v.xact_id for v in again] == [X3] and again[-1].row == versions[-1].row


def test_same_xact_writes_split_across_batches() -> None:
    w1 = (X2, ds(id="r", _is_merge=True, metadata={"a": 1}))
    w2 = (X2, ds(id="r", _is_merge=True, metadata={"b": 2}))
    base = state({"id": "r", "created": CREATED, "span_id": "r", "root_span_id": "r"}, X1)
    first = apply_writes(base, [w1])[-1]
    second = apply_writes(first, [w2])[-1]  # same xact as the stored row: must still apply
    assert second.row["metadata"] == {"a": 1, "b": 2}


def test_inputs_are_not_mutated() -> None:
    base_row = {"id": "r", "created": CREATED, "tags": ["a"], "input": {"x": {"y": 1}}}
    base = state(copy.deepcopy(base_row))
    raw = ds(
        id="r",
        _is_merge=True,
        tags=["b"],
        input={"x": {"z": 2}},
        _array_delete=[{"path": ["tags"], "delete": ["a"]}],
    )
    w = validate_row(raw)
    before = copy.deepcopy(w.row)
    apply_write(base, w, X2)
    assert base.row == base_row and w.row == before


# -- captured SDK flows ---------------------------------------------------------------------------


def test_logger_flow_open_span_then_merges() -> None:
    # (a) a span flushed while open, then its end merged, then update_span, then log_feedback
    first = log(
        id="3240",
        created=CREATED,
        span_id="025c88538ef80205",
        root_span_id="8ad0",
        span_parents=None,
        span_attributes={"name": "long", "type": "task", "exec_counter": 2},
        input={"q": 1},
        metrics={"start": 1795337921.9},
    )
    end = log(
        _is_merge=True,
        id="3240",
        span_id="025c88538ef80205",
        root_span_id="8ad0",
        span_parents=None,
        output="final",
        metadata={"late": True},
        metrics={"end": 1795337922.0496},
    )
    update = log(_is_merge=True, id="3240", metadata={"updated": True})
    feedback = log(
        _is_merge=True,
        id="3240",
        scores={"thumbs": 1},
        _audit_source="external",
        _audit_metadata={"src": "user"},
    )
    versions = apply_writes(None, [(X1, first), (X2, end), (X3, update), (X4, feedback)])
    assert plain(versions[-1].row) == {
        "id": "3240",
        "created": CREATED,
        "span_id": "025c88538ef80205",
        "root_span_id": "8ad0",
        "span_parents": None,
        "span_attributes": {"name": "long", "type": "task", "exec_counter": 2},
        "input": {"q": 1},
        "output": "final",
        "metadata": {"late": True, "updated": True},
        "metrics": {"start": 1795337921.9, "end": 1795337922.0496},
        "scores": {"thumbs": 1},
    }
    trail = versions[-1].row["audit_data"]
    assert [(e["_xact_id"], e["audit_data"]["action"], e["source"]) for e in trail] == [
        (str(X1), "upsert", "api"),
        (str(X2), "merge", "api"),
        (str(X3), "merge", "api"),
        (str(X4), "merge", "external"),
    ]


def test_dataset_flow_insert_update_delete() -> None:
    ins = ds(id="49f0", created=CREATED, input={"q": "2+2"}, expected="4", tags=["math"])
    upd = ds(_is_merge=True, id="49f0", metadata={"reviewed": True})
    dele = ds(_object_delete=True, id="49f0", created=CREATED)
    versions = apply_writes(None, [(X1, ins), (X2, upd), (X3, dele)])
    assert [v.deleted for v in versions] == [False, False, True]
    assert plain(versions[1].row) == {
        "id": "49f0",
        "created": CREATED,
        "input": {"q": "2+2"},
        "expected": "4",
        "tags": ["math"],
        "metadata": {"reviewed": True},
        "span_id": "49f0",
        "root_span_id": "49f0",
    }


# -- property: redelivery converges ---------------------------------------------------------------

_scalars = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["a", "b", ""]))
_json = st.recursive(
    _scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c"]), kids, max_size=3)
    ),
    max_leaves=6,
)
_tags = st.one_of(st.none(), st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=3))


@st.composite
def _write(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["merge", "merge", "merge", "replace", "delete"]))
    row: dict[str, Any] = ds(id="r")
    if kind == "delete":
        row["_object_delete"] = True
        return row
    if draw(st.booleans()):
        row["created"] = draw(st.sampled_from([CREATED, "2026-01-01T00:00:00Z"]))
    for f in ("input", "metadata", "output"):
        if draw(st.booleans()):
            v = draw(_json)
            row[f] = v if f != "metadata" or v is None else {"m": v}
    if draw(st.booleans()):
        row["tags"] = draw(_tags)
    if draw(st.booleans()):
        row["span_id"] = draw(st.sampled_from(["s1", "s2"]))
    if kind == "merge":
        row["_is_merge"] = True
        if draw(st.booleans()):
            row["_merge_paths"] = draw(
                st.lists(st.sampled_from([["input"], ["tags"], ["metadata", "m"]]), max_size=2)
            )
        if draw(st.booleans()):
            row["_array_delete"] = [
                {"path": ["tags"], "delete": draw(st.lists(st.sampled_from(["t1", "t2"]), max_size=2))}
            ]
    if draw(st.booleans()):
        row["_audit_source"] = "app"
    return row


@st.composite
def _history(draw: st.DrawFn) -> list[tuple[int, dict[str, Any]]]:
    writes = draw(st.lists(_write(), min_size=1, max_size=8))
    xacts = sorted(draw(st.lists(st.integers(1, 4), min_size=len(writes), max_size=len(writes))))
    return [(xact_for_time(T0, x), w) for x, w in zip(xacts, writes, strict=True)]


@settings(max_examples=400, deadline=None)
@given(
    hist=_history(),
    cuts=st.lists(st.integers(0, 8), max_size=4),
    crash=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=3),
)
def test_redelivery_and_batching_converge(
    hist: list[tuple[int, dict[str, Any]]], cuts: list[int], crash: list[tuple[int, int]]
) -> None:
    """Any batching of one key's writes, with any number of crash-redeliveries (a crash after the
    store write but before the offset commit replays from the committed offset), ends in the
    same state as applying the writes once (tags compared as a set)."""
    expected = apply_writes(None, hist)[-1]
    n = len(hist)
    bounds = sorted({0, n, *(min(c, n) for c in cuts)})
    batches = list(itertools.pairwise(bounds))
    crashes = {min(a, len(batches) - 1): b for a, b in crash}
    stored: RowState | None = None
    for bi, (lo, hi) in enumerate(batches):
        vs = apply_writes(stored, hist[lo:hi])
        if vs:
            stored = vs[-1]
        if bi in crashes:
            # crash after the store write, before the offset commit: the batch comes again —
            # and, stricter than Kafka, from an even earlier offset
            vs = apply_writes(stored, hist[min(crashes[bi], lo) : hi])
            if vs:
                stored = vs[-1]
    assert stored is not None
    assert (_tag_set(stored.row), stored.xact_id, stored.deleted) == (
        _tag_set(expected.row),
        expected.xact_id,
        expected.deleted,
    )


def _tag_set(row: dict[str, Any]) -> dict[str, Any]:
    # tags are a set: a replay that deletes and re-adds a tag may move it to the end
    tags = row.get("tags")
    return {**row, "tags": sorted(tags)} if isinstance(tags, list) else row


@settings(max_examples=300, deadline=None)
@given(base=_history(), w=_write(), x=st.integers(4, 5))
def test_every_write_is_idempotent(base: list[tuple[int, dict[str, Any]]], w: dict[str, Any], x: int) -> None:
    s = apply_writes(None, base)[-1]
    v = validate_row(w)
    once = apply_write(s, v, xact_for_time(T0, x))
    assert once is not None
    twice = apply_write(once, v, xact_for_time(T0, x))
    assert twice is not None
    assert (twice.row, twice.deleted) == (once.row, once.deleted)


_plain_rows = st.fixed_dictionaries(
    {"id": st.sampled_from(["r", "a.b"]), "project_id": st.just("p1"), "log_id": st.just("g")},
    optional={
        "created": st.sampled_from([CREATED, "2026-01-01T00:00:00Z", "2026-01-01 10:00:00.1234567", None]),
        "span_id": st.sampled_from(["s1", None]),
        "span_parents": st.sampled_from([["p"], None]),
        "input": _json,
        "output": _json,
        "metadata": st.one_of(st.none(), st.dictionaries(st.sampled_from(["m", "n"]), _json, max_size=2)),
        "tags": _tags,
        "facet": _json,  # an unknown field (kept as extra)
    },
)


@settings(max_examples=300, deadline=None)
@given(row=_plain_rows, x=st.integers(1, 5))
def test_a_plain_insert_takes_the_fast_path_to_the_same_state(row: dict[str, Any], x: int) -> None:
    """The writer's fast path for a row's first write without control fields (`plain_fields` +
    `apply_insert`) gives exactly the state `apply_write` gives."""
    fields = plain_fields(row)
    assert fields is not None
    fast = apply_insert(fields, row["id"], xact_for_time(T0, x))
    slow = apply_write(None, row, xact_for_time(T0, x))
    assert slow is not None
    assert (fast.row, fast.xact_id, fast.deleted) == (slow.row, slow.xact_id, slow.deleted)


def test_plain_fields_leaves_control_rows_to_parse_row_and_refuses_what_it_refuses() -> None:
    for control in (
        {"_is_merge": True},
        {"_object_delete": True},
        {"_parent_id": "p"},
        {"_audit_source": "x"},
    ):
        assert plain_fields(log(id="r", **control)) is None
    for bad in (log(id=""), log(id=3), log(id="r", created="not a time"), ds(id="r", experiment_id="e")):
        with pytest.raises(RowValidationError) as fast:
            plain_fields(bad)
        with pytest.raises(RowValidationError) as slow:
            parse_row(bad)
        assert (fast.value.path, fast.value.message) == (slow.value.path, slow.value.message)
