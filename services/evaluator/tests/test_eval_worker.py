"""The eval job worker on a real job store and a recording bus: heuristic jobs run on the inline
path (cells one after the other, a chunk per publish) and write exactly the rows the concurrent
path writes; every cell's children are published before its root; a job that a worker already
held skips the cells whose root is stored, a fresh job does not look; a waiter is woken when
the job ends here."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.eval_jobs import DatasetRef, EvalJob, FunctionRef
from loopline.common.store import Store, apply_migrations
from loopline.common.testing import RecordingBus
from loopline.common.xact import XactIdGenerator
from loopline.evaluator.evals import tables as eval_tables
from loopline.evaluator.evals.cell_rows import cell_ids, root_id
from loopline.evaluator.evals.data import DataReader
from loopline.evaluator.evals.job_store import JobRecord, JobStore, now, with_progress
from loopline.evaluator.evals.runner_functions import RunnerFunctions
from loopline.evaluator.evals.settings import EvalSettings
from loopline.evaluator.evals.worker import JobRunner
from loopline.evaluator.runtime.runner import FunctionRunner

SCORERS = ("ExactMatch", "Levenshtein", "JSONDiff")
ROWS = [{"input": {"output": str(i % 3), "expected": "1"}, "expected": str(i % 2)} for i in range(7)]


class NotInline(RunnerFunctions):
    """The same functions, run on the concurrent path (a task per cell, scorers gathered)."""

    def inline(self, fn: Any) -> bool:
        return False


class Reader(DataReader):
    """Inline rows only; the stored roots are given (the spans table is not in this store)."""

    def __init__(self, store: Store, written: set[str]) -> None:
        super().__init__(store)
        self.written = written
        self.asked = 0

    async def written_roots(self, job: EvalJob) -> set[str]:
        self.asked += 1
        return self.written

    async def written_llm(self, job: EvalJob) -> frozenset[str]:
        return frozenset()  # heuristic cells write no llm rows


@pytest.fixture
async def eval_store(store: Store) -> Store:
    await apply_migrations(store, eval_tables.MIGRATIONS)
    return store


def _job(trials: int = 2) -> EvalJob:
    return EvalJob(
        job_id=str(uuid.uuid4()),
        org_id="org-a",
        project_id="p1",
        experiment_id=str(uuid.uuid4()),
        requested_by="u1",
        data=DatasetRef(rows=ROWS),
        task=FunctionRef(global_function="ExactMatch"),
        scorers=[FunctionRef(global_function=n) for n in SCORERS],
        trial_count=trials,
    )


def _record(job: EvalJob) -> JobRecord:
    """The job's row as the launch writes it (queued, no worker yet)."""
    return JobRecord(
        org_id=job.org_id,
        id=job.job_id,
        project_id=job.project_id,
        experiment_id=job.experiment_id,
        experiment_name="exp",
        status="queued",
        job="{}",
        created=now(),
        total=len(ROWS) * job.trial_count,
    )


async def _run(
    store: Store,
    job: EvalJob,
    functions: RunnerFunctions,
    *,
    status: str = "queued",
    written: frozenset[str] = frozenset(),
) -> tuple[RecordingBus, JobRecord, Reader, JobRunner]:
    jobs = JobStore(store)
    rec = _record(job)
    if status == "running":  # a worker held it and died (its lease is stale at once here)
        rec = with_progress(rec, status="running", owner="dead-worker", started=now(), done=3)
    await jobs.save(rec)
    bus = RecordingBus()
    await bus.start()
    reader = Reader(store, set(written))
    settings = EvalSettings(inline_chunk_cells=3, lease_stale_s=0.01, writer_wait_s=1.0)
    runner = JobRunner(jobs, reader, functions, bus, XactIdGenerator(), settings)
    await runner.run(job)
    got = await jobs.get(job.org_id, job.job_id)
    assert got is not None
    return bus, got, reader, runner


def _published(bus: RecordingBus) -> list[list[dict[str, Any]]]:
    """The rows of each publish on `loopline.rows`, in order."""
    out = []
    for topic, msgs in bus.published:
        if topic == rows_topic.TOPIC:
            out.append([rows_topic.decode(m.value).row for m in msgs])
    return out


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A row without what depends on when it ran."""
    return {k: v for k, v in row.items() if k not in ("metrics", "created")}


async def test_heuristic_jobs_run_inline_and_write_the_rows_of_the_concurrent_path(eval_store: Store) -> None:
    runner = FunctionRunner(None)  # type: ignore[arg-type]  # heuristics need no models
    job = _job()
    bus, rec, reader, _ = await _run(eval_store, job, RunnerFunctions(runner))
    assert (rec.status, rec.done, rec.total, rec.errored) == ("succeeded", 14, 14, 0)
    assert reader.asked == 0  # a fresh job has nothing to resume
    publishes = _published(bus)
    # chunks of 3 cells: ceil(14 / 3) = 5 chunks, each children then roots
    assert len(publishes) == 10
    seen_at: dict[str, int] = {}
    for i, rows in enumerate(publishes):
        for r in rows:
            assert r["id"] not in seen_at
            seen_at[r["id"]] = i
    for key in range(len(ROWS)):
        for trial in range(2):
            ids = cell_ids(job.experiment_id, f"#{key}", trial, len(SCORERS))
            assert all(seen_at[c] < seen_at[ids.root] for c in ids.all_row_ids[1:])
    assert len(seen_at) == 14 * 5

    # the same job on the concurrent path writes the same rows (ids, shapes, scores)
    bus2, rec2, _, _ = await _run(eval_store, job, NotInline(runner))
    assert rec2.status == "succeeded" and rec2.done == 14
    inline_rows = {r["id"]: _comparable(r) for rows in publishes for r in rows}
    concurrent_rows = {r["id"]: _comparable(r) for rows in _published(bus2) for r in rows}
    assert inline_rows == concurrent_rows
    assert orjson.dumps(inline_rows[cell_ids(job.experiment_id, "#1", 0, 3).scores[1][0]])  # JSON-able


async def test_a_job_taken_over_skips_the_cells_whose_root_is_stored(eval_store: Store) -> None:
    runner = FunctionRunner(None)  # type: ignore[arg-type]
    job = _job(trials=1)
    done = {root_id(job.experiment_id, f"#{i}", 0) for i in (0, 2, 3)}
    bus, rec, reader, _ = await _run(
        eval_store, job, RunnerFunctions(runner), status="running", written=frozenset(done)
    )
    assert reader.asked == 1
    assert (rec.status, rec.done, rec.total) == ("succeeded", 7, 7)
    roots = {r["id"] for rows in _published(bus) for r in rows if r["span_parents"] is None}
    assert roots == {root_id(job.experiment_id, f"#{i}", 0) for i in (1, 4, 5, 6)}


async def test_a_waiter_is_woken_when_the_job_ends_here(eval_store: Store) -> None:
    runner = FunctionRunner(None)  # type: ignore[arg-type]
    job = _job(trials=1)
    jobs = JobStore(eval_store)
    worker = JobRunner(
        jobs,
        Reader(eval_store, set()),
        RunnerFunctions(runner),
        RecordingBus(),
        XactIdGenerator(),
        EvalSettings(),
    )
    ended = worker.ended(job.org_id, job.job_id)
    assert worker.ended(job.org_id, job.job_id) is ended and not ended.is_set()
    await worker.bus.start()
    await jobs.save(_record(job))
    await worker.run(job)
    assert ended.is_set()
    rec = await jobs.get(job.org_id, job.job_id)
    assert rec is not None and rec.status == "succeeded"
