"""The model gateway's engine: one OpenAI-format request of an org → its provider, or the cache.

No HTTP here: routes.py turns a `ProxyAnswer` into a response. Provider failures propagate as
`ProviderError` (answered through the service's error table with the provider's reason).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from loopline.common.errors import Invalid
from loopline.common.logging import get_logger
from loopline.evaluator.org_models import OrgModels
from loopline.evaluator.proxy.cache import CachePlan, Op, ProxyCache, plan
from loopline.providers import ChatStream, ModelClient, ProviderError

log = get_logger(__name__)


@dataclass
class ProxyAnswer:
    """A JSON body, or a stream of OpenAI chunks (`chunks`), with the gateway's headers."""

    body: dict[str, Any] | None = None
    chunks: AsyncIterator[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def validate(op: Op, body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    if op != "moderations" and not isinstance(body.get("model"), str):
        raise Invalid("model is required (a string)", field="model")
    if op == "chat":
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
            raise Invalid("messages must be a non-empty list of message objects", field="messages")
    elif body.get("input") is None:
        raise Invalid("input is required", field="input")
    return body


class ModelGateway:
    def __init__(self, models: OrgModels, cache: ProxyCache | None) -> None:
        self.models = models
        self.cache = cache

    async def _client(self, org_id: str, model: str) -> ModelClient:
        return await self.models.routed(org_id, model)

    async def answer(
        self,
        org_id: str,
        op: Op,
        path: str,
        body: dict[str, Any],
        headers: Mapping[str, str],
        auth_token: str,
    ) -> ProxyAnswer:
        p = plan(op, path, body, headers, auth_token, org_id)
        use_cache = self.cache is not None and p.used
        if use_cache and self.cache is not None:
            hit = await self.cache.get(org_id, p)
            if hit is not None:
                hdrs = {"x-bt-cached": "HIT", "cache-control": f"max-age={hit.ttl_s}", "age": str(hit.age_s)}
                if "sse" in hit.value:
                    return ProxyAnswer(chunks=_replay(hit.value["sse"]), headers=hdrs)
                return ProxyAnswer(body=hit.value["json"], headers=hdrs)
        model = str(body.get("model") or "omni-moderation-latest")
        pinned = headers.get("x-bt-endpoint-name")
        if pinned:  # one AI secret by name serves this request (Braintrust's x-bt-endpoint-name)
            configured, _ = await self.models.client(org_id)
            if not any(p.name == pinned for p in configured.providers):
                raise ProviderError(
                    "",
                    model,
                    "no_provider",
                    f"x-bt-endpoint-name {pinned!r} names no AI secret of this organization",
                )
            model = f"{pinned}/{model}"
            body = {**body, "model": model}
        client = await self._client(org_id, model)
        hdrs = {"x-bt-cached": "MISS"}
        if op == "chat" and body.get("stream"):
            stream = await client.stream_chat(body)
            hdrs["x-bt-used-endpoint"] = stream.provider
            return ProxyAnswer(chunks=self._recorded(org_id, p if use_cache else None, stream), headers=hdrs)
        value: dict[str, Any]
        if op == "chat":
            r = await client.chat(body)
            value, provider = r.body, r.provider
        elif op == "embeddings":
            e = await client.embed(body)
            value, provider = e.body, e.provider
        else:
            m = await client.moderate(body)
            value, provider = m.body, m.provider
        hdrs["x-bt-used-endpoint"] = provider
        if use_cache and self.cache is not None:
            await self.cache.put(org_id, p, {"json": value})
        return ProxyAnswer(body=value, headers=hdrs)

    async def _recorded(
        self, org_id: str, p: CachePlan | None, stream: ChatStream
    ) -> AsyncIterator[dict[str, Any]]:
        """Pass the chunks on; a stream that completed is cached for replay. The provider's slot
        is given back however the stream ends (the client may go away mid-stream)."""
        kept: list[dict[str, Any]] = []
        try:
            async for chunk in stream:
                if p is not None:
                    kept.append(chunk)
                yield chunk
        finally:
            await stream.aclose()
        if p is not None and self.cache is not None:
            await self.cache.put(org_id, p, {"sse": kept})


async def _replay(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for c in chunks:
        yield c
