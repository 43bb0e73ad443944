"""The writer with its worker process writes, rejects and announces exactly what it writes without.

The same batch — new rows, merges into stored rows, `_parent_id` children of stored and of new
rows, dataset versions, a row whose merge fails, a message that is not a row write — goes through
a writer with a worker process and one without, each into its own database; both stores then hold
the same rows, the same dead letters and the same announcements.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.common import stored_row
from loopline.common.bus import Message
from loopline.common.messages import committed
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.rows import RowWrite
from loopline.common.schema import ROW_TABLES
from loopline.common.store import Store, StoreError, apply_migrations
from loopline.common.testing import RecordingBus, unique_database
from loopline.ingest import tables as ingest_tables
from loopline.ingest.writer import Writer, wire
from loopline.ingest.writer.chain import OFFLOAD_MIN_MESSAGES
from loopline.ingest.writer.offload import Offload, WorkerDied, prepare
from loopline.ingest.writer.steps import merge_group


async def _store(chdb_dsn: str) -> Store:
    s = Store(chdb_dsn, database=unique_database("writer_offload"))
    await s.open()
    await apply_migrations(s, ROW_TABLES + ingest_tables.MIGRATIONS)
    return s


def _span(xact: int, row_id: str, **row: Any) -> RowWrite:
    return RowWrite("org", "p1", "project_logs", "p1", xact, {"id": row_id, **row})


def _dataset_row(xact: int, row_id: str, **row: Any) -> RowWrite:
    return RowWrite("org", "p1", "dataset", "d1", xact, {"id": row_id, **row})


def _messages(writes: Sequence[RowWrite | bytes]) -> list[Message]:
    out = []
    for i, w in enumerate(writes):
        if isinstance(w, bytes):
            out.append(Message(rows_topic.TOPIC, 0, i, b"junk", w))
        else:
            out.append(Message(rows_topic.TOPIC, 0, i, w.key.encode(), w.encode()))
    return out


def _batch() -> tuple[list[RowWrite], list[RowWrite | bytes]]:
    stored = [
        _span(10, "old", input="stored", tags=["a"], metadata={"k": 1}),
        _span(10, "parent", input="p", root_span_id="r0", span_id="s-parent"),
        _dataset_row(10, "drow", input="v1"),
    ]
    batch: list[RowWrite | bytes] = [
        b"not an envelope",
        _span(20, "old", _is_merge=True, output="merged", tags=["b"]),
        _span(20, "child-of-stored", input="c", _parent_id="parent"),
        RowWrite("org", "p2", "project_logs", "p2", 20, {"id": "bad", "created": "not a time"}),
        _dataset_row(20, "drow", input="v2"),
        _dataset_row(20, "dnew", input="n1"),
        _dataset_row(21, "dnew", input="n2", _is_merge=True, expected="e"),
        _span(20, "old", _is_merge=True, metrics={"end": 2.0}),
    ]
    for i in range(OFFLOAD_MIN_MESSAGES):  # new rows (the worker's), one merged in the same batch
        ids = {"span_id": f"s-new{i}", "root_span_id": f"r-new{i}"} if i == 2 else {}
        batch.append(_span(20 + i % 3, f"new{i}", input=f"q{i}", scores={"s": 0.5}, tags=["t"], **ids))
    batch.append(_span(30, "new1", _is_merge=True, output="a1", tags=["u"]))
    batch.append(_span(30, "child-of-new", input="c2", _parent_id="new2"))
    return stored, batch


async def _contents(store: Store) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in ("spans", "dataset_rows"):
        cols = ", ".join(stored_row.WRITE_COLUMNS)
        rows = await store.query_dicts(store.sql(f"SELECT {cols} FROM {{db}}.{table} ORDER BY id, _xact_id"))
        out[table] = rows
    _, letters = await store.query(store.sql("SELECT key, reason FROM {db}.dead_letters ORDER BY key"))
    out["dead_letters"] = letters
    return out


def _announced(bus: RecordingBus) -> list[Any]:
    return sorted(
        (committed.CONTRACT.decode(m.value) for t, ms in bus.published if t == committed.TOPIC for m in ms),
        key=repr,
    )


async def test_the_worker_process_changes_nothing_written_rejected_or_announced(
    chdb_dsn: str, offload: Offload
) -> None:
    stored, batch = _batch()
    results = []
    for worker in (None, offload):
        store = await _store(chdb_dsn)
        bus = RecordingBus()
        try:
            writer = Writer(store, bus, worker)
            await writer.handle(_messages(stored))
            await writer.handle(_messages(batch))
            results.append((await _contents(store), _announced(bus), writer.stats))
        finally:
            await store.close()
    (here, here_announced, here_stats), (there, there_announced, there_stats) = results
    new = {f"new{i}" for i in range(OFFLOAD_MIN_MESSAGES)}
    assert {r["id"] for r in here["spans"]} == {"old", "parent", "child-of-stored", "child-of-new", *new}
    assert [k for k, _ in here["dead_letters"]] == ["junk", "org/project_logs/p2/bad"]
    assert there == here
    child = next(r for r in here["spans"] if r["id"] == "child-of-new")  # resolved within the batch
    assert (child["root_span_id"], child["span_parents"]) == ("r-new2", ["s-new2"])
    assert there_announced == here_announced
    assert (there_stats.rows_written, there_stats.dead_letters) == (
        here_stats.rows_written,
        here_stats.dead_letters,
    )


def test_prepare_merges_new_rows_and_leaves_the_rest_to_the_writer() -> None:
    _, batch = _batch()
    batch = [w for w in batch if not (isinstance(w, RowWrite) and "_parent_id" in w.row)]
    batch.append(RowWrite("org", "p3", "project_logs", "p3", 40, {"id": "orphan", "_parent_id": "nowhere"}))
    values = [m.value for m in _messages(batch)]
    prepared = prepare(values)
    with pytest.raises(rows_topic.RowWriteError) as exc:
        rows_topic.decode(values[0])
    assert prepared.undecodable == [(0, str(exc.value))]  # the reason the decode step gives
    spans = prepared.groups[("spans", "org", "p1", "project_logs", "p1")]
    assert spans["old"].ok and spans["old"].writes == [1, 6] and all(r.ok for r in spans.values())
    assert not prepared.groups[("spans", "org", "p2", "project_logs", "p2")]["bad"].ok  # merge fails
    assert not prepared.groups[("spans", "org", "p3", "project_logs", "p3")]["orphan"].ok  # names a parent
    # a new row's lines are what the writer's own merge encodes for it with no stored state
    new1 = [w for w in batch if isinstance(w, RowWrite) and w.row_id == "new1"]
    key = ("spans", "org", "p1", "project_logs", "p1")
    assert spans["new1"].lines == [orjson.dumps(c) for c in merge_group(key, {"new1": new1}, {})]
    assert spans["new1"].announced[0]["root_span_id"] == "new1"
    datasets = prepared.groups[("dataset_rows", "org", "p1", "dataset", "d1")]
    assert len(datasets["dnew"].lines) == 2  # one version per transaction


def _steady() -> list[RowWrite | bytes]:
    """What steady ingest sends: new rows only (spans of two projects, dataset versions)."""
    batch: list[RowWrite | bytes] = [b"not an envelope"]
    for i in range(OFFLOAD_MIN_MESSAGES):
        root = {"span_id": f"s{i}", "root_span_id": f"r{i // 4}"} if i % 5 else {}
        batch.append(_span(20 + i % 3, f"new{i}", input=f"q{i}", metrics={"tokens": i}, **root))
    batch.append(RowWrite("org", "p2", "project_logs", "p2", 20, {"id": "other", "input": "x"}))
    batch.append(_dataset_row(20, "dnew", input="n1"))
    batch.append(_dataset_row(21, "dnew", input="n2", _is_merge=True, expected="e"))
    return batch


async def _write_both(
    chdb_dsn: str, offload: Offload, batches: Sequence[Sequence[RowWrite | bytes]], **patch: Any
) -> list[tuple[dict[str, Any], list[Any], Any]]:
    """The batches through a writer without a worker, then one with `offload`; `patch` replaces
    the writer-with-a-worker's store methods."""
    results = []
    for worker in (None, offload):
        store = await _store(chdb_dsn)
        bus = RecordingBus()
        try:
            writer = Writer(store, bus, worker)
            if worker is not None:
                for name, fn in patch.items():
                    setattr(store, name, fn(getattr(store, name)))
            for b in batches:
                await writer.handle(_messages(b))
            results.append((await _contents(store), _announced(bus), writer.stats))
        finally:
            await store.close()
    return results


async def test_steady_ingest_inserts_the_worker_bodies_as_they_are(chdb_dsn: str, offload: Offload) -> None:
    """Every row new: the writer inserts each table's body from the worker (no row one by one)
    and publishes the worker's announcements; the same rows, dead letters, announcements."""

    def no_rows_one_by_one(insert_json: Any) -> Any:
        async def fail(*a: Any, **kw: Any) -> None:
            raise AssertionError("rows inserted one by one on the steady path")

        return fail

    (here, here_ann, here_stats), (there, there_ann, there_stats) = await _write_both(
        chdb_dsn, offload, [_steady()], insert_json=no_rows_one_by_one
    )
    assert len(here["spans"]) == OFFLOAD_MIN_MESSAGES + 1 and len(here["dataset_rows"]) == 2
    assert [k for k, _ in here["dead_letters"]] == ["junk"]
    assert there == here and there_ann == here_ann and len(here_ann) > 2
    assert there_stats.rows_written == here_stats.rows_written == OFFLOAD_MIN_MESSAGES + 3


async def test_a_body_the_store_rejects_is_inserted_row_by_row_without_the_bad_row(
    chdb_dsn: str, offload: Offload
) -> None:
    def picky(insert_body: Any) -> Any:
        async def insert(table: str, body: Any, *a: Any, **kw: Any) -> None:
            if b'"id":"new5"' in bytes(body):
                raise StoreError("Code: 27. DB::Exception: Cannot parse input")
            await insert_body(table, body, *a, **kw)

        return insert

    (here, here_ann, _), (there, there_ann, there_stats) = await _write_both(
        chdb_dsn, offload, [_steady()], insert_body=picky
    )
    assert {r["id"] for r in there["spans"]} == {r["id"] for r in here["spans"]} - {"new5"}
    assert there["dataset_rows"] == here["dataset_rows"]
    letters = dict(there["dead_letters"])
    assert letters["org/project_logs/p1/new5"].startswith("store rejected the row")
    assert there_stats.rows_written == OFFLOAD_MIN_MESSAGES + 2
    gone = [a for a in here_ann if "new5" in a.ids]
    assert len(gone) == 1 and gone[0] not in there_ann


def test_the_answer_frame_gives_back_the_prepared_batch() -> None:
    _, batch = _batch()
    values = [m.value for m in _messages(batch)]
    prepared = prepare(values)
    frame = bytearray(b"".join(wire.encode_prepared(prepared)))
    handed = wire.decode_prepared(frame)
    assert not handed.ok and handed.undecodable == prepared.undecodable
    assert handed.groups == [(k, list(rows)) for k, rows in prepared.groups.items()]
    assert handed.batch() == prepared
    request = bytearray(b"".join(wire.request(values)))
    assert [bytes(v) for v in wire.split_values(request)] == values


async def test_a_worker_that_dies_fails_its_batch_and_the_next_one_gets_a_new_worker(
    offload: Offload,
) -> None:
    import os
    import signal

    await offload.start()
    (pid,) = offload.worker_pids()
    os.kill(pid, signal.SIGKILL)
    values = [m.value for m in _messages(_steady())]
    with pytest.raises(WorkerDied):
        await offload.prepare(values)
    handed = await offload.prepare(values)
    assert handed.ok and offload.worker_pids() != [pid]


def test_a_worker_ends_when_the_writer_process_is_killed(tmp_path: Path) -> None:
    """A writer killed with -9 leaves no worker process behind."""
    script = (
        "import asyncio, os\n"
        "from loopline.ingest.writer.offload import Offload\n"
        "async def main():\n"
        "    o = Offload()\n"
        "    await o.start()\n"
        "    print(o.worker_pids()[0], flush=True)\n"
        "    os.kill(os.getpid(), 9)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    path = tmp_path / "writer.py"
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == -9, out.stderr
    worker = int(out.stdout.split()[0])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{worker}").exists()


def test_the_frame_reader_reuses_its_buffer_and_reads_every_frame_whole() -> None:
    import os
    import threading

    r, w = os.pipe()
    frames = [b"a" * 10, os.urandom(300_000), b"b" * 5, os.urandom(2_000_000), b""]
    writer = threading.Thread(target=lambda: [wire.write_frame(w, [f]) for f in frames])
    writer.start()
    reader = wire.FrameReader(r, keep=1_000_000)
    got = [bytes(reader.read()) for _ in frames]
    writer.join()
    os.close(w)
    with pytest.raises(EOFError):
        reader.read()
    os.close(r)
    assert got == frames


def test_a_frame_still_viewed_is_never_overwritten_by_the_next() -> None:
    import os
    import threading

    r, w = os.pipe()
    frames = [b"x" * 1000, b"y" * 1000, b"z" * 500]
    writer = threading.Thread(target=lambda: [wire.write_frame(w, [f]) for f in frames])
    writer.start()
    reader = wire.FrameReader(r)
    first = reader.read()  # still held (as a batch's bodies are, until its insert is done)
    second = reader.read()
    assert bytes(first) == frames[0] and bytes(second) == frames[1]
    del first, second
    assert bytes(reader.read()) == frames[2]
    writer.join()
    os.close(r)
    os.close(w)
