"""The query service's settings section (`[loopline.query]`, `LOOPLINE_QUERY__<F>`; the flat
`LOOPLINE_READ_YOUR_WRITES_TIMEOUT_S` still works)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class QuerySettings(SettingsSection):
    SECTION: ClassVar[str] = "query"
    FLAT_NAMES: ClassVar[dict[str, str]] = {"read_your_writes_timeout_s": "read_your_writes_timeout_s"}

    #: a read waits at most this long for the writer to apply what was acknowledged before it
    #: (read-your-writes), then answers 503 with Retry-After
    read_your_writes_timeout_s: float = Field(default=10.0, gt=0)
