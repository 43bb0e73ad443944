"""Failed sign-ins counted per (email, client address) in a sliding window: past the limit,
`POST /api/login` answers 429 with Retry-After until the oldest failure leaves the window.
A successful sign-in clears the count. In memory, per gateway process."""

from __future__ import annotations

import time
from collections import deque


class LoginLimiter:
    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] >= self.window_s:
            q.popleft()
        return q

    def retry_after(self, email: str, client: str) -> float | None:
        """Seconds until the next attempt is allowed, or None when it is allowed now."""
        now = time.monotonic()
        q = self._recent((email, client), now)
        if len(q) < self.max_failures:
            return None
        return max(1.0, self.window_s - (now - q[0]))

    def failed(self, email: str, client: str) -> None:
        if len(self._failures) > 100_000:  # bounded memory under a spray of made-up emails
            self._failures.clear()
        self._recent((email, client), time.monotonic()).append(time.monotonic())

    def succeeded(self, email: str, client: str) -> None:
        self._failures.pop((email, client), None)
