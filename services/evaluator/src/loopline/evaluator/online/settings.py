"""Online scoring's settings section (`[loopline.online_scoring]`, `LOOPLINE_ONLINE_SCORING__<FIELD>`)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class OnlineScoringSettings(SettingsSection):
    SECTION: ClassVar[str] = "online_scoring"

    # consume `loopline.rows.committed` and score (off: the rule routes still work, nothing scores)
    enabled: bool = True
    # scorer runs in flight at once, over every rule of every org in this process
    concurrency: int = Field(default=32, ge=1, le=1024)
    # how often the scheduler looks for due work (completed quiet traces, retries)
    tick_s: float = Field(default=0.2, gt=0, le=10)
    # retries of a scorer whose provider failed with a transient error (429/5xx/timeout), after the
    # provider layer's own quick retries; then the failure is recorded on the row as a scorer error
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    # a scorer run longer than this is a (retryable) timeout
    scorer_timeout_s: float = Field(default=120.0, gt=0)
    # how often counters (scored, skipped, errors, spend) are written to the store
    flush_s: float = Field(default=1.0, gt=0, le=60)
    # pending work is leased to one engine for this long and renewed while held; a stopped engine
    # releases its items, a dead one's are taken by another engine once the lease expired
    lease_s: float = Field(default=60.0, gt=0, le=3600)
    # how long a claim of expired work waits before reading back who won it (longer than a store
    # write takes, so every concurrent claim is visible)
    claim_settle_s: float = Field(default=1.0, ge=0, le=60)
