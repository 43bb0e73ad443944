"""`CellFunctions` over fn-invoke's `FunctionRunner` (the seam of functions.py, filled)."""

from __future__ import annotations

from typing import Any

from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.evaluator.evals.functions import RunOutcome, ScoreOutcome
from loopline.evaluator.runtime.runner import FunctionRunner, display_name
from loopline.evaluator.runtime.types import ScorerArgs


class RunnerFunctions:
    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner

    async def resolve(self, principal: Principal, ref: FunctionRef) -> Any:
        return await self.runner.resolve(principal, ref)

    def display_name(self, fn: Any, ref: FunctionRef) -> str:
        return ref.name or display_name(fn)

    async def task(
        self,
        principal: Principal,
        fn: Any,
        input: Any,
        *,
        expected: Any,
        metadata: dict[str, Any],
        timeout_s: float | None,
    ) -> RunOutcome:
        return await self.runner.run(
            principal, fn, input, expected=expected, metadata=metadata, timeout_s=timeout_s
        )

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
    ) -> list[ScoreOutcome]:
        args = ScorerArgs(input=input, output=output, expected=expected, metadata=metadata)
        return list(await self.runner.score(principal, fn, args, timeout_s=timeout_s))
