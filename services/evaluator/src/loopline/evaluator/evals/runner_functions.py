"""`CellFunctions` over fn-invoke's `FunctionRunner` (the seam of functions.py, filled)."""

from __future__ import annotations

from typing import Any

from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.evaluator.evals.extra_messages import MessagesError, messages_at
from loopline.evaluator.evals.functions import RunOutcome, ScoreOutcome, TaskOptions
from loopline.evaluator.runtime.prompts import template_variables
from loopline.evaluator.runtime.runner import FunctionRunner, display_name
from loopline.evaluator.runtime.types import RunResult, ScorerArgs


class RunnerFunctions:
    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner

    async def resolve(self, principal: Principal, ref: FunctionRef) -> Any:
        return await self.runner.resolve(principal, ref)

    def display_name(self, fn: Any, ref: FunctionRef) -> str:
        return ref.name or display_name(fn)

    def inline(self, fn: Any) -> bool:
        return self.runner.runs_inline(fn)

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
    ) -> RunOutcome:
        messages = None
        if options.extra_messages:
            variables = template_variables(input, metadata, expected, options.parameters)
            try:
                messages = messages_at(options.extra_messages, variables, strict=options.strict)
            except MessagesError as exc:
                return RunResult(None, str(exc), error_status=400)
        return await self.runner.run(
            principal,
            fn,
            input,
            expected=expected,
            metadata=metadata,
            timeout_s=timeout_s,
            strict=options.strict,
            messages=messages,
            parameters=options.parameters or None,
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
