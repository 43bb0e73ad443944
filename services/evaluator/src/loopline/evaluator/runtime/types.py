"""The runtime's values: what a run returns (`RunResult`, `Score`), what a scorer gets
(`ScorerArgs`), the events a streamed run emits (`InvokeEvent`), and the shape of a function the
runner can execute (`FunctionDef`: fn-store's `FunctionRecord` fits it, and so does the runner's
own `InlineFunction` for inline prompts, inline code and global functions)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import FunctionRef

Mode = Literal["auto", "json", "text", "parallel"]
MODES: tuple[str, ...] = ("auto", "json", "text", "parallel")

EventName = Literal[
    "start", "text_delta", "reasoning_delta", "json_delta", "progress", "console", "error", "done"
]


@dataclass(frozen=True)
class Score:
    """One score of a scorer. `error` says why the scorer produced no score (its own failure:
    a provider error, a code error, an unreadable answer); `score` is then None."""

    name: str
    score: float | None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    #: the scorer's model calls (`prompts.ModelCall`), on its first score: an eval writes them as
    #: `llm` spans under the score span
    calls: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def as_output(self) -> dict[str, Any]:
        """What invoke answers for a scorer (the SDK's Eval keys the score by `name`)."""
        return {"name": self.name, "score": self.score, "metadata": self.metadata}


@dataclass(frozen=True)
class RunResult:
    """A function's output, or why it failed (`error`, with the HTTP status an invoke answers:
    `error_status`). `usage`: prompt_tokens, completion_tokens, tokens, estimated_cost."""

    output: Any
    error: str | None = None
    usage: dict[str, float] = field(default_factory=dict)
    error_status: int | None = None
    #: the run's model calls (`prompts.ModelCall`), in order: what its `llm` spans record
    calls: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ScorerArgs:
    """What a scorer is called with. `extra` holds other keyword arguments a scorer may take
    (e.g. `criteria` of ClosedQA); `trace` the SDK's `trace_ref` when it sent one."""

    input: Any = None
    output: Any = None
    expected: Any = None
    metadata: dict[str, Any] | None = None
    trace: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_kwargs(self) -> dict[str, Any]:
        return {
            **self.extra,
            "input": self.input,
            "output": self.output,
            "expected": self.expected,
            "metadata": self.metadata or {},
        }

    @staticmethod
    def from_invoke_input(value: Any) -> ScorerArgs:
        """A scorer invoked through `/function/invoke` gets all its kwargs as the input object."""
        if not isinstance(value, dict):
            return ScorerArgs(output=value)
        known = {"input", "output", "expected", "metadata", "trace"}
        meta = value.get("metadata")
        return ScorerArgs(
            input=value.get("input"),
            output=value.get("output"),
            expected=value.get("expected"),
            metadata=meta if isinstance(meta, dict) else None,
            trace=value.get("trace"),
            extra={k: v for k, v in value.items() if k not in known},
        )


@dataclass(frozen=True)
class InvokeEvent:
    """One event of a streamed run (spec §4.3). `data` is the payload before SSE encoding: a str
    for text_delta/reasoning_delta/error, raw JSON text for json_delta, an object for
    progress/console, None for start/done."""

    event: EventName
    data: Any = None


OnEvent = Callable[[InvokeEvent], Awaitable[None]]


class FunctionDef(Protocol):
    """The fields of a function the runner reads (spec §2.1)."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def function_type(self) -> str | None: ...
    @property
    def function_data(self) -> dict[str, Any]: ...
    @property
    def prompt_data(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class InlineFunction:
    """A function that is not stored: an inline prompt, inline code or a global function."""

    name: str
    function_data: dict[str, Any]
    prompt_data: dict[str, Any] | None = None
    function_type: str | None = None
    id: str = ""
    project_id: str = ""
    slug: str = ""


class FunctionResolver(Protocol):
    """Finds a stored function (fn-store's `FunctionStore.resolve`): NotFound / Invalid."""

    async def resolve(self, principal: Principal, ref: FunctionRef) -> Any: ...


def xact_of(fn: Any) -> str | None:
    """The version of a stored function (`FunctionRecord.xact_id`), if it has one."""
    v = getattr(fn, "xact_id", None) or getattr(fn, "_xact_id", None)
    return str(v) if v else None
