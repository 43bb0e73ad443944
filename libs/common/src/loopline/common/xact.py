"""Transaction ids (`_xact_id`): 19-digit, fixed-width decimal strings, monotonic across restarts.

Layout (protocol spec §6): `(0x0DE1 << 48) | (unix_seconds << 16) | sequence`. The sequence
gives 65,536 ids per second; beyond that ids run ahead of the clock, which keeps them monotonic.

Monotonic across restarts: the generator persists a lease (an id it will not go past without
writing a new lease) with fsync before handing out ids beyond it. After a crash it restarts
above the lease, so no id is ever reissued even if the clock went backwards.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

XACT_PREFIX = 0x0DE1 << 48
_LEASE_STEP = 1 << 20  # ids handed out per lease write (~16 s worth at full sequence rate)


def xact_for_time(unix_seconds: float, seq: int = 0) -> int:
    return XACT_PREFIX | (int(unix_seconds) << 16) | (seq & 0xFFFF)


def xact_time(xact_id: int | str) -> int:
    """Unix seconds encoded in a transaction id."""
    return (int(xact_id) & ((1 << 48) - 1)) >> 16


def format_xact(xact_id: int) -> str:
    s = str(xact_id)
    if len(s) != 19:
        raise ValueError(f"transaction id {xact_id} is not 19 digits")
    return s


class XactIdGenerator:
    """Thread-safe monotonic generator, optionally persisted in `state_file`."""

    def __init__(self, state_file: Path | None = None, clock: object = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._state_file = state_file
        self._last = 0
        self._lease = 0
        if state_file is not None and state_file.exists():
            text = state_file.read_text().strip()
            if text:
                self._last = int(text)  # everything up to the old lease may have been issued
                self._lease = self._last

    def _now(self) -> int:
        return xact_for_time(self._clock())  # type: ignore[operator]

    def next(self) -> int:
        with self._lock:
            value = max(self._last + 1, self._now())
            if self._state_file is not None and value > self._lease:
                self._write_lease(value + _LEASE_STEP)
            self._last = value
            return value

    def next_str(self) -> str:
        return format_xact(self.next())

    def observe(self, xact_id: int) -> None:
        """Never issue ids at or below one already seen (e.g. the store's max at start-up)."""
        with self._lock:
            if xact_id > self._last:
                self._last = xact_id

    def _write_lease(self, lease: int) -> None:
        assert self._state_file is not None
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        with tmp.open("w") as fh:
            fh.write(str(lease))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._state_file)
        self._lease = lease
