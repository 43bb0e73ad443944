"""The row contract, proven against the real embedded store (issue 10).

Property: for arbitrary JSON rows (odd keys, huge/negative/non-finite numbers, nesting around
the limit, large arrays, every Braintrust field), `validate_row` either rejects the row with a
`RowValidationError` naming a path inside it, or the row is storable — encoded into a bus
envelope, merged and inserted by the writer's real code (`Writer.handle`) into chdb without a
dead letter, and read back by fetch (`ObjectReader.fetch`) equal to what was written. Schema
inference and the experiment summary over the written rows answer, and every answer encodes as
the API would send it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from loopline.btql.binder import Binder
from loopline.btql.compiler import compile_bound
from loopline.btql.options import Limits
from loopline.common.bus import Message
from loopline.common.bus.memory import InProcessBus
from loopline.common.messages.rows import RowWrite
from loopline.common.object_types import stored_object_id
from loopline.common.rows import (
    CONTROL_FIELDS,
    DATA_FIELDS,
    MAX_INT,
    MAX_ROW_DEPTH,
    MIN_INT,
    OBJECT_ID_FIELDS,
    READ_ONLY_FIELDS,
    RowValidationError,
    ValidatedRow,
    validate_row,
)
from loopline.common.store import Store, apply_migrations
from loopline.common.testing import unique_database
from loopline.common.topics import ROWS
from loopline.gateway.control_plane import LocalControlPlane
from loopline.ingest.writer import Writer
from loopline.query.reads import ObjectReader, ObjectScope
from loopline.query.schema_inference import infer_schema
from loopline.query.summaries import dataset_total_records, summarize_scores, trace_stats

from loopline import btql
from loopline.runtime.registry import all_migrations

ORG = "org-contract"
PROJECT = "proj-contract"

# -- generators ---------------------------------------------------------------------------

ODD_KEYS = st.sampled_from(
    ["", ".", "..", "a", "b", "a.b", "a..b", ".a", "a.", "%2E", "a%2Eb", "http.method", "x y", "é", "日本",
     "\x00", "\n", '"', "\\", "🙂", "a.b.c", "_", "0", "1.5", "null", "type", "name"]
)  # fmt: skip
KEYS = st.one_of(ODD_KEYS, st.text(max_size=6))


def now_and_then(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], odds: int = 12) -> Any:
    """`rare` about once in `odds` draws."""
    return st.integers(0, odds - 1).flatmap(lambda n: rare if n == 0 else common)


#: surrogates (not valid Unicode) now and then, to see them refused
TEXT = now_and_then(
    st.text(max_size=12), st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2), odds=40
)
INTS = now_and_then(
    st.one_of(
        st.integers(min_value=-(2**20), max_value=2**20),
        st.sampled_from([MIN_INT, MAX_INT, 2**63 - 1, 2**63, -(2**53) - 1, 2**53 + 1]),
        st.integers(min_value=MIN_INT, max_value=MAX_INT),
    ),
    st.one_of(st.integers(), st.sampled_from([MIN_INT - 1, MAX_INT + 1, -(2**200)])),
    odds=10,
)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 1.8446744073709552e19, 0.1, 1e20, 2.0**64]),
)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=24,
)
OBJECTS = st.dictionaries(KEYS, JSON, max_size=5)


LEAVES = st.one_of(st.integers(-5, 5), st.text("xyz", max_size=3), st.booleans(), st.floats(-1, 1))


@st.composite
def colliding(draw: st.DrawFn) -> dict[str, Any]:
    """An object with a dotted key and the nested keys it spells (`{"a.b": 1, "a": {"b": 2}}`),
    or with a key of thousands of dotted segments, among other keys."""
    if draw(st.integers(0, 5)) == 0:
        return {".".join(["s"] * draw(st.integers(900, 10_000))): draw(LEAVES), "s": {"s": draw(LEAVES)}}
    segs = draw(st.lists(st.sampled_from(["a", "b", "", "%2E"]), min_size=2, max_size=4))
    nested: Any = draw(LEAVES)
    for seg in reversed(segs[1:]):
        nested = {seg: nested}
    out = draw(st.dictionaries(KEYS, JSON, max_size=2))
    flat = {".".join(segs): draw(LEAVES)}
    out.update({**flat, segs[0]: nested} if draw(st.booleans()) else {segs[0]: nested, **flat})
    return out


#: objects whose leaves BTQL reaches through plain paths (`metadata.user.n`)
PLAIN_OBJECTS = st.dictionaries(
    st.sampled_from(["a", "b", "model", "user", "n"]),
    st.one_of(LEAVES, st.dictionaries(st.sampled_from(["a", "b", "n"]), LEAVES, max_size=3)),
    max_size=4,
)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested around the depth limit (levels counted from the row, which is level 1)."""
    levels = draw(st.integers(min_value=MAX_ROW_DEPTH - 4, max_value=MAX_ROW_DEPTH + 2))
    v: Any = draw(st.one_of(SCALARS, st.just({}), st.just([])))
    for _ in range(levels - 1):  # the value sits in a row field: one level below the row
        v = [v] if draw(st.booleans()) else {draw(ODD_KEYS): v}
    return v


BIG_ARRAYS = st.lists(
    st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=3)), min_size=500, max_size=3000
)
SCORES = st.dictionaries(
    KEYS,
    st.one_of(st.none(), st.floats(min_value=0, max_value=1), st.sampled_from([0, 1, 1.5, -0.1])),
    max_size=4,
)
METRICS = st.dictionaries(
    st.one_of(
        st.sampled_from(["start", "end", "tokens", "prompt_tokens", "completion_tokens", "total_tokens"]),
        KEYS,
    ),
    st.one_of(st.none(), INTS, FLOATS),
    max_size=5,
)
SPAN_ATTRIBUTES = st.one_of(
    OBJECTS,
    st.fixed_dictionaries({}, optional={"name": TEXT, "type": st.sampled_from(["llm", "task", "tool", "score"]),
                                        "a.b": JSON, "a": st.dictionaries(KEYS, JSON, max_size=3)}),
)  # fmt: skip
_RESERVED = DATA_FIELDS | CONTROL_FIELDS | READ_ONLY_FIELDS | OBJECT_ID_FIELDS | {"is_root", "audit_data"}
EXTRA_KEYS = KEYS.filter(lambda k: k not in _RESERVED)
ANY_FIELD_VALUE = st.one_of(JSON, deep(), BIG_ARRAYS)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "input": st.one_of(colliding(), ANY_FIELD_VALUE),
    "output": ANY_FIELD_VALUE,
    "expected": JSON,
    "error": st.one_of(st.none(), TEXT, OBJECTS),
    "metadata": st.one_of(colliding(), PLAIN_OBJECTS, OBJECTS, deep().map(lambda v: {"d": v})),
    "span_attributes": st.one_of(colliding(), SPAN_ATTRIBUTES),
    "scores": SCORES,
    "metrics": METRICS,
    "tags": st.lists(TEXT, max_size=4),
    "context": OBJECTS,
    "origin": OBJECTS,
    "comment": OBJECTS,
}


@st.composite
def rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        row: dict[str, Any] = {"id": f"r{i}-{draw(st.text(max_size=4))}"}
        for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=len(FIELDS))):
            row[name] = draw(FIELDS[name])
        if draw(st.integers(0, 2)) == 0:  # the typed companion's hard case, often
            row[draw(st.sampled_from(["metadata", "span_attributes", "input"]))] = draw(colliding())
        for k in draw(st.lists(EXTRA_KEYS, unique=True, max_size=2)):
            row[k] = draw(JSON)
        if draw(st.integers(0, 9)) == 0:
            row["_audit_metadata"] = {"d": draw(deep())}
        if draw(st.integers(0, 4)) == 0:
            row["intent"], row["intent_confidence"] = draw(TEXT), draw(st.one_of(INTS, FLOATS))
        out.append(row)
    return out


# -- the real store and writer --------------------------------------------------------------


@dataclass
class Env:
    loop: asyncio.AbstractEventLoop
    store: Store
    bus: InProcessBus
    writer: Writer
    reader: ObjectReader


@pytest.fixture(scope="module")
def env(chdb_dsn: str) -> Iterator[Env]:
    loop = asyncio.new_event_loop()
    store = Store(chdb_dsn, database=unique_database("contract"))
    bus = InProcessBus()

    async def start() -> None:
        await store.open()
        await apply_migrations(store, all_migrations())
        await bus.start()

    loop.run_until_complete(start())
    try:
        yield Env(loop, store, bus, Writer(store, bus), ObjectReader(store, LocalControlPlane(store)))
    finally:
        loop.run_until_complete(bus.stop())
        loop.run_until_complete(store.close())
        loop.close()


def expected_fields(v: ValidatedRow) -> dict[str, Any]:
    """What fetch must return for the fields the row wrote (the rest are server defaults)."""
    want = v.fields()
    want.pop("created", None)  # normalised: checked apart
    if want.get("tags") == []:
        want["tags"] = None  # an empty tag list reads as none (Array(String) cannot tell them apart)
    return want


def note_event(what: str) -> None:
    """Hypothesis' statistics of what the examples did (`--hypothesis-show-statistics`)."""
    if currently_in_test_context():
        event(what)


def strictly_equal(a: Any, b: Any) -> bool:
    """JSON equality that tells 1 from 1.0 from true (a round trip through JSON keeps the kind)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def plain_leaves(obj: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of the string and integer leaves reached through plain keys only: the
    paths BTQL reads through the typed companion (`metadata.a.b` → `metadata_json.a.b`)."""
    if type(obj) is dict:
        for k, v in obj.items():
            if _PLAIN.match(k):
                yield from plain_leaves(v, (*prefix, k))
    elif prefix and (type(obj) is str or (type(obj) is int and -(2**53) < obj < 2**53)):
        yield prefix, obj


def btql_literal(v: Any) -> str:
    return str(v) if type(v) is int else "'" + str(v).replace("\\", "\\\\").replace("'", "''") + "'"


async def fast_and_slow_paths_agree(env: Env, pid: str, rows: list[ValidatedRow]) -> None:
    """BTQL `metadata.<plain path> = v` finds the same rows through `metadata_json` (fast) and
    through `JSONExtract` of the verbatim text (slow)."""
    conds = [
        f"metadata.{'.'.join(path)} = {btql_literal(value)}"
        for v in rows
        for path, value in list(plain_leaves(v.data.get("metadata")))[:2]
    ][:4]
    for cond in conds:
        if "\x00" in cond or "\\" in cond:
            continue  # BTQL's string literal escapes are the parser's business, not the store's
        found = []
        for fast in (True, False):
            q = btql.parse(f"select: id | from: project_logs('{pid}') | filter: {cond} | sort: id")
            bq = Binder(q, btql.source_of(q), fast_json=fast).bind()
            cq = compile_bound(
                bq,
                btql.Scope.project_logs(ORG, (pid,)),
                limits=Limits(),
                db=env.store.database,
                tz_offset=0,
                lint_mode="default",
                fingerprint="x",
            )
            cols, res = await env.store.query(cq.sql, cq.params, cq.settings)
            found.append([r["id"] for r in cq.finish(cols, res).data])
        assert found[0] == found[1], (cond, found)
        note_event("fast and slow BTQL paths compared")


async def write_and_read(env: Env, raws: list[dict[str, Any]], object_type: str) -> None:
    oid = str(uuid.uuid4())
    target = {"experiment": {"experiment_id": oid}, "dataset": {"dataset_id": oid}}.get(
        object_type, {"project_id": oid, "log_id": "g"}
    )
    accepted: list[ValidatedRow] = []
    for i, raw in enumerate(raws):
        raw = {**raw, **target}
        try:
            accepted.append(validate_row(raw, f"rows[{i}]", index=i))
            note_event("row accepted")
        except RowValidationError as exc:
            assert exc.path.startswith(f"rows[{i}]") and exc.message and exc.index == i
            note_event(f"row rejected: {exc.message.split(':')[0][:40]}")
    if not accepted:
        return
    project = oid if object_type == "project_logs" else PROJECT
    writes = [
        RowWrite(ORG, project, v.object_type, stored_object_id(v.object_type, v.object_id), 1000 + n, v.row)
        for n, v in enumerate(accepted)
    ]
    batch = [Message(ROWS, 0, n, w.key.encode(), w.encode()) for n, w in enumerate(writes)]
    dead = env.writer.stats.dead_letters
    written = env.writer.stats.rows_written
    await env.writer.handle(batch)
    assert env.writer.stats.dead_letters == dead, "an accepted row was dead-lettered"
    assert env.writer.stats.rows_written == written + len({v.id for v in accepted})

    scope = ObjectScope(ORG, project, object_type, stored_object_id(object_type, oid))
    page = await env.reader.fetch(scope, limit=1000)
    orjson.dumps(page, option=orjson.OPT_NON_STR_KEYS)  # as the API sends it
    audited = await env.reader.fetch(scope, limit=1000, audit_log=True)
    orjson.dumps(audited, option=orjson.OPT_NON_STR_KEYS)
    got = {e["id"]: e for e in page["events"]}
    last = {v.id: v for v in accepted}  # a later write of an id replaces the earlier one
    assert set(got) == set(last)
    for rid, v in last.items():
        for k, want in expected_fields(v).items():
            assert strictly_equal(got[rid].get(k), want), (rid, k, got[rid].get(k), want)
    schema = await infer_schema(env.reader, scope)
    assert schema["sampled_rows"] == len(last)
    assert not any(f.get("paths_incomplete") for f in schema["fields"].values())
    orjson.dumps(schema, option=orjson.OPT_NON_STR_KEYS)
    if object_type == "dataset":
        assert await dataset_total_records(env.reader, scope) == len(last)
    else:
        stats = await trace_stats(env.reader, scope)
        orjson.dumps(summarize_scores(stats, stats), option=orjson.OPT_NON_STR_KEYS)
    if object_type == "project_logs":
        await fast_and_slow_paths_agree(env, oid, list(last.values()))


@settings(
    max_examples=150,
    deadline=None,
    # every example writes to the store: shrinking a failure would take minutes, so the first
    # failing example is reported as found
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(rows(), st.sampled_from(["experiment", "project_logs", "dataset"]))
def test_validated_rows_are_stored_and_read_back_exactly(
    env: Env, raws: list[dict[str, Any]], object_type: str
) -> None:
    env.loop.run_until_complete(write_and_read(env, raws, object_type))


# -- pieces of the contract, directly ---------------------------------------------------------


def test_a_row_at_the_depth_limit_fits_the_envelope_and_the_responses() -> None:
    v: Any = 1
    for _ in range(MAX_ROW_DEPTH - 1):
        v = [v]
    row = validate_row({"experiment_id": "e", "id": "r", "input": v, "_audit_metadata": {"a": v[0]}})
    w = RowWrite(ORG, PROJECT, "experiment", "e", 1, row.row)
    w.encode()
    orjson.dumps({"events": [{**row.row, "audit_data": [{"metadata": {"a": v[0]}}]}]})
    with pytest.raises(RowValidationError, match=f"limit of {MAX_ROW_DEPTH} levels"):
        validate_row({"experiment_id": "e", "id": "r", "input": [v]})
