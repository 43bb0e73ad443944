"""How a job calls its task and scorers: the one seam between eval jobs and the function runtime.

`CellFunctions` is what the job worker needs (resolve a reference once per job, run the task,
run a scorer); `runtime.runner.FunctionRunner` (fn-invoke) provides it, adapted by
`runner_functions`. Nothing here runs a function itself.
"""

from __future__ import annotations

from typing import Any, Protocol

from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import FunctionRef


class RunOutcome(Protocol):
    """A task's result (`runtime.types.RunResult`)."""

    @property
    def output(self) -> Any: ...
    @property
    def error(self) -> str | None: ...
    @property
    def usage(self) -> dict[str, float]: ...


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

    async def task(
        self,
        principal: Principal,
        fn: Any,
        input: Any,
        *,
        expected: Any,
        metadata: dict[str, Any],
        timeout_s: float | None,
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


def ref_name(ref: FunctionRef) -> str:
    """A reference's own name, when it has one (before any lookup)."""
    return ref.name or ref.global_function or ref.slug or ref.function_id or "scorer"
