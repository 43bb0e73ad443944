"""The models a conversation can use, and the client that calls them.

Two sources, tried in this order:

1. the process's own providers (`loop_agent.providers` in the settings), when one serves the model;
2. the org's AI secrets (`/v1/ai_secret`), through the evaluator's model gateway (`/v1/proxy`,
   OpenAI's wire: the gateway translates for Anthropic and the rest), called as the caller's
   principal like every other service call: over HTTP with the internal headers in distributed
   mode, in-process through a streaming ASGI transport otherwise. The gateway keeps its retries,
   limits, cache and accounting; the agent's client makes one attempt per call.

Which of those models an org may use is its admin's allowlist (`OrgModels` in conversations.py)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
from loopline.common.auth import Principal
from loopline.common.errors import ServiceError
from loopline.common.service_calls import HttpServiceCalls, InProcessServiceCalls, ServiceCalls
from loopline.loop_agent.asgi_stream import StreamingASGITransport
from loopline.providers import ModelClient, ProviderConfig, ProviderError
from loopline.providers.adapters import Adapter, OpenAIAdapter
from loopline.providers.config import DEFAULT_FAMILIES
from loopline.providers.retire import Retirer

#: the provider name of the org's AI secrets (as the gateway serves them) in the agent's client
GATEWAY = "ai_secrets"
_PROXY = "/v1/proxy"


@dataclass(frozen=True)
class ModelOffer:
    id: str  # a model name, or a family/prefix ending in `*` (`gpt-*`, `<secret>/*`)
    source: str  # "settings" or "ai_secret"
    provider: str  # the provider (settings) or AI secret serving it, by name
    provider_type: str = ""  # its kind: the AI secret's type (openai, anthropic, ...) or the provider's

    def serves(self, model: str) -> bool:
        return model.startswith(self.id[:-1]) if self.id.endswith("*") else model == self.id

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "provider": self.provider,
            "provider_type": self.provider_type or None,
        }


def _configured_offers(client: ModelClient | None) -> list[ModelOffer]:
    out: list[ModelOffer] = []
    for p in client.providers if client else []:
        names = p.models or tuple(f"{f}*" for f in DEFAULT_FAMILIES[p.kind])
        out += [ModelOffer(m, "settings", p.name, p.kind) for m in names]
    return out


class _Gateway:
    """One `ModelClient` per principal (the headers carry who calls), the least recently used
    closed beyond `size`."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._clients: OrderedDict[tuple[int, str], ModelClient] = OrderedDict()
        self._retired = Retirer()  # evicted clients, closed once their turns have ended

    def client(self, principal: Principal, calls: ServiceCalls) -> ModelClient:
        key = (id(calls), principal.model_dump_json())
        c = self._clients.get(key)
        if c is not None:
            self._clients.move_to_end(key)
            return c
        if isinstance(calls, HttpServiceCalls):
            base, transport = calls.base + _PROXY, None
        elif isinstance(calls, InProcessServiceCalls):
            base, transport = "http://in-process" + _PROXY, StreamingASGITransport(calls.asgi)
        else:  # pragma: no cover - a third way of calling would need its own branch
            raise TypeError(f"cannot reach the model gateway through {type(calls).__name__}")
        config = ProviderConfig(
            name=GATEWAY,
            kind="openai_compatible",
            api_key="loopline",  # the principal is in the headers
            base_url=base,
            models=("*",),
            headers=calls.principal_headers(principal),
            max_attempts=1,  # the gateway retries the provider itself
            max_concurrency=64,
            timeout_s=600.0,
        )

        def adapter(cfg: ProviderConfig) -> Adapter:
            return OpenAIAdapter(cfg, httpx.AsyncClient(transport=transport, timeout=cfg.timeout_s))

        c = self._clients[key] = ModelClient([config], adapter_factory=adapter)
        while len(self._clients) > self.size:
            _, old = self._clients.popitem(last=False)
            self._retired.retire(old)
        return c

    async def stop(self) -> None:
        await self._retired.stop()
        for c in self._clients.values():
            await c.aclose()
        self._clients.clear()


class AgentModels:
    def __init__(self, configured: ModelClient | None) -> None:
        self.configured = configured
        self._gateway = _Gateway()

    def _configured_serves(self, model: str) -> bool:
        if self.configured is None:
            return False
        try:
            self.configured.route(model)
        except ProviderError:
            return False
        return True

    async def offers(self, principal: Principal, calls: ServiceCalls) -> tuple[list[ModelOffer], str | None]:
        """The models the caller's org can call (settings first, then its AI secrets), and why the
        AI secrets could not be listed (None when they were)."""
        offers = _configured_offers(self.configured)
        answer = await calls.call(principal, "GET", _PROXY + "/models")
        if not answer.ok:
            return offers, f"the model gateway did not list the AI secrets' models: {answer.error_message()}"
        for m in (answer.body or {}).get("data") or []:
            if isinstance(m, dict) and m.get("id"):
                owner, kind = str(m.get("owned_by") or ""), str(m.get("provider") or "")
                offers.append(ModelOffer(str(m["id"]), "ai_secret", owner, kind))
        return offers, None

    async def check(self, principal: Principal, calls: ServiceCalls, model: str) -> None:
        """A 400 naming the model unless the settings' providers or the org's AI secrets serve it."""
        if self._configured_serves(model):
            return
        offers, problem = await self.offers(principal, calls)
        if any(o.serves(model) for o in offers):
            return
        served = ", ".join(o.id for o in offers) or "none"
        raise ServiceError(
            400,
            f"model {model!r}: no provider serves it (models available: {served}); add an AI secret "
            f"(/v1/ai_secret) or a provider in loop_agent.providers" + (f"; {problem}" if problem else ""),
            field="model",
        )

    def client(self, principal: Principal, calls: ServiceCalls, model: str) -> ModelClient:
        """The client that calls `model` for `principal` (checked by `check` before)."""
        if self.configured is not None and self._configured_serves(model):
            return self.configured
        return self._gateway.client(principal, calls)

    async def stop(self) -> None:
        await self._gateway.stop()
        if self.configured is not None:
            await self.configured.aclose()
