"""A small kit to build consumers from steps (in the spirit of Sentry's Arroyo; no code of it).

A consumer is a `Pipeline`: a chain of steps, each taking a batch and handing a batch on, run
once per bus batch, and used directly as the bus handler. Parts:

- `batch.py`     `Batch` (a value plus the run's rejects) and `Invalid(message, reason)`, the one
                 way to send a message to the dead-letter sink;
- `step.py`      the `Step` contract (`submit / room / join / close`), `Rejected` (backpressure)
                 with `submit_waiting`, and the stock `RunTask`, `Done`, `Collect`;
- `hand_off.py`  `BoundedHandOff`: the rest of the chain in the background, `depth` batches at once;
- `pipeline.py`  `Pipeline`, the step factories `run_task`, `decode` (with a topic contract),
                 `hand_off`, and the dead-letter sink's type.

Every step is timed (`loopline_pipeline_step_seconds`), every wait for room is measured
(`loopline_pipeline_backpressure_seconds_total`), every dead letter counted
(`loopline_dead_letters_total`); see `loopline.common.metrics`. A step is tested alone: call its
function with a `Batch`, or run a one-step `Pipeline` ending in `Collect` — no broker needed.
"""

from loopline.common.pipeline.batch import Batch, Invalid, Keyed
from loopline.common.pipeline.hand_off import BoundedHandOff
from loopline.common.pipeline.pipeline import (
    DeadLetterSink,
    Pipeline,
    StepFactory,
    decode,
    hand_off,
    run_task,
)
from loopline.common.pipeline.step import Collect, Done, Rejected, RunTask, Step, submit_waiting

__all__ = [
    "Batch",
    "BoundedHandOff",
    "Collect",
    "DeadLetterSink",
    "Done",
    "Invalid",
    "Keyed",
    "Pipeline",
    "Rejected",
    "RunTask",
    "Step",
    "StepFactory",
    "decode",
    "hand_off",
    "run_task",
    "submit_waiting",
]
