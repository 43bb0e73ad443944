"""Settings of prompts, functions and code bundles: the `functions` settings section
(`[loopline.functions]`, `LOOPLINE_FUNCTIONS__<FIELD>`)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class FunctionSettings(SettingsSection):
    SECTION: ClassVar[str] = "functions"

    bundle_max_mb: int = Field(
        default=64, gt=0, le=1024, description="largest code bundle `braintrust push` may upload"
    )
    bundle_url_seconds: int = Field(
        default=3600, gt=0, le=7 * 24 * 3600, description="how long a bundle upload URL stays valid"
    )
