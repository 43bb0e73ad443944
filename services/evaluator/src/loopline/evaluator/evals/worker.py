"""The eval job worker: consumes `loopline.eval.jobs` and runs each job's cells.

A job = the data rows x `trial_count` cells. For each cell: the task, then every scorer (at
once), then the cell's rows (cell_rows.py) through the `RowSink`. Cells run at most
`max_concurrency` at once per job and `max_cells_in_flight` per process.

When the task and every scorer run inline (heuristic autoevals scorers: synchronous,
microseconds, no I/O; `CellFunctions.inline`), a task per cell and a gather per scorer call
would cost more than the work. Such jobs run their cells one after the other in chunks of
`inline_chunk_cells`, and write each chunk's rows with one sink write (two bus publishes)
while the next chunk is computed. The rows and their ids are the same either way.

Delivery and recovery: the consumer commits a job's message only once the job reached an
outcome (succeeded, failed, cancelled). A worker killed mid-job leaves the message
uncommitted, so the bus redelivers it (to another member, or to this process restarted); that
run waits until the old worker's lease (`owner` + `heartbeat` of the job row) is stale, waits
for the writer to have stored every row already published, and skips the cells whose root row
is stored. Rows are keyed by (experiment, data row, trial, part), so a cell run twice writes
the same rows again and never adds any. A stopping worker (SIGTERM) interrupts its jobs without
committing them: they resume the same way.

Cancellation: `POST /v1/eval/{id}/cancel` writes a request that a running job sees within
`cancel_poll_s` (at once when it runs in the API's process); it stops starting cells, drops
the ones in flight and ends `cancelled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loopline.common.auth import Principal
from loopline.common.bus import Bus, ConsumerOptions, Message
from loopline.common.errors import Problem
from loopline.common.logging import get_logger
from loopline.common.messages import eval_jobs
from loopline.common.messages.eval_jobs import EvalJob
from loopline.common.pipeline import Batch, Invalid, Pipeline, decode, run_task
from loopline.common.progress import wait_for_writer
from loopline.evaluator.evals.cell_rows import (
    CellIds,
    DataRow,
    ScoreResult,
    TaskResult,
    Timed,
    cell_ids,
    cell_rows,
    stale_llm_deletes,
)
from loopline.evaluator.evals.deps import EvalDeps
from loopline.evaluator.evals.functions import TaskOptions
from loopline.evaluator.evals.job_store import MAX_ERRORS, JobRecord, now, with_progress
from loopline.evaluator.evals.parent import EvalParent, cell_seed, rows_target
from loopline.evaluator.evals.row_sink import RowSink

log = get_logger(__name__)
GROUP = "evaluator-eval-jobs"
TIMED_OUT = "timed_out"  # an outcome of running the cells (`_outcome`): the job ends `failed`, saying so


class JobInterrupted(Exception):
    """This worker is stopping: the job's message stays uncommitted and resumes elsewhere."""


@dataclass
class _Progress:
    done: int = 0
    errored: int = 0
    errors: list[str] = field(default_factory=list)

    def failed(self, what: str) -> None:
        self.errored += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(what[:1000])


@dataclass(frozen=True)
class _Fns:
    task: Any
    scorers: tuple[tuple[Any, str], ...]  # (resolved scorer, span name)
    options: TaskOptions = field(default_factory=TaskOptions)
    parent: EvalParent | None = None  # the object / span the cells fill instead of an experiment
    stored_llm: frozenset[str] = frozenset()  # a resumed job's llm rows already stored


@dataclass(frozen=True)
class _JobRun:
    """A job's pending cells and what running them takes: the argument of either way of
    running them (`_run_cells` at once, `_run_inline` one after the other)."""

    job: EvalJob
    principal: Principal
    fns: _Fns
    pending: list[tuple[DataRow, int, CellIds]]
    sink: RowSink
    cancel: asyncio.Event
    progress: _Progress
    time_left_s: float | None = None  # of the eval's whole-run limit; None without one


def _principal(job: EvalJob) -> Principal:
    role = job.requested_role if job.requested_role in ("viewer", "member", "admin", "owner") else "viewer"
    return Principal(org_id=job.org_id, user_id=job.requested_by, role=role)  # type: ignore[arg-type]


def _score_output(scores: Sequence[Any]) -> Any:
    """The score span's output, as the SDK logs it: the score's fields but name and metadata
    (one score), or those fields by name (several)."""

    def fields(s: Any) -> dict[str, Any]:
        return {"score": s.score}

    return fields(scores[0]) if len(scores) == 1 else {s.name: fields(s) for s in scores}


@dataclass(eq=False)  # the fields of EvalDeps, and __post_init__ called
class JobRunner(EvalDeps):
    """Runs eval jobs; shared by every consumer member of the process."""

    def __post_init__(self) -> None:
        self.worker_id = uuid.uuid4().hex
        self.cells = asyncio.Semaphore(self.settings.max_cells_in_flight)
        self.stopping = asyncio.Event()
        self._cancels: dict[tuple[str, str], asyncio.Event] = {}  # jobs running here
        self._here: dict[tuple[str, str], asyncio.Event] = {}  # jobs handled here (set: done)
        # wake-ups for whoever waits on a job's outcome in this process (`ended`)
        self._ended: weakref.WeakValueDictionary[tuple[str, str], asyncio.Event] = (
            weakref.WeakValueDictionary()
        )

    # -- the consumer's step -------------------------------------------------------------------
    async def handle(self, batch: Batch[list[EvalJob]]) -> int:
        results = await asyncio.gather(*(self.run(j) for j in batch.value), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r  # nothing of the batch is committed: the bus redelivers it
        return len(batch.value)

    def cancel_here(self, org_id: str, job_id: str) -> bool:
        """Cancel a job running in this process at once (True when it runs here)."""
        ev = self._cancels.get((org_id, job_id))
        if ev is not None:
            ev.set()
        return ev is not None

    async def stop(self) -> None:
        self.stopping.set()

    def ended(self, org_id: str, job_id: str) -> asyncio.Event:
        """An event set when this process stops handling the job (it ended, or was interrupted):
        a hint for a waiter to read the job's record now instead of at its next poll. Held by
        the waiter only (weakly here), so waiting on a job that runs elsewhere leaks nothing."""
        key = (org_id, job_id)
        ev = self._ended.get(key)
        if ev is None:
            ev = self._ended[key] = asyncio.Event()
        return ev

    # -- one job -------------------------------------------------------------------------------
    async def run(self, job: EvalJob) -> None:
        key = (job.org_id, job.job_id)
        while key in self._here:  # delivered again to another member of this process (a
            await self._here[key].wait()  # rebalance): let the run in hand finish it first
        done = self._here[key] = asyncio.Event()
        try:
            await self._run(job)
        finally:
            self._here.pop(key, None)
            done.set()
            ended = self._ended.get(key)
            if ended is not None:
                ended.set()

    async def _run(self, job: EvalJob) -> None:
        rec = await self.jobs.get(job.org_id, job.job_id)
        if rec is None:  # the launch writes the row before publishing: a store reset; run anyway
            rec = JobRecord(
                org_id=job.org_id,
                id=job.job_id,
                project_id=job.project_id,
                experiment_id=job.experiment_id,
                experiment_name="",
                status="queued",
                job=eval_jobs.encode(job).decode(),
                created=now(),
                requested_by=job.requested_by,
            )
        if rec.terminal:
            return  # a redelivery of a finished job
        rec = await self._acquire(rec)
        if rec is None:
            return
        if rec.cancel_requested:
            await self.jobs.save(with_progress(rec, status="cancelled", finished=now(), owner=self.worker_id))
            return
        resumed = rec.started is not None  # an earlier run may have written some of its rows
        rec = with_progress(rec, status="running", owner=self.worker_id, started=rec.started or now())
        await self.jobs.save(rec)
        key = (job.org_id, job.job_id)
        cancel = self._cancels[key] = asyncio.Event()
        try:
            await self._run_job(job, rec, cancel, resumed)
        finally:
            self._cancels.pop(key, None)

    async def _acquire(self, rec: JobRecord) -> JobRecord | None:
        """Wait while another live worker holds the job (a rebalance handed it to us too);
        None when that worker finished it meanwhile."""
        while (
            rec.status == "running"
            and rec.owner
            and rec.owner != self.worker_id
            and (now() - rec.heartbeat).total_seconds() < self.settings.lease_stale_s
        ):
            if self.stopping.is_set():
                raise JobInterrupted("worker stopping")
            await asyncio.sleep(min(1.0, self.settings.lease_stale_s / 4))
            got = await self.jobs.get(rec.org_id, rec.id)
            if got is None or got.terminal:
                return None
            rec = got
        if rec.owner and rec.owner != self.worker_id and rec.status == "running":
            log.info("eval job taken over from a stale worker", job_id=rec.id, previous=rec.owner)
        return rec

    async def _prepare(self, job: EvalJob, principal: Principal) -> _Fns:
        task = await self.functions.resolve(principal, job.task)
        scorers = []
        for ref in job.scorers:
            fn = await self.functions.resolve(principal, ref)
            scorers.append((fn, self.functions.display_name(fn, ref)))
        return _Fns(task, tuple(scorers), TaskOptions.of(job), EvalParent.of_job(job))

    async def _run_job(
        self, job: EvalJob, rec: JobRecord, cancel: asyncio.Event, resumed: bool = False
    ) -> None:
        principal = _principal(job)
        try:
            fns = await self._prepare(job, principal)
            rows = await self.data.rows(job)
        except Problem as exc:  # a function or the dataset cannot be used: the job fails
            await self.jobs.save(with_progress(rec, status="failed", error=exc.message, finished=now()))
            return
        written: set[str] = set()
        # a job no worker started before has nothing to resume (a worker saves `started` before
        # its first cell): the checks below are for a run after a killed or stopped one
        if resumed:
            await wait_for_writer(self.bus, self.settings.writer_wait_s)  # rows a killed run published
            written = await self.data.written_roots(job)
            fns = dataclasses.replace(fns, stored_llm=await self.data.written_llm(job))
        n = len(job.scorers)
        cells = [
            (row, t, cell_ids(cell_seed(job), row.key, t, n)) for row in rows for t in range(job.trial_count)
        ]
        pending = [c for c in cells if c[2].root not in written]
        progress = _Progress(done=len(cells) - len(pending))
        rec = with_progress(rec, total=len(cells), done=progress.done)
        await self.jobs.save(rec)
        project_id, object_type, object_id = rows_target(job)
        sink = RowSink(
            self.bus,
            self.xact,
            job.org_id,
            project_id,
            object_id,
            max_rows=self.settings.publish_batch_rows,
            object_type=object_type,
        )
        watcher = asyncio.create_task(self._watch(job, rec, cancel, progress))
        run = _JobRun(job, principal, fns, pending, sink, cancel, progress, self._time_left(job, rec))
        try:
            if self.functions.inline(fns.task) and all(self.functions.inline(f) for f, _ in fns.scorers):
                outcome = await self._run_inline(run)
            else:
                outcome = await self._run_cells(run)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await sink.close()
        error = None
        if outcome == TIMED_OUT:  # the eval's whole-run limit: the cells not done end here
            outcome = "failed"
            error = (
                f"timed out: the eval's time limit (timeout {job.timeout_ms} ms) ran out with "
                f"{progress.done} of {rec.total} cells done; the other {rec.total - progress.done} "
                "were cancelled"
            )
        rec = with_progress(
            rec,
            status=outcome,
            done=progress.done,
            errored=progress.errored,
            errors=tuple(progress.errors),
            finished=now(),
            **({"error": error} if error else {}),
        )
        await self.jobs.save(rec)
        log.info(
            "eval job finished",
            job_id=job.job_id,
            experiment_id=job.experiment_id,
            status=outcome,
            done=progress.done,
            total=rec.total,
            errored=progress.errored,
        )

    def _time_left(self, job: EvalJob, rec: JobRecord) -> float | None:
        """Seconds left of the eval's whole-run limit (`timeout`, from the job's first start: a
        resumed job keeps its deadline); None without one."""
        if not job.timeout_ms:
            return None
        started = rec.started or now()
        return job.timeout_ms / 1000 - (now() - started).total_seconds()

    async def _watch(self, job: EvalJob, rec: JobRecord, cancel: asyncio.Event, progress: _Progress) -> None:
        """Writes progress (and the lease's heartbeat); notices cancellations from elsewhere."""
        interval = self.settings.progress_interval_s
        last_poll = time.monotonic()
        written = (-1, -1)
        last_beat = time.monotonic()
        while not cancel.is_set():
            await asyncio.sleep(interval)
            state = (progress.done, progress.errored)
            if state != written or time.monotonic() - last_beat > self.settings.lease_stale_s / 3:
                rec = with_progress(
                    rec, done=progress.done, errored=progress.errored, errors=tuple(progress.errors)
                )
                try:
                    await self.jobs.save(rec)
                    written, last_beat = state, time.monotonic()
                except Exception as exc:  # progress is advisory; the outcome is written at the end
                    log.warning("eval job progress not saved", job_id=job.job_id, error=repr(exc))
            if time.monotonic() - last_poll >= self.settings.cancel_poll_s:
                last_poll = time.monotonic()
                with contextlib.suppress(Exception):
                    if await self.jobs.cancel_requested(job.org_id, job.job_id):
                        cancel.set()

    async def _run_cells(self, run: _JobRun) -> str:
        window = asyncio.Semaphore(run.job.max_concurrency or self.settings.max_cells_in_flight)
        expired = asyncio.Event()  # the eval's whole-run limit ran out
        running: set[asyncio.Task[None]] = set()
        failure: list[BaseException] = []
        stop = asyncio.Event()  # cancelled, stopping, or a cell hit an error of the infrastructure

        def finished(t: asyncio.Task[None]) -> None:
            running.discard(t)
            window.release()
            if not t.cancelled() and t.exception() is not None:
                failure.append(t.exception())  # type: ignore[arg-type]
                stop.set()

        async def watch_stop() -> None:
            waits: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(e.wait()) for e in (run.cancel, self.stopping, stop)
            ]
            if run.time_left_s is not None:
                waits.append(asyncio.ensure_future(_expire(expired, run.time_left_s)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            stop.set()

        stopper = asyncio.create_task(watch_stop())
        try:
            for row, trial, ids in run.pending:
                slot = asyncio.ensure_future(window.acquire())
                await asyncio.wait({slot, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    if slot.done() and not slot.cancelled():
                        window.release()
                    slot.cancel()
                    break
                t = asyncio.create_task(self._cell(run, row, trial, ids))
                running.add(t)
                t.add_done_callback(finished)
            while running and not stop.is_set():
                await asyncio.wait(set(running) | {stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            for t in list(running):
                t.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if failure:
            raise failure[0]
        return self._outcome(run, expired.is_set())

    def _outcome(self, run: _JobRun, expired: bool) -> str:
        """How a run of the cells ended, after the last cell it started (either way of running
        them): cancelled, timed out, succeeded, or interrupted by this worker's stop (raised)."""
        if run.cancel.is_set():
            return "cancelled"
        if expired:
            return TIMED_OUT
        if self.stopping.is_set():
            raise JobInterrupted(f"worker stopping with job {run.job.job_id} at {run.progress.done} cells")
        return "succeeded"

    async def _cell(self, run: _JobRun, row: DataRow, trial: int, ids: CellIds) -> None:
        async with self.cells:
            rows, problems = await self._compute(run.principal, run.fns, row, ids, inline=False)
        await run.sink.write(rows[1:], rows[0])
        _tally(run.progress, row, trial, problems)

    async def _compute(
        self, principal: Principal, fns: _Fns, row: DataRow, ids: CellIds, *, inline: bool
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """One cell: its rows (root first) and its problems (task or scorer errors). Inline
        functions are awaited one after the other (they never yield), others at once."""
        timeout_s = self.settings.call_timeout_s  # per call; the eval's `timeout` bounds the run
        start = time.time()
        task = await self._task(principal, fns, row, timeout_s)
        scores: list[ScoreResult | None] = [None] * len(fns.scorers)
        if task.error is None:
            calls = (
                self._score(principal, fn, name, row, task.output, timeout_s) for fn, name in fns.scorers
            )
            scores = [await c for c in calls] if inline else list(await asyncio.gather(*calls))
        rows = cell_rows(ids, row, task, scores, Timed(start, time.time()))
        if fns.parent is not None:
            rows = fns.parent.adopt(rows)
        rows += stale_llm_deletes(ids, rows, fns.stored_llm)
        problems = [f"task: {task.error}"] if task.error else []
        problems += [f"scorer {s.name}: {s.error}" for s in scores if s is not None and s.error]
        return rows, problems

    async def _run_inline(self, run: _JobRun) -> str:
        """Cells of inline functions, one after the other in chunks of `inline_chunk_cells`:
        chunk k+1 is computed while chunk k's rows are published, and counts as done once the
        bus acknowledged it. Cancellation, stopping and the eval's time limit are seen between
        chunks (a chunk is a few milliseconds of work)."""
        size = self.settings.inline_chunk_cells
        deadline = None if run.time_left_s is None else time.monotonic() + run.time_left_s
        writing: asyncio.Task[None] | None = None
        in_hand: list[tuple[DataRow, int, list[str]]] = []  # the chunk being written
        expired = False

        async def settle() -> None:
            nonlocal writing, in_hand
            if writing is not None:
                await writing  # a failed publish fails the job over to redelivery
                for row, trial, problems in in_hand:
                    _tally(run.progress, row, trial, problems)
                writing, in_hand = None, []

        try:
            for i in range(0, len(run.pending), size):
                if run.cancel.is_set() or self.stopping.is_set():
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    expired = True
                    break
                cells: list[list[dict[str, Any]]] = []
                done: list[tuple[DataRow, int, list[str]]] = []
                for row, trial, ids in run.pending[i : i + size]:
                    rows, problems = await self._compute(run.principal, run.fns, row, ids, inline=True)
                    cells.append(rows)
                    done.append((row, trial, problems))
                await settle()
                writing, in_hand = asyncio.create_task(run.sink.write_cells(cells)), done
                await asyncio.sleep(0)  # the loop's other work (the writer, requests) gets a turn
            await settle()
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
        return self._outcome(run, expired)

    async def _task(
        self, principal: Principal, fns: _Fns, row: DataRow, timeout_s: float | None
    ) -> TaskResult:
        start = time.time()
        try:
            r = await self.functions.task(
                principal,
                fns.task,
                row.input,
                expected=row.expected,
                metadata=row.metadata,
                timeout_s=timeout_s,
                options=fns.options,
            )
        except (asyncio.CancelledError, JobInterrupted):
            raise
        except Problem as exc:
            return TaskResult(None, Timed(start, time.time()), error=exc.message)
        return TaskResult(r.output, Timed(start, time.time()), error=r.error, calls=tuple(r.calls))

    async def _score(
        self, principal: Principal, fn: Any, name: str, row: DataRow, output: Any, timeout_s: float | None
    ) -> ScoreResult:
        start = time.time()
        try:
            got = await self.functions.score(
                principal,
                fn,
                input=row.input,
                output=output,
                expected=row.expected,
                metadata=row.metadata,
                timeout_s=timeout_s,
            )
        except Problem as exc:
            return ScoreResult(name, {name: None}, None, {}, Timed(start, time.time()), error=exc.message)
        timed = Timed(start, time.time())
        errors = [s.error for s in got if s.error]
        metadata: dict[str, Any] = {}
        for s in got:
            metadata.update(s.metadata or {})
        span_name = got[0].name if len(got) == 1 else name
        return ScoreResult(
            span_name,
            {s.name: s.score for s in got} if got else {name: None},
            _score_output(got) if got else None,
            metadata,
            timed,
            error="; ".join(e for e in errors if e) or None,
            calls=tuple(c for s in got for c in getattr(s, "calls", ())),
        )


def _tally(progress: _Progress, row: DataRow, trial: int, problems: list[str]) -> None:
    """A cell is written: count it, and its problems."""
    progress.done += 1
    if problems:
        progress.failed(f"row {row.key} trial {trial}: " + "; ".join(problems))


async def _expire(expired: asyncio.Event, after_s: float) -> None:
    await asyncio.sleep(max(0.0, after_s))
    expired.set()


async def _log_dead_letters(invalid: Sequence[Invalid]) -> None:
    for d in invalid:
        log.warning("eval_job_dead_letter", reason=d.reason, key=d.message.key.decode(errors="replace"))


def build_pipeline(runner: JobRunner) -> Pipeline[list[Message]]:
    return Pipeline(
        "eval-jobs",
        [decode(eval_jobs.CONTRACT), run_task("run", runner.handle)],
        dead_letters=_log_dead_letters,
    )


@dataclass
class JobWorkers:
    """The consumer members of this process, stopped together with the runner's jobs."""

    runner: JobRunner
    consumers: list[Any] = field(default_factory=list)

    async def start(self, bus: Bus, members: int) -> None:
        pipeline = build_pipeline(self.runner)
        options = ConsumerOptions(
            max_batch=self.runner.settings.jobs_per_worker,
            max_wait_s=0.05,
            retry_backoff_s=1.0,
            retry_backoff_max_s=10.0,
            max_poll_interval_s=6 * 3600,  # a job may run for hours; liveness is the heartbeat's
        )
        for _ in range(members):
            self.consumers.append(await bus.subscribe(eval_jobs.TOPIC, GROUP, pipeline, options))

    async def stop(self) -> None:
        await self.runner.stop()  # running jobs end interrupted, uncommitted
        for c in self.consumers:
            await c.stop()
