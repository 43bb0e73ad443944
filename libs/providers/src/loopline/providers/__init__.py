"""Model providers for every Loopline service: OpenAI, Anthropic and OpenAI-compatible endpoints
(vLLM, Ollama, llama.cpp, Azure) behind one client (`ModelClient`) that speaks OpenAI's chat
format, with routing by model name, timeouts, retries, concurrency limits and cost accounting."""

from loopline.providers.client import ChatStream, ModelClient, Route, Totals, UsageMeter
from loopline.providers.config import ProviderConfig, ProviderKind
from loopline.providers.errors import ErrorKind, ProviderError
from loopline.providers.prices import DEFAULT_PRICES, Price, PriceTable
from loopline.providers.retry import RetryPolicy, retry_after_seconds
from loopline.providers.types import (
    CallRecord,
    ChatResult,
    EmbeddingResult,
    ModerationResult,
    ToolCall,
    Usage,
)

__all__ = [
    "DEFAULT_PRICES",
    "CallRecord",
    "ChatResult",
    "ChatStream",
    "EmbeddingResult",
    "ErrorKind",
    "ModelClient",
    "ModerationResult",
    "Price",
    "PriceTable",
    "ProviderConfig",
    "ProviderError",
    "ProviderKind",
    "RetryPolicy",
    "Route",
    "ToolCall",
    "Totals",
    "Usage",
    "UsageMeter",
    "retry_after_seconds",
]
