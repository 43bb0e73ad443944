"""Server-side evals' settings: the `evals` settings section.

`LOOPLINE_EVALS__MAX_CELLS_IN_FLIGHT=256` (or `LOOPLINE_EVALS_MAX_CELLS_IN_FLIGHT`),
`[loopline.evals] max_cells_in_flight = 256` in the config file, or the default.
"""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class EvalSettings(SettingsSection):
    SECTION: ClassVar[str] = "evals"

    # job workers: members of the `loopline.eval.jobs` consumer group in this process (0: this
    # process runs no eval jobs, its `/v1/eval` only launches them), and jobs one member runs at once
    workers: int = Field(default=2, ge=0, le=64)
    jobs_per_worker: int = Field(default=4, ge=1, le=64)
    # cells (dataset row x trial) running at once in this process, over all its jobs; each job is
    # also bounded by its own `max_concurrency`
    max_cells_in_flight: int = Field(default=256, ge=1, le=10_000)
    # how often a running job writes its progress (and its lease's heartbeat) to the jobs table
    progress_interval_s: float = Field(default=0.5, gt=0, le=60)
    # how often a running job checks whether it was cancelled from another process
    cancel_poll_s: float = Field(default=1.0, gt=0, le=60)
    # a job whose worker has not written a heartbeat for this long is taken over by the worker
    # the bus redelivers it to (a killed worker's job resumes after at most this)
    lease_stale_s: float = Field(default=15.0, gt=0, le=3600)
    # cells' rows are published on `loopline.rows` together: a publish waits up to 5 ms for more
    # finished cells unless this many rows are waiting already
    publish_batch_rows: int = Field(default=500, ge=1, le=50_000)
    # cells whose task and scorers all run inline (heuristic scorers) run one after the other in
    # chunks of this many, each chunk's rows written in one publish while the next is computed
    inline_chunk_cells: int = Field(default=256, ge=1, le=10_000)
    # largest inline `data` of a `/v1/eval` (it travels in the job message): bigger data belongs
    # in a dataset
    max_inline_bytes: int = Field(default=900_000, ge=1_000, le=8_000_000)
    # each task and scorer call of an eval is limited to this (None: the runtime's
    # `invoke_timeout_s`); the request's `timeout` limits the whole eval
    call_timeout_s: float | None = Field(default=None, gt=0, le=3600)
    # a job waits this long for the writer to have committed earlier rows before resuming
    writer_wait_s: float = Field(default=30.0, gt=0, le=600)
