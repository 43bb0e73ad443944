"""What a sandboxed call returns: scores, a function's output, or a descriptive error.

`normalize_scores` turns whatever a code scorer returned into scores the way Braintrust's SDK does:
a number, a bool, `None` (skip), a `{name?, score, metadata?}` object, or a list of those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

ErrorKind = Literal[
    "timeout",  # wall-clock limit
    "cpu_limit",
    "memory_limit",
    "output_limit",  # returned value or printed logs too large
    "user_error",  # the code raised, exited, or could not be loaded
    "invalid_result",  # returned something that is not a score / not JSON
    "crashed",  # killed by a signal, exited without a result
    "protocol",  # the code corrupted its result channel
    "unavailable",  # the sandbox itself could not run the call
    "invalid_request",  # the call's code or arguments cannot be sent (not JSON, too large)
    "cancelled",  # the caller gave up on the call
]


@dataclass(frozen=True)
class SandboxError:
    kind: ErrorKind
    message: str
    traceback: str = ""
    logs: str = ""
    duration_ms: float = 0.0

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class Score:
    name: str
    score: float | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreResult:
    scores: tuple[Score, ...]
    logs: str = ""
    duration_ms: float = 0.0


@dataclass(frozen=True)
class FunctionResult:
    output: Any
    logs: str = ""
    duration_ms: float = 0.0


class InvalidScore(ValueError):
    """A scorer's return value cannot be read as scores."""


def _score_value(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float):
        raise InvalidScore(f"{where} must be a number between 0 and 1 or null, got {type(value).__name__}")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise InvalidScore(f"{where} must be between 0 and 1, got {value!r}")
    return number


def _one_score(value: Any, default_name: str, where: str) -> Score:
    if isinstance(value, dict):
        if "score" not in value:
            raise InvalidScore(f"{where} is an object without a 'score' field")
        name = value.get("name", default_name)
        if not isinstance(name, str) or not name:
            raise InvalidScore(f"{where}.name must be a non-empty string")
        metadata = value.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidScore(f"{where}.metadata must be an object")
        return Score(name=name, score=_score_value(value["score"], f"{where}.score"), metadata=metadata)
    return Score(name=default_name, score=_score_value(value, where))


def has_non_finite_score(value: Any) -> bool:
    """A NaN or infinite score, which JSON would silently turn into null (a skip)."""
    for item in value if isinstance(value, list) else [value]:
        score = item.get("score") if isinstance(item, dict) else item
        if isinstance(score, float) and not math.isfinite(score):
            return True
    return False


def normalize_scores(value: Any, default_name: str) -> tuple[Score, ...]:
    """Scores from a scorer's return value; `None` means the scorer skipped the row."""
    if value is None:
        return ()
    if isinstance(value, list):
        scores = tuple(_one_score(item, default_name, f"result[{i}]") for i, item in enumerate(value))
        names = [s.name for s in scores]
        if len(set(names)) != len(names):
            raise InvalidScore(f"scorer returned duplicate score names: {sorted(names)}")
        return scores
    return (_one_score(value, default_name, "result"),)
