"""Token prices per model (USD per million tokens), overridable, and the cost of a call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float = 0.0


# List prices (USD per 1M tokens) of common models at the time of writing; a deployment
# overrides or extends them (e.g. for its own OpenAI-compatible models) with `PriceTable(...)`.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.5, 10.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.4, 1.6),
    "gpt-4.1-nano": Price(0.1, 0.4),
    "gpt-4-turbo": Price(10.0, 30.0),
    "gpt-3.5-turbo": Price(0.5, 1.5),
    "o1": Price(15.0, 60.0),
    "o3": Price(2.0, 8.0),
    "o3-mini": Price(1.1, 4.4),
    "o4-mini": Price(1.1, 4.4),
    "text-embedding-3-small": Price(0.02),
    "text-embedding-3-large": Price(0.13),
    "text-embedding-ada-002": Price(0.1),
    "omni-moderation-latest": Price(0.0),
    "text-moderation-latest": Price(0.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-opus": Price(15.0, 75.0),
    "claude-opus-4": Price(15.0, 75.0),
}


class PriceTable:
    """Prices by model name. A dated or suffixed name (`gpt-4o-2024-08-06`,
    `claude-3-5-sonnet-latest`) takes the price of its longest listed prefix."""

    def __init__(self, overrides: Mapping[str, Price] | None = None, *, defaults: bool = True) -> None:
        self._prices: dict[str, Price] = dict(DEFAULT_PRICES) if defaults else {}
        self._prices.update(overrides or {})

    def price(self, model: str) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        best: str | None = None
        for name in self._prices:
            if (
                model.startswith(name)
                and model[len(name)] in "-:@."
                and (best is None or len(name) > len(best))
            ):
                best = name
        return self._prices[best] if best is not None else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for one call, or None when the model has no price."""
        p = self.price(model)
        if p is None:
            return None
        return (prompt_tokens * p.input_per_mtok + completion_tokens * p.output_per_mtok) / 1_000_000
