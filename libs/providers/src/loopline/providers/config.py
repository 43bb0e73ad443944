"""Provider configurations: which endpoint, which key, which models, and the call limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ProviderKind = Literal["openai", "anthropic", "openai_compatible", "azure"]

# model-name families a provider of a kind serves when its config lists no models of its own
DEFAULT_FAMILIES: dict[ProviderKind, tuple[str, ...]] = {
    "openai": (
        "gpt-",
        "chatgpt-",
        "o1",
        "o3",
        "o4",
        "text-embedding-",
        "omni-moderation",
        "text-moderation",
        "davinci",
        "babbage",
    ),
    "anthropic": ("claude-",),
    "azure": (),
    "openai_compatible": (),
}


class ProviderConfig(BaseModel):
    """One provider endpoint of an organisation.

    `models` are the model names this provider serves (exact names, or prefixes ending in `*`);
    empty means the default families of its kind (`gpt-…`, `claude-…`; none for
    OpenAI-compatible and Azure endpoints, which must list theirs). A request may also pin a
    provider by name: model `"<name>/<model>"` goes to provider `<name>` as `<model>`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    kind: ProviderKind
    api_key: str = ""
    base_url: str | None = None  # None: the official endpoint of the kind
    models: tuple[str, ...] = ()
    organization: str | None = None  # OpenAI organisation id
    api_version: str | None = None  # Azure
    deployment: str | None = None  # Azure: one deployment for every model (else the model name)
    headers: dict[str, str] = Field(default_factory=dict)  # extra headers sent with each call
    timeout_s: float = Field(default=60.0, gt=0)
    max_concurrency: int = Field(default=16, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=20)

    def serves(self, model: str) -> bool:
        patterns = self.models or DEFAULT_FAMILIES[self.kind]
        for p in patterns:
            if p.endswith("*"):
                if model.startswith(p[:-1]):
                    return True
            elif model == p or (not self.models and model.startswith(p)):
                return True
        return False
