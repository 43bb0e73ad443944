"""How a job calls its task and scorers: the one seam between eval jobs and the function runtime.

`CellFunctions` is what the job worker needs (resolve a reference once per job, run the task,
run a scorer); `runtime.runner.FunctionRunner` (fn-invoke) provides it, adapted by
`runner_functions`. Nothing here runs a function itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import EvalJob, FunctionRef


@dataclass(frozen=True)
class TaskOptions:
    """What the eval's request says about running its task, the same for every cell:
    `parameters` (a prompt's template variables, a code function's `parameters` argument),
    `extra_messages` (a template path naming messages appended to a prompt's, per row) and
    `strict` (a missing template variable fails the cell)."""

    parameters: dict[str, Any] = field(default_factory=dict)
    extra_messages: str | None = None
    strict: bool = False

    @staticmethod
    def of(job: EvalJob) -> TaskOptions:
        return TaskOptions(job.parameters, job.extra_messages, job.strict)


class RunOutcome(Protocol):
    """A task's result (`runtime.types.RunResult`)."""

    @property
    def output(self) -> Any: ...
    @property
    def error(self) -> str | None: ...
    @property
    def usage(self) -> dict[str, float]: ...
    @property
    def calls(self) -> tuple[Any, ...]:
        """The model calls of the run (`runtime.prompts.ModelCall`), for its `llm` spans."""
        ...


class ScoreOutcome(Protocol):
    """One score of a scorer (`runtime.types.Score`)."""

    @property
    def name(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def error(self) -> str | None: ...


class CellFunctions(Protocol):
    async def resolve(self, principal: Principal, ref: FunctionRef) -> Any:
        """What to run for `ref` (a stored function is looked up once per job); raises the
        domain errors NotFound / Invalid when it cannot be run at all."""
        ...

    def display_name(self, fn: Any, ref: FunctionRef) -> str:
        """The scorer's span name (its returned score names may differ)."""
        ...

    def inline(self, fn: Any) -> bool:
        """True when `task`/`score` of `fn` is synchronous in-process work (no I/O, never yields
        to the loop): the worker then runs such cells one after the other, without a task each."""
        ...

    async def task(
        self,
        principal: Principal,
        fn: Any,
        input: Any,
        *,
        expected: Any,
        metadata: dict[str, Any],
        timeout_s: float | None,
        options: TaskOptions,
    ) -> RunOutcome: ...

    async def score(
        self,
        principal: Principal,
        fn: Any,
        *,
        input: Any,
        output: Any,
        expected: Any,
        metadata: dict[str, Any],
        timeout_s: float | None,
    ) -> list[ScoreOutcome]: ...


def is_prompt(fn: Any) -> bool:
    """Whether a resolved function is an LLM prompt (`function_data.type` prompt)."""
    data = getattr(fn, "function_data", None) or {}
    return data.get("type") == "prompt" or (
        data.get("type") is None and bool(getattr(fn, "prompt_data", None))
    )


def ref_name(ref: FunctionRef) -> str:
    """A reference's own name, when it has one (before any lookup)."""
    return ref.name or ref.global_function or ref.slug or ref.function_id or "scorer"
