"""`loopline.eval.jobs`: run one experiment server-side (`POST /v1/eval`, spec §5.1).

The evaluator's API creates the experiment, resolves every name to an id (project, dataset,
functions by project + slug stay as given: the worker resolves them against the function store
at run time), then publishes one `EvalJob`; an evaluator worker consumes it, runs the task on each
dataset row times `trial_count`, scores each output with every scorer, and publishes the results as
ordinary rows on `loopline.rows` (root `eval` span, `task` child, one `score` child per scorer).

Value (schema 1): the JSON of `EvalJob` (pydantic; unknown fields are refused, so a producer
newer than a consumer fails loudly instead of being half-understood). Key: the experiment id, so
redeliveries of a job land in one partition, in order. The worker must be idempotent per
experiment: rows it writes carry ids derived from (experiment, dataset row, trial, scorer).
"""

from __future__ import annotations

from typing import Any, Literal

from loopline.common.messages.contract import EVALUATOR, MessageDecodeError, TopicContract
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TOPIC = "loopline.eval.jobs"
SCHEMA_VERSION = 1
PRODUCERS = (EVALUATOR,)  # the evaluator's API (`/v1/eval`, the loop-agent's run-eval tool)
CONSUMERS = (EVALUATOR,)  # the evaluator's job workers

_STRICT = ConfigDict(extra="forbid", frozen=True)


class FunctionRef(BaseModel):
    """A function to call as the task or as a scorer: exactly one selector of spec §4.1.

    `function_id` (+ `version`) · `project_name` + `slug` (+ `version`) · `global_function`
    (autoevals by name, `function_type` default scorer) · `prompt_session_id` +
    `prompt_session_function_id` · `inline_code` (+ `inline_runtime`, e.g. `{"runtime": "python",
    "version": "3.12"}`) · `inline_prompt` (prompt data, §2.3).
    """

    model_config = _STRICT

    function_id: str | None = None
    project_name: str | None = None
    slug: str | None = None
    version: str | None = None
    global_function: str | None = None
    function_type: str | None = None
    prompt_session_id: str | None = None
    prompt_session_function_id: str | None = None
    inline_code: str | None = None
    inline_runtime: dict[str, str] | None = None
    inline_prompt: dict[str, Any] | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> FunctionRef:
        chosen = [
            sel
            for sel, present in (
                ("function_id", self.function_id is not None),
                ("project_name+slug", self.project_name is not None or self.slug is not None),
                ("global_function", self.global_function is not None),
                ("prompt_session", self.prompt_session_id is not None),
                ("inline_code", self.inline_code is not None),
                ("inline_prompt", self.inline_prompt is not None),
            )
            if present
        ]
        if len(chosen) != 1:
            raise ValueError(f"a function reference needs exactly one selector, got {chosen or 'none'}")
        if chosen[0] == "project_name+slug" and (self.project_name is None or self.slug is None):
            raise ValueError("a function by slug needs both project_name and slug")
        if chosen[0] == "prompt_session" and self.prompt_session_function_id is None:
            raise ValueError("a prompt-session function needs prompt_session_function_id")
        return self


class DatasetRef(BaseModel):
    """The eval's data: a stored dataset (read as of `version`, the newest when None), or inline
    rows (`{input, expected?, metadata?, tags?}` each). Names are resolved before publishing."""

    model_config = _STRICT

    dataset_id: str | None = None
    #: the project the dataset belongs to (it may be another project of the org than the eval's)
    dataset_project_id: str | None = None
    version: str | None = None
    rows: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DatasetRef:
        if (self.dataset_id is None) == (self.rows is None):
            raise ValueError("eval data needs exactly one of dataset_id or rows")
        if self.rows is not None and self.version is not None:
            raise ValueError("a version applies to a stored dataset only")
        return self


class EvalJob(BaseModel):
    """One server-side eval run: the experiment to fill, the data, the task and the scorers."""

    model_config = _STRICT

    kind: Literal["eval"] = "eval"
    #: the job's id (`GET /v1/eval/{id}`); its row in the evaluator's `eval_jobs` table
    job_id: str
    experiment_id: str
    org_id: str
    project_id: str
    #: who launched it (user id); the worker acts with that user's permissions
    requested_by: str
    #: that user's role in the org when launching (`Principal.role`)
    requested_role: str = "owner"
    data: DatasetRef
    task: FunctionRef
    scorers: list[FunctionRef] = Field(min_length=1)
    #: the eval's parameters (`parameters` of `/v1/eval`), passed to the task as given
    parameters: dict[str, Any] = Field(default_factory=dict)
    #: a template path (e.g. `input.messages`) naming messages appended to a prompt task's, per row
    extra_messages: str | None = None
    #: a template variable a prompt task names but the row lacks fails the cell
    strict: bool = False
    trial_count: int = Field(default=1, ge=1)
    #: cells (row, trial) run at once; None = no limit
    max_concurrency: int | None = Field(default=10, ge=1)
    #: the whole eval's time limit from the job's first start, in milliseconds (cells not done by
    #: then are cancelled and the job fails, saying so)
    timeout_ms: int | None = Field(default=None, ge=1)
    base_experiment_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: InvokeParent export for tracing (spec §4.1), when the launcher asked for one
    parent: str | dict[str, Any] | None = None
    #: the xact id of the `/v1/eval` request, so reruns of a redelivered job are recognised
    requested_xact_id: str | None = None


def key(job: EvalJob) -> bytes:
    return job.experiment_id.encode()


def encode(job: EvalJob) -> bytes:
    return job.model_dump_json(exclude_none=True).encode()  # absent and null read the same


def decode(value: bytes) -> EvalJob:
    try:
        return EvalJob.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise MessageDecodeError(f"not an eval job: {where}: {first.get('msg', '')}") from exc


CONTRACT: TopicContract[EvalJob] = TopicContract(
    name=TOPIC,
    schema_version=SCHEMA_VERSION,
    producers=PRODUCERS,
    consumers=CONSUMERS,
    key=key,
    encode=encode,
    decode=decode,
    partitions=lambda n: max(1, n // 2),
)
