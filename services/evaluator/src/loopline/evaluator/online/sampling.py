"""Deterministic sampling on the trace: the same root span id is always in or always out.

The fraction is read from the first 8 bytes of sha256(root_span_id), so every rule with the same
rate samples the same traces (their scores can be compared span by span), any process decides the
same way, and a redelivered or restarted batch decides as before.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def fraction(root_span_id: str) -> float:
    """root_span_id → a number in [0, 1), uniform over ids."""
    return int.from_bytes(hashlib.sha256(root_span_id.encode()).digest()[:8], "big") / _SCALE


def sampled(root_span_id: str, rate: float) -> bool:
    return rate >= 1.0 or (rate > 0.0 and fraction(root_span_id) < rate)
