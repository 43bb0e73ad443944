"""The evaluator's settings section (`[loopline.evaluator]`, `LOOPLINE_EVALUATOR__<FIELD>`)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class EvaluatorSettings(SettingsSection):
    SECTION: ClassVar[str] = "evaluator"
    FLAT_NAMES: ClassVar[dict[str, str]] = {"ai_secrets_key": "ai_secrets_key"}

    # org provider secrets (/v1/ai_secret) are encrypted at rest with this AES-256 key (URL-safe
    # base64 of 32 bytes; `LOOPLINE_AI_SECRETS_KEY`). Empty: a key generated once into
    # <data_dir>/ai_secrets.key. Every process that shares the store must use the same key.
    ai_secrets_key: str = Field(default="", repr=False)
    # the model gateway's response cache (x-bt-use-cache); off: never read nor written
    proxy_cache: bool = True
