"""What the eval routes use, built once by `start_evals` (the evaluator's `State.evals`)."""

from __future__ import annotations

from dataclasses import dataclass

from loopline.common.service_calls import ServiceCalls
from loopline.evaluator.evals.job_store import JobStore
from loopline.evaluator.evals.launch import Launcher
from loopline.evaluator.evals.settings import EvalSettings
from loopline.evaluator.evals.worker import JobRunner


@dataclass(frozen=True)
class EvalsState:
    jobs: JobStore
    launcher: Launcher
    # the gateway's API as the caller (experiments, datasets by name, the query service's
    # summaries); None when this process has neither the gateway nor its URL
    calls: ServiceCalls | None
    settings: EvalSettings
    runner: JobRunner | None  # None when this process runs no eval jobs (`evals.workers = 0`)
