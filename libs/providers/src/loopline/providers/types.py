"""Results of model calls. Chat bodies are in OpenAI's wire format whatever the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None: the model has no price in the table

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True)
class ChatResult:
    """One chat completion. `body` is the `chat.completion` object in OpenAI's format."""

    provider: str
    model: str
    body: dict[str, Any]
    usage: Usage
    attempts: int = 1

    @property
    def message(self) -> dict[str, Any]:
        choices = self.body.get("choices") or [{}]
        msg = choices[0].get("message") or {}
        return msg if isinstance(msg, dict) else {}

    @property
    def text(self) -> str | None:
        content = self.message.get("content")
        return content if isinstance(content, str) else None

    @property
    def tool_calls(self) -> list[ToolCall]:
        out = []
        for tc in self.message.get("tool_calls") or []:
            fn = tc.get("function") or {}
            out.append(ToolCall(str(tc.get("id", "")), str(fn.get("name", "")), str(fn.get("arguments", ""))))
        return out

    @property
    def finish_reason(self) -> str | None:
        choices = self.body.get("choices") or [{}]
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None


@dataclass(frozen=True)
class EmbeddingResult:
    """An embeddings call. `body` is OpenAI's `list` object, in the encoding that was asked for."""

    provider: str
    model: str
    body: dict[str, Any]
    usage: Usage
    attempts: int = 1


@dataclass(frozen=True)
class ModerationResult:
    provider: str
    model: str
    body: dict[str, Any]
    attempts: int = 1


Operation = Literal["chat", "stream", "embed", "moderate"]


@dataclass(frozen=True)
class CallRecord:
    """One finished model call, as `ModelClient(observer=...)` reports it (for metrics)."""

    provider: str
    kind: str  # the provider's kind: openai, anthropic, openai_compatible, azure
    model: str
    operation: Operation
    outcome: str  # "ok", or the ErrorKind of the failure
    seconds: float  # first attempt to answer (to the end of a stream), retries included
    attempts: int
    usage: Usage | None = None


@dataclass
class StreamTotals:
    """What a chat stream added up to, filled in while it is consumed."""

    text: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
