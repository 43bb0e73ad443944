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

    #: keep pre-aggregated hours of project logs and answer aggregate BTQL queries from them
    #: (btql rollup.py); off: every query reads raw rows
    rollups: bool = True
    #: how often the refresher looks for complete, quiet hours to (re)compute
    rollup_interval_s: float = Field(default=5.0, gt=0)
    #: hours (re)computed per round at most
    rollup_batch: int = Field(default=50, ge=1)
    #: an hour is rolled up, and its computation used, only when it had no write for this long
    #: before the computation began (btql rollup.QUIET_MARGIN_S)
    rollup_quiet_s: int = Field(default=10, ge=0)
    #: read a page sorted newest first (the logs page, the SDK's fetch) through a pre-scan of the
    #: newest rows (btql newest.py); off: each such page sorts or groups the whole object (the
    #: same answer, slower: for comparing, as `bench_web --compare` does)
    newest_first: bool = True
