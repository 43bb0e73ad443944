"""What the eval launcher and the eval job runner are both built with (by `start_evals`)."""

from __future__ import annotations

from dataclasses import dataclass

from loopline.common.bus import Bus
from loopline.common.xact import XactIdGenerator
from loopline.evaluator.evals.data import DataReader
from loopline.evaluator.evals.functions import CellFunctions
from loopline.evaluator.evals.job_store import JobStore
from loopline.evaluator.evals.settings import EvalSettings


@dataclass(eq=False)  # compared (and hashed) by identity, as a plain class would be
class EvalDeps:
    jobs: JobStore
    data: DataReader
    functions: CellFunctions
    bus: Bus
    xact: XactIdGenerator
    settings: EvalSettings
