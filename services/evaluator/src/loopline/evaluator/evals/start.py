"""Builds server-side evals for the evaluator's `start`: the job store, the launcher, and the job
workers consuming `loopline.eval.jobs` (unless `evals.workers` is 0)."""

from __future__ import annotations

from loopline.common.service import ServiceContext, Worker
from loopline.evaluator.evals.data import DataReader
from loopline.evaluator.evals.functions import CellFunctions
from loopline.evaluator.evals.job_store import JobStore
from loopline.evaluator.evals.launch import Launcher
from loopline.evaluator.evals.settings import EvalSettings
from loopline.evaluator.evals.state import EvalsState
from loopline.evaluator.evals.worker import JobRunner, JobWorkers


async def start_evals(ctx: ServiceContext, functions: CellFunctions) -> tuple[EvalsState, list[Worker]]:
    store = ctx.require_store()
    settings = ctx.settings.section(EvalSettings)
    jobs = JobStore(store)
    data = DataReader(store)
    launcher = Launcher(jobs, data, functions, ctx.bus, ctx.xact, settings)
    workers: list[Worker] = []
    runner = None
    if settings.workers > 0:
        runner = JobRunner(jobs, data, functions, ctx.bus, ctx.xact, settings)
        job_workers = JobWorkers(runner)
        await job_workers.start(ctx.bus, settings.workers)
        workers.append(job_workers)
    return EvalsState(jobs, launcher, ctx.service_calls, settings, runner), workers
