"""The writer's steps, each alone (no broker): group, load bases, merge, insert, announce, sink."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import pytest
from loopline.common import stored_row
from loopline.common.bus import Message
from loopline.common.messages import committed, dead_letters, rows
from loopline.common.messages.rows import RowWrite
from loopline.common.pipeline import Batch, Invalid
from loopline.common.schema import ROW_TABLES
from loopline.common.store import Store, StoreError, apply_migrations
from loopline.common.testing import RecordingBus, unique_database
from loopline.ingest import tables as ingest_tables
from loopline.ingest.writer import Inserter, group_writes
from loopline.ingest.writer.bases import LoadBases, existing_ids, load_bases
from loopline.ingest.writer.insert import InsertRows
from loopline.ingest.writer.sink import DeadLetterSink
from loopline.ingest.writer.steps import Announce, GroupWithBases, Merged, Written, group, merge_groups


def w(row_id: str, xact: int, project: str = "p1", **row: Any) -> RowWrite:
    return RowWrite("org", project, "project_logs", "g", xact, {"id": row_id, **row})


@pytest.fixture
async def store(chdb_dsn: str) -> AsyncIterator[Store]:
    s = Store(chdb_dsn, database=unique_database("writer_steps"))
    await s.open()
    await apply_migrations(s, ROW_TABLES + ingest_tables.MIGRATIONS)
    try:
        yield s
    finally:
        await s.close()


async def test_group_by_object_then_row_in_bus_order() -> None:
    writes = [w("a", 1), w("b", 1), w("a", 2), w("c", 1, project="p2")]
    got = await group(Batch(writes, []))
    assert list(got) == [
        ("spans", "org", "p1", "project_logs", "g"),
        ("spans", "org", "p2", "project_logs", "g"),
    ]
    assert [x.xact_id for x in got[("spans", "org", "p1", "project_logs", "g")]["a"]] == [1, 2]


async def test_merge_folds_writes_and_rejects_only_the_row_that_cannot_be_merged() -> None:
    key = ("spans", "org", "p1", "project_logs", "g")
    good = [w("a", 1, input="q", tags=["x"]), w("a", 2, _is_merge=True, output="done", tags=["y"])]
    bad = [w("b", 1, created="not a time")]
    batch: Batch[list[GroupWithBases]] = Batch([GroupWithBases(key, {"a": good, "b": bad}, {})], [])
    merged = await merge_groups(batch)
    (row,) = merged.by_table["spans"]
    assert row["id"] == "a" and orjson.loads(row["output"]) == "done" and row["_xact_id"] == 2
    assert sorted(row["tags"]) == ["x", "y"]
    assert [(i.message.key, i.reason.split(":")[0]) for i in batch.invalid] == [
        (b"org/project_logs/g/b", "merge failed")
    ]
    assert rows.decode(batch.invalid[0].message.value) == bad[0]  # the write itself, replayable
    assert set(merged.originals) == {"org/project_logs/g/a", "org/project_logs/g/b"}


async def test_load_bases_reads_stored_states_and_named_parents(store: Store) -> None:
    key = ("spans", "org", "p1", "project_logs", "g")
    first = await merge_groups(Batch([GroupWithBases(key, {"par": [w("par", 5, input="up")]}, {})], []))
    assert await Inserter(store).insert("spans", first.by_table["spans"]) == []
    groups = group_writes([w("child", 6, _parent_id="par"), w("new", 6)])
    (g,) = await LoadBases(store)(Batch(groups, []))
    assert set(g.bases) == {"par"} and g.bases["par"].xact_id == 5 and g.bases["par"].row["input"] == "up"


async def test_load_bases_reads_in_full_only_rows_with_a_stored_version(store: Store) -> None:
    key = ("spans", "org", "p1", "project_logs", "g")
    writes = {
        "live": [w("live", 5, input="a")],
        "gone": [w("gone", 5, input="b"), w("gone", 6, _object_delete=True)],
    }
    first = await merge_groups(Batch([GroupWithBases(key, writes, {})], []))
    assert await Inserter(store).insert("spans", first.by_table["spans"]) == []
    ids = ["live", "gone", "never"]
    assert sorted(await existing_ids(store, key, ids)) == ["gone", "live"]  # tombstones too
    bases = await load_bases(store, key, ids)
    final = await store.query_dicts(  # what one FINAL read of every id gives
        store.sql(
            "SELECT id, _xact_id FROM {db}.spans FINAL WHERE org_id = 'org' AND project_id = 'p1' "
            "AND object_type = 'project_logs' AND object_id = 'g' AND id IN ('live', 'gone', 'never')"
        )
    )
    assert {i: b.xact_id for i, b in bases.items()} == {r["id"]: r["_xact_id"] for r in final}
    assert bases["live"].row["input"] == "a"
    assert await load_bases(store, key, ["never", "new"]) == {} and await load_bases(store, key, []) == {}


class PickyStore(Store):
    """A healthy store that rejects rows whose id starts with "bad"."""

    def __init__(self) -> None:
        super().__init__("chdb://:memory:")
        self.inserted: list[str] = []

    async def insert_json(
        self, table: str, rows: Sequence[bytes], column_names: Sequence[str], *, settings: Any = None
    ) -> None:
        ids = [orjson.loads(r)["id"] for r in rows]  # the writer's encoded lines
        if any(i.startswith("bad") for i in ids):
            raise StoreError("Code: 27. Cannot parse input")
        self.inserted.extend(ids)

    async def ping(self) -> bool:
        return True


class DownStore(PickyStore):
    async def ping(self) -> bool:
        return False


def _cols(row_id: str) -> dict[str, Any]:
    return {"org_id": "org", "object_type": "project_logs", "object_id": "g", "id": row_id}


async def test_insert_bisects_to_the_bad_rows_and_rejects_them_as_their_last_write() -> None:
    store = PickyStore()
    original = w("bad1", 3, input="x")
    merged = Merged(
        {"spans": [_cols("a"), _cols("bad1"), _cols("b"), _cols("bad2")]}, {original.key: original}
    )
    batch: Batch[Merged] = Batch(merged, [])
    written = await InsertRows(Inserter(store))(batch)
    assert [r["id"] for r in written.rows] == ["a", "b"] and sorted(store.inserted) == ["a", "b"]
    assert written.count == 2
    assert [i.message.key for i in batch.invalid] == [b"org/project_logs/g/bad1", b"org/project_logs/g/bad2"]
    assert batch.invalid[0].message.value == original.encode()  # replayable write
    assert orjson.loads(batch.invalid[1].message.value)["id"] == "bad2"  # no write known: the row
    assert all(i.reason.startswith("store rejected the row") for i in batch.invalid)


async def test_insert_raises_when_the_store_is_down_so_the_bus_redelivers() -> None:
    with pytest.raises(StoreError):
        await InsertRows(Inserter(DownStore()))(Batch(Merged({"spans": [_cols("bad")]}), []))


async def test_announce_one_rows_committed_per_trace() -> None:
    bus = RecordingBus()
    written = [
        {
            "org_id": "org",
            "project_id": "p1",
            "object_type": "project_logs",
            "object_id": "g",
            "id": i,
            "root_span_id": "t1",
            "_xact_id": 9,
        }
        for i in ("a", "b")
    ]
    assert await Announce(bus)(Batch(Written(written, count=2), [])) == Written(written, count=2)
    ((topic, (out,)),) = bus.published
    assert topic == committed.TOPIC and out.key == b"org/project_logs/g/t1"
    assert committed.decode(out.value) == committed.RowsCommitted(
        "org", "p1", "project_logs", "g", "t1", 9, ["a", "b"]
    )
    await Announce(bus)(Batch(Written(), []))
    assert len(bus.published) == 1  # nothing written, nothing announced


async def test_sink_records_dead_letters_in_the_table_and_on_the_topic(store: Store) -> None:
    bus = RecordingBus()
    bad = Message("loopline.rows", 0, 0, b"org/project_logs/g/x", b"not an envelope")
    await DeadLetterSink(store, bus)([Invalid(bad, "not a row envelope: nope")])
    rows_ = await store.query_dicts(store.sql("SELECT key, value, reason FROM {db}.dead_letters"))
    assert rows_ == [
        {"key": "org/project_logs/g/x", "value": "not an envelope", "reason": "not a row envelope: nope"}
    ]
    ((topic, (out,)),) = bus.published
    assert topic == dead_letters.TOPIC
    letter = dead_letters.from_message(Message(topic, 0, 0, out.key, out.value, out.headers))
    assert letter == dead_letters.DeadLetter(bad.key, bad.value, "not a row envelope: nope")


async def test_the_insert_form_stores_the_same_text_as_the_columns(store: Store) -> None:
    """The writer inserts objects and arrays as JSON values (read into their String columns as
    text) and a canonical `created` as a string: what is stored is byte for byte what the text
    columns of `to_columns` hold, for every kind of value (and for a row stored before the
    storage contract, with an integer beyond 64 bits, through the fallback)."""
    values: list[Any] = [
        {"q": 'é \u2028 "quoted" \\ \n\t \u0001', "n": [1, -2.5, 1e-7, True, None, {}, []]},
        [{"role": "user", "content": "hi"}],
        "plain string",
        3,
        None,
        {},
        [],
    ]
    states = []
    for i, v in enumerate(values):
        row = {"id": f"r{i}", "created": "2026-11-22T08:58:41.886073+00:00", "input": v, "output": v}
        row |= {"metadata": {"m": v}, "facet": v, "expected": v}
        states.append(stored_row.RowState(row, 7 + i))
    states.append(
        stored_row.RowState({"id": "big", "created": "2026-11-22 08:58:41", "input": {"n": 2**70}}, 9)
    )

    def target(oid: str) -> dict[str, str]:
        return {"org_id": "org", "project_id": "p1", "object_type": "project_logs", "object_id": oid}

    text_form = [stored_row.state_to_columns(s, **target("text")) for s in states]
    insert_form = [stored_row.state_to_columns(s, **target("insert"), for_insert=True) for s in states]
    assert insert_form != text_form  # (objects stay objects, `created` a string)
    assert await Inserter(store).insert("spans", text_form + insert_form) == []
    cols = ("id", *stored_row.JSON_FIELDS, "extra", "created", "start_time", "metadata_json")
    sql = f"SELECT {', '.join(cols)} FROM {{db}}.spans WHERE object_id = {{o:String}} ORDER BY id"
    text = await store.query_dicts(store.sql(sql), {"o": "text"})
    inserted = await store.query_dicts(store.sql(sql), {"o": "insert"})
    assert len(inserted) == len(states) and inserted == text
