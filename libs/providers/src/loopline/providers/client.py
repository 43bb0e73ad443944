"""`ModelClient`: the one way Loopline services call models.

It routes a model name to one of the configured providers, calls it through the provider's
official SDK with a per-call timeout, retries 429/5xx/timeouts with backoff (waiting what a
Retry-After asks), keeps at most `max_concurrency` calls in flight per provider, and accounts
tokens and cost per provider and model. Requests and answers are in OpenAI's chat format
whichever provider serves them.

    client = ModelClient([ProviderConfig(name="openai", kind="openai", api_key=...)])
    result = await client.complete("gpt-4o-mini", [{"role": "user", "content": "hi"}], temperature=0)
    result.text, result.tool_calls, result.usage.cost_usd
    async with await client.stream_chat({"model": ..., "messages": ...}) as stream:
        async for chunk in stream: ...            # OpenAI chat.completion.chunk objects
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import structlog
from loopline.providers.adapters import Adapter, adapter_for
from loopline.providers.config import ProviderConfig
from loopline.providers.errors import ProviderError
from loopline.providers.prices import PriceTable
from loopline.providers.retry import RetryPolicy
from loopline.providers.types import (
    CallRecord,
    ChatResult,
    EmbeddingResult,
    ModerationResult,
    Operation,
    StreamTotals,
    Usage,
)

T = TypeVar("T")
log = structlog.get_logger(__name__)
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"


@dataclass(frozen=True)
class Route:
    provider: ProviderConfig
    model: str  # the name the provider knows the model by


@dataclass
class Totals:
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0  # calls of models without a price (their cost is not in cost_usd)


class UsageMeter:
    """Tokens and cost per (provider, model) since the client was built."""

    def __init__(self) -> None:
        self._totals: dict[tuple[str, str], Totals] = {}

    def _at(self, provider: str, model: str) -> Totals:
        return self._totals.setdefault((provider, model), Totals())

    def record(self, provider: str, model: str, usage: Usage) -> None:
        t = self._at(provider, model)
        t.calls += 1
        t.prompt_tokens += usage.prompt_tokens
        t.completion_tokens += usage.completion_tokens
        if usage.cost_usd is None:
            t.unpriced_calls += 1
        else:
            t.cost_usd += usage.cost_usd

    def record_error(self, provider: str, model: str) -> None:
        self._at(provider, model).errors += 1

    def totals(self) -> dict[tuple[str, str], Totals]:
        return {k: replace(v) for k, v in self._totals.items()}

    @property
    def cost_usd(self) -> float:
        return sum(t.cost_usd for t in self._totals.values())


def _usage_of(body: Mapping[str, Any]) -> tuple[int, int]:
    u = body.get("usage") or {}
    return int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)


class ModelClient:
    def __init__(
        self,
        providers: Sequence[ProviderConfig],
        *,
        prices: PriceTable | None = None,
        retry: RetryPolicy | None = None,
        adapter_factory: Callable[[ProviderConfig], Adapter] = adapter_for,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: Callable[[CallRecord], None] | None = None,
    ) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique, got {names}")
        self.providers = list(providers)
        self.prices = prices or PriceTable()
        self.retry = retry or RetryPolicy()
        self.meter = UsageMeter()
        self._factory = adapter_factory
        self._adapters: dict[str, Adapter] = {}
        self._limits = {p.name: asyncio.Semaphore(p.max_concurrency) for p in providers}
        self._sleep = sleep
        self._observer = observer

    # -- routing -------------------------------------------------------------------------------
    def route(self, model: str) -> Route:
        """The provider for `model`: `<provider name>/<model>` pins one; otherwise the first
        provider that lists the model (or, listing none, serves its family: gpt-…, claude-…)."""
        if not model:
            raise ProviderError("", model, "no_provider", "the request names no model")
        head, sep, tail = model.partition("/")
        if sep:
            for p in self.providers:
                if p.name == head:
                    return Route(p, tail)
        for p in self.providers:
            if p.models and p.serves(model):
                return Route(p, model)
        for p in self.providers:
            if not p.models and p.serves(model):
                return Route(p, model)
        configured = ", ".join(f"{p.name} ({p.kind})" for p in self.providers) or "none"
        raise ProviderError(
            "", model, "no_provider", f"no configured provider serves this model (providers: {configured})"
        )

    def _adapter(self, provider: ProviderConfig) -> Adapter:
        a = self._adapters.get(provider.name)
        if a is None:
            a = self._adapters[provider.name] = self._factory(provider)
        return a

    def _usage(self, model: str, prompt: int, completion: int) -> Usage:
        return Usage(prompt, completion, self.prices.cost(model, prompt, completion))

    # -- retries -------------------------------------------------------------------------------
    def _observe(
        self, route: Route, op: Operation, t0: float, attempts: int, usage: Usage | None, outcome: str = "ok"
    ) -> None:
        if self._observer is None:
            return
        record = CallRecord(
            route.provider.name,
            route.provider.kind,
            route.model,
            op,
            outcome,
            time.perf_counter() - t0,
            attempts,
            usage,
        )
        try:
            self._observer(record)
        except Exception:  # an observer (metrics) never fails a model call
            log.exception("model call observer failed")

    async def _attempts(
        self, route: Route, op: Operation, t0: float, call: Callable[[], Awaitable[T]]
    ) -> tuple[T, int]:
        policy = replace(self.retry, max_attempts=min(self.retry.max_attempts, route.provider.max_attempts))
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._limits[route.provider.name]:
                    return await call(), attempt
            except ProviderError as exc:
                self.meter.record_error(route.provider.name, route.model)
                delay = policy.delay(attempt, exc.retry_after_s) if exc.retryable else None
                if delay is None:
                    self._observe(route, op, t0, attempt, None, exc.kind)
                    raise exc.with_attempts(attempt) from exc
            await self._sleep(delay)

    # -- calls ---------------------------------------------------------------------------------
    async def chat(self, body: Mapping[str, Any], *, timeout_s: float | None = None) -> ChatResult:
        """A chat completion for an OpenAI-format request body (`stream` is ignored)."""
        route = self.route(str(body.get("model", "")))
        upstream = {**body, "model": route.model}
        upstream.pop("stream", None)
        upstream.pop("stream_options", None)
        adapter = self._adapter(route.provider)
        timeout = timeout_s or route.provider.timeout_s
        t0 = time.perf_counter()
        out, attempts = await self._attempts(route, "chat", t0, lambda: adapter.chat(upstream, timeout))
        usage = self._usage(route.model, *_usage_of(out))
        self.meter.record(route.provider.name, route.model, usage)
        self._observe(route, "chat", t0, attempts, usage)
        return ChatResult(route.provider.name, route.model, out, usage, attempts)

    async def complete(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        timeout_s: float | None = None,
        **params: Any,
    ) -> ChatResult:
        return await self.chat({"model": model, "messages": list(messages), **params}, timeout_s=timeout_s)

    async def stream_chat(self, body: Mapping[str, Any], *, timeout_s: float | None = None) -> ChatStream:
        """Open a streamed chat completion. Failures before the first chunk are retried and raised
        here (so a gateway can still answer with an error status); the stream then yields
        OpenAI `chat.completion.chunk` objects. The usage chunk is passed on only if the body
        asked for it (`stream_options.include_usage`), but always accounted."""
        route = self.route(str(body.get("model", "")))
        opts = body.get("stream_options") or {}
        include_usage = isinstance(opts, Mapping) and bool(opts.get("include_usage"))
        upstream = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        upstream["model"] = route.model
        adapter = self._adapter(route.provider)
        timeout = timeout_s or route.provider.timeout_s
        limit = self._limits[route.provider.name]
        policy = replace(self.retry, max_attempts=min(self.retry.max_attempts, route.provider.max_attempts))
        t0 = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            await limit.acquire()
            chunks = adapter.stream_chat(upstream, timeout)
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                first = None
            except ProviderError as exc:
                limit.release()
                self.meter.record_error(route.provider.name, route.model)
                delay = policy.delay(attempt, exc.retry_after_s) if exc.retryable else None
                if delay is None:
                    self._observe(route, "stream", t0, attempt, None, exc.kind)
                    raise exc.with_attempts(attempt) from exc
                await self._sleep(delay)
                continue
            except BaseException:
                limit.release()
                raise
            return ChatStream(self, route, chunks, first, limit, include_usage, attempt, t0)

    async def embed(self, body: Mapping[str, Any], *, timeout_s: float | None = None) -> EmbeddingResult:
        """Embeddings for an OpenAI-format body; the answer keeps the asked `encoding_format`."""
        route = self.route(str(body.get("model", "")))
        upstream = {**body, "model": route.model}
        adapter = self._adapter(route.provider)
        timeout = timeout_s or route.provider.timeout_s
        t0 = time.perf_counter()
        out, attempts = await self._attempts(route, "embed", t0, lambda: adapter.embed(upstream, timeout))
        prompt, _ = _usage_of(out)
        usage = self._usage(route.model, prompt, 0)
        self.meter.record(route.provider.name, route.model, usage)
        self._observe(route, "embed", t0, attempts, usage)
        return EmbeddingResult(route.provider.name, route.model, out, usage, attempts)

    async def moderate(self, body: Mapping[str, Any], *, timeout_s: float | None = None) -> ModerationResult:
        model = str(body.get("model") or DEFAULT_MODERATION_MODEL)
        route = self.route(model)
        upstream = {**body, "model": route.model}
        adapter = self._adapter(route.provider)
        timeout = timeout_s or route.provider.timeout_s
        t0 = time.perf_counter()
        out, attempts = await self._attempts(
            route, "moderate", t0, lambda: adapter.moderate(upstream, timeout)
        )
        self.meter.record(route.provider.name, route.model, Usage(0, 0, 0.0))
        self._observe(route, "moderate", t0, attempts, Usage(0, 0, 0.0))
        return ModerationResult(route.provider.name, route.model, out, attempts)

    async def aclose(self) -> None:
        for a in self._adapters.values():
            await a.aclose()
        self._adapters.clear()


class ChatStream:
    """A streamed chat completion: iterate it (once) for OpenAI chunks; `totals` fills in as it goes.
    Holds a slot of the provider's concurrency limit until exhausted or closed."""

    def __init__(
        self,
        client: ModelClient,
        route: Route,
        chunks: AsyncIterator[dict[str, Any]],
        first: dict[str, Any] | None,
        limit: asyncio.Semaphore,
        include_usage: bool,
        attempts: int,
        started: float,
    ) -> None:
        self.provider = route.provider.name
        self.model = route.model
        self.attempts = attempts
        self.totals = StreamTotals()
        self._client = client
        self._chunks = chunks
        self._first = first
        self._limit = limit
        self._include_usage = include_usage
        self._closed = False
        self._route = route
        self._started = started
        self._outcome = "ok"

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        try:
            if self._first is not None:
                first, self._first = self._first, None
                if self._observe(first):
                    yield first
            async for chunk in self._chunks:
                if self._observe(chunk):
                    yield chunk
        except ProviderError as exc:
            self._outcome = exc.kind
            raise
        finally:
            await self.aclose()

    def _observe(self, chunk: dict[str, Any]) -> bool:
        """Account a chunk; False for the usage-only chunk the caller did not ask for."""
        usage = chunk.get("usage")
        if usage:
            u = self._client._usage(self.model, *_usage_of(chunk))
            self.totals.usage = u
            self._client.meter.record(self.provider, self.model, u)
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.totals.text.append(delta["content"])
            if choice.get("finish_reason"):
                self.totals.finish_reason = choice["finish_reason"]
        if usage and not chunk.get("choices") and not self._include_usage:
            return False
        if not self._include_usage and "usage" in chunk:
            chunk.pop("usage")
        return True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client._observe(
            self._route, "stream", self._started, self.attempts, self.totals.usage, self._outcome
        )
        try:
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._limit.release()

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
