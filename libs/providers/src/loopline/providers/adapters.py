"""Wire adapters: one call of one provider through its official SDK, errors mapped to ProviderError.

The SDKs' own retries are off (`max_retries=0`): `ModelClient` retries, so that the attempt count,
the backoff and the concurrency limit are ours and visible.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import anthropic
import httpx
import openai
from loopline.providers.anthropic_format import (
    StreamTranslator,
    TranslationError,
    from_anthropic,
    to_anthropic,
)
from loopline.providers.config import ProviderConfig
from loopline.providers.errors import ProviderError, kind_for_status
from loopline.providers.retry import retry_after_seconds

Body = Mapping[str, Any]
_ANTHROPIC_CREATE_PARAMS = frozenset(
    inspect.signature(anthropic.resources.AsyncMessages.create).parameters
) - {
    "self",
    "extra_body",
}


class Adapter(Protocol):
    config: ProviderConfig

    async def chat(self, body: Body, timeout_s: float) -> dict[str, Any]: ...

    def stream_chat(self, body: Body, timeout_s: float) -> AsyncIterator[dict[str, Any]]: ...

    async def embed(self, body: Body, timeout_s: float) -> dict[str, Any]: ...

    async def moderate(self, body: Body, timeout_s: float) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


def _reason(body: object, fallback: str) -> str:
    """The provider's own error message from an error body (OpenAI or Anthropic shape)."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return fallback


def map_error(exc: Exception, provider: str, model: str) -> ProviderError:
    """An SDK exception (openai or anthropic) as a ProviderError."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError | anthropic.APITimeoutError):
        return ProviderError(provider, model, "timeout", "no answer within the call's timeout")
    if isinstance(exc, openai.APIConnectionError | anthropic.APIConnectionError):
        return ProviderError(provider, model, "connection", f"could not reach the provider: {exc}")
    if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
        status = exc.status_code
        headers = {k.lower(): v for k, v in exc.response.headers.items()}
        return ProviderError(
            provider,
            model,
            kind_for_status(status),
            _reason(exc.body, exc.message),
            status=status,
            retry_after_s=retry_after_seconds(headers),
        )
    if isinstance(exc, TranslationError):
        return ProviderError(provider, model, "bad_request", str(exc))
    if isinstance(exc, openai.APIError | anthropic.APIError | ValueError):
        return ProviderError(provider, model, "bad_response", str(exc))
    raise exc


def _untransformed(body: Body, drop: tuple[str, ...]) -> dict[str, Any]:
    """The request fields sent as they are (`extra_body`), `messages` among them: the SDK's
    parameter transform changes nothing in chat messages but walks every one of them (tens of ms per
    call on a long conversation); the `messages=[]` passed to `create` is replaced by these."""
    return {k: v for k, v in body.items() if k not in drop}


class OpenAIAdapter:
    """OpenAI, Azure OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp, …)."""

    def __init__(self, config: ProviderConfig, http_client: httpx.AsyncClient | None = None) -> None:
        """`http_client`: the HTTP client the SDK uses (default: its own)."""
        self.config = config
        common: dict[str, Any] = {
            "max_retries": 0,
            "timeout": config.timeout_s,
            "default_headers": dict(config.headers) or None,
            "http_client": http_client,
        }
        self.client: openai.AsyncOpenAI
        if config.kind == "azure":
            self.client = openai.AsyncAzureOpenAI(
                api_key=config.api_key,
                azure_endpoint=config.base_url or "",
                api_version=config.api_version,
                azure_deployment=config.deployment,
                **common,
            )
        else:
            # local OpenAI-compatible servers often need no key; the SDK insists on one
            self.client = openai.AsyncOpenAI(
                api_key=config.api_key or "none",
                base_url=config.base_url,
                organization=config.organization,
                **common,
            )

    def _err(self, exc: Exception, body: Body) -> ProviderError:
        return map_error(exc, self.config.name, str(body.get("model", "")))

    async def chat(self, body: Body, timeout_s: float) -> dict[str, Any]:
        rest = _untransformed(body, ("model", "stream", "stream_options"))
        try:
            raw = await self.client.chat.completions.with_raw_response.create(
                model=body["model"], messages=[], extra_body=rest, timeout=timeout_s
            )
            return _json_object(raw.http_response.json())
        except Exception as exc:
            raise self._err(exc, body) from exc

    async def stream_chat(self, body: Body, timeout_s: float) -> AsyncIterator[dict[str, Any]]:
        rest = _untransformed(body, ("model", "stream", "stream_options"))
        try:
            stream = await self.client.chat.completions.create(
                model=body["model"],
                messages=[],
                stream=True,
                stream_options={"include_usage": True},
                extra_body=rest,
                timeout=timeout_s,
            )
            async with stream:
                async for chunk in stream:
                    yield chunk.model_dump(mode="json", exclude_unset=True)
        except Exception as exc:
            raise self._err(exc, body) from exc

    async def embed(self, body: Body, timeout_s: float) -> dict[str, Any]:
        rest = {k: v for k, v in body.items() if k not in ("model", "input", "encoding_format")}
        try:
            raw = await self.client.embeddings.with_raw_response.create(
                model=body["model"],
                input=body["input"],
                encoding_format=body.get("encoding_format") or "float",
                extra_body=rest,
                timeout=timeout_s,
            )
            return _json_object(raw.http_response.json())
        except Exception as exc:
            raise self._err(exc, body) from exc

    async def moderate(self, body: Body, timeout_s: float) -> dict[str, Any]:
        rest = {k: v for k, v in body.items() if k not in ("model", "input")}
        try:
            raw = await self.client.moderations.with_raw_response.create(
                input=body["input"],
                model=body.get("model") or openai.omit,
                extra_body=rest,
                timeout=timeout_s,
            )
            return _json_object(raw.http_response.json())
        except Exception as exc:
            raise self._err(exc, body) from exc

    async def aclose(self) -> None:
        await self.client.close()


class AnthropicAdapter:
    """Anthropic's Messages API, spoken to in OpenAI's chat format (see anthropic_format)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.client = anthropic.AsyncAnthropic(
            api_key=config.api_key,
            base_url=config.base_url,
            max_retries=0,
            timeout=config.timeout_s,
            default_headers=dict(config.headers) or None,
        )

    def _err(self, exc: Exception, body: Body) -> ProviderError:
        return map_error(exc, self.config.name, str(body.get("model", "")))

    def _params(self, body: Body) -> dict[str, Any]:
        """`messages.create` keyword arguments: the ones this SDK version names, the rest (e.g.
        `temperature`, which some versions no longer list) in `extra_body`."""
        params = to_anthropic(body)
        named = {k: v for k, v in params.items() if k in _ANTHROPIC_CREATE_PARAMS}
        extra = {k: v for k, v in params.items() if k not in _ANTHROPIC_CREATE_PARAMS}
        return {**named, "extra_body": extra} if extra else named

    async def chat(self, body: Body, timeout_s: float) -> dict[str, Any]:
        try:
            params = self._params(body)
            raw = await self.client.messages.with_raw_response.create(**params, timeout=timeout_s)
            return from_anthropic(_json_object(raw.http_response.json()), str(body["model"]))
        except Exception as exc:
            raise self._err(exc, body) from exc

    async def stream_chat(self, body: Body, timeout_s: float) -> AsyncIterator[dict[str, Any]]:
        translator = StreamTranslator(str(body["model"]))
        try:
            params = self._params(body)
            stream = await self.client.messages.create(**params, stream=True, timeout=timeout_s)
            async with stream:
                async for event in stream:
                    for chunk in translator.feed(event.model_dump(mode="json", exclude_unset=True)):
                        yield chunk
        except Exception as exc:
            raise self._err(exc, body) from exc

    async def embed(self, body: Body, timeout_s: float) -> dict[str, Any]:
        raise ProviderError(
            self.config.name, str(body.get("model", "")), "unsupported", "Anthropic has no embeddings API"
        )

    async def moderate(self, body: Body, timeout_s: float) -> dict[str, Any]:
        raise ProviderError(
            self.config.name, str(body.get("model", "")), "unsupported", "Anthropic has no moderations API"
        )

    async def aclose(self) -> None:
        await self.client.close()


def _json_object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"the provider answered a JSON {type(value).__name__}, not an object")
    return value


def adapter_for(config: ProviderConfig) -> Adapter:
    if config.kind == "anthropic":
        return AnthropicAdapter(config)
    return OpenAIAdapter(config)
