"""The gateway's settings: the `gateway` settings section.

Read with `settings.section(GatewaySettings)`: `LOOPLINE_WEB_DIR` (or `LOOPLINE_GATEWAY__WEB_DIR`,
`[loopline.gateway] web_dir` in the config file), else the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class GatewaySettings(SettingsSection):
    SECTION: ClassVar[str] = "gateway"
    FLAT_NAMES: ClassVar[Mapping[str, str]] = {"web_dir": "web_dir"}

    web_dir: Path | None = Field(
        default=None,
        description="the built web app served at / (default: web/dist of the checkout, else <prefix>/share/loopline/web)",
    )
    session_ttl_s: float = Field(
        default=7 * 86400, gt=0, description="how long a browser session lasts after sign-in, in seconds"
    )
    login_max_failures: int = Field(
        default=10, ge=1, description="failed sign-ins per email and client address before 429"
    )
    login_window_s: float = Field(
        default=900, gt=0, description="the window, in seconds, in which failed sign-ins are counted"
    )
