"""Each org's model providers, built from its AI secrets: a `ModelClient` per org, cached.

Secret types map onto the provider layer as follows: `openai` → OpenAI, `anthropic` → Anthropic,
`azure` → Azure OpenAI (metadata `api_base`, `api_version`, `deployment`), and the
OpenAI-compatible hosts (`ollama`, `together`, `fireworks`, `groq`, `mistral`, `perplexity`,
`xAI`, `cerebras`, `lepton`, `databricks`, `baseten`) → an OpenAI-compatible provider at
metadata `api_base` (or the host's public endpoint). Metadata `models` / `customModels` name the
models a secret serves (else the kind's families: gpt-…, claude-…); `additionalHeaders` are
sent with each call; Loopline's own `timeout_s`, `max_concurrency` and `max_attempts` tune the
limits. `google`, `vertex`, `bedrock`, `replicate` and `js` secrets are stored but not callable
yet: a model only they would serve fails with a message saying so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from loopline.common.logging import get_logger
from loopline.common.metrics import observe_model_call
from loopline.evaluator.ai_secrets import AiSecretStore, Revealed
from loopline.providers import (
    CallRecord,
    ModelClient,
    PriceTable,
    ProviderConfig,
    ProviderError,
    ProviderKind,
)
from loopline.providers.retire import Retirer

log = get_logger(__name__)

COMPATIBLE_BASES = {
    "ollama": "http://127.0.0.1:11434/v1",
    "together": "https://api.together.xyz/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "perplexity": "https://api.perplexity.ai",
    "xAI": "https://api.x.ai/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "lepton": "",
    "databricks": "",
    "baseten": "",
}
NOT_CALLABLE = ("google", "vertex", "bedrock", "replicate", "js")
CACHE_TTL_S = 30.0  # another replica's secret change is seen within this


def _models(meta: Mapping[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    listed = meta.get("models")
    if isinstance(listed, list):
        names += [str(m) for m in listed if m]
    custom = meta.get("customModels")
    if isinstance(custom, dict):
        names += [str(m) for m in custom]
    return tuple(dict.fromkeys(names))


def provider_config(secret: Revealed) -> ProviderConfig | str:
    """The provider a secret configures, or why it configures none."""
    meta = secret.metadata
    kind: ProviderKind
    base = meta.get("api_base") or None
    if secret.type == "openai" or secret.type == "":
        kind = "openai"
    elif secret.type == "anthropic":
        kind = "anthropic"
    elif secret.type == "azure":
        kind = "azure"
        if not base:
            return f"AI secret {secret.name!r} (azure) has no metadata.api_base (the resource endpoint)"
    elif secret.type in COMPATIBLE_BASES:
        kind = "openai_compatible"
        base = base or COMPATIBLE_BASES[secret.type] or None
        if not base:
            return f"AI secret {secret.name!r} ({secret.type}) needs metadata.api_base"
    else:
        return f"AI secret {secret.name!r} of type {secret.type!r} cannot be called by Loopline yet"
    models = _models(meta)
    if kind == "openai_compatible" and not models:
        models = (f"{secret.name}/*",)  # only pinned model names reach an unlisted endpoint
    extra: dict[str, Any] = {}
    for knob in ("timeout_s", "max_concurrency", "max_attempts"):
        if meta.get(knob) is not None:
            extra[knob] = meta[knob]
    headers = meta.get("additionalHeaders")
    try:
        return ProviderConfig(
            name=secret.name,
            kind=kind,
            api_key=secret.secret,
            base_url=str(base) if base else None,
            models=models,
            organization=str(meta["organization_id"]) if meta.get("organization_id") else None,
            api_version=str(meta["api_version"]) if meta.get("api_version") else None,
            deployment=str(meta["deployment"]) if meta.get("deployment") else None,
            headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
            **extra,
        )
    except ValueError as exc:
        return f"AI secret {secret.name!r} has unusable metadata: {exc}"


#: the model calls made in this context, when a caller collects them (online scoring reads their
#: cost and failure kinds); set a list, make the calls, read it
CALL_TALLY: ContextVar[list[CallRecord] | None] = ContextVar("model_call_tally", default=None)


def _metrics(r: CallRecord) -> None:
    tally = CALL_TALLY.get()
    if tally is not None:
        tally.append(r)
    u = r.usage
    observe_model_call(
        r.kind,
        r.operation,
        r.outcome,
        r.seconds,
        u.prompt_tokens if u else 0,
        u.completion_tokens if u else 0,
        u.cost_usd if u else None,
    )


@dataclass
class _Entry:
    client: ModelClient
    built: float
    problems: list[str] = field(default_factory=list)
    # each provider's AI secret type (openai, anthropic, azure, together, ...) by provider name
    types: dict[str, str] = field(default_factory=dict)


class OrgModels:
    """`ModelClient`s by org, rebuilt when the org's secrets change (here at once; written by
    another process: within CACHE_TTL_S). A client whose providers did not change is kept, so its
    concurrency limits hold across refreshes; a replaced client is closed only after
    RETIRE_AFTER_S, when the calls and streams still using it have ended."""

    def __init__(self, secrets: AiSecretStore, prices: PriceTable | None = None) -> None:
        self.secrets = secrets
        self.prices = prices or PriceTable()
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retired = Retirer()  # replaced clients, closed RETIRE_AFTER_S later

    def _fresh(self, org_id: str, e: _Entry) -> bool:
        return time.monotonic() - e.built < CACHE_TTL_S and self.secrets.changed.get(org_id, 0.0) < e.built

    async def routed(self, org_id: str, model: str) -> ModelClient:
        """The org's client, checked to have a provider for `model` (when one is named): a
        `ProviderError` (no_provider) says how to add one, or why the org's secrets configure none."""
        client, problems = await self.client(org_id)
        if not client.providers:
            why = "; ".join(problems) if problems else "the organization has no AI secrets"
            raise ProviderError(
                "",
                model,
                "no_provider",
                f"no AI provider is configured for this organization ({why}); "
                "add one with POST /v1/ai_secret {name, type, secret}",
            )
        if not model:
            return client
        try:
            client.route(model)
        except ProviderError as exc:
            if problems:
                raise ProviderError(
                    "", model, "no_provider", f"{exc.reason}; also: {'; '.join(problems)}"
                ) from exc
            raise
        return client

    async def client(self, org_id: str) -> tuple[ModelClient, list[str]]:
        """The org's client and the problems of secrets that configure no provider."""
        e = self._entries.get(org_id)
        if e is not None and self._fresh(org_id, e):
            return e.client, e.problems
        async with self._locks.setdefault(org_id, asyncio.Lock()):  # one refresh per org at a time
            e = self._entries.get(org_id)
            if e is not None and self._fresh(org_id, e):
                return e.client, e.problems
            started = time.monotonic()
            revealed, problems = await self.secrets.revealed(org_id)
            configs: list[ProviderConfig] = []
            for s in revealed:
                made = provider_config(s)
                if isinstance(made, str):
                    problems.append(made)
                else:
                    configs.append(made)
            if problems:
                log.info("some AI secrets configure no provider", org_id=org_id, problems=problems)
            types = {s.name: s.type or "openai" for s in revealed}
            if e is not None and e.client.providers == configs:
                e.built, e.problems, e.types = started, problems, types
                return e.client, problems
            entry = _Entry(
                ModelClient(configs, prices=self.prices, observer=_metrics), started, problems, types
            )
            self._entries[org_id] = entry
            if e is not None:
                self._retired.retire(e.client)
            return entry.client, problems

    async def provider_types(self, org_id: str) -> dict[str, str]:
        """The AI secret type of each of the org's providers, by provider (secret) name."""
        await self.client(org_id)
        e = self._entries.get(org_id)
        return dict(e.types) if e is not None else {}

    async def aclose(self) -> None:
        await self._retired.stop()
        for e in self._entries.values():
            await e.client.aclose()
        self._entries.clear()
