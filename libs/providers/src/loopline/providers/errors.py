"""Errors of model calls. Each names the provider, the model and why the call failed."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "rate_limited",  # 429: the provider asked us to slow down
    "unavailable",  # 5xx / overloaded: the provider failed
    "timeout",  # no answer within the call's timeout
    "connection",  # the provider could not be reached
    "bad_request",  # 400/404/413/422: the request (model name, parameters) was refused
    "auth",  # 401/403: the provider refused the key
    "unsupported",  # the provider has no such operation (e.g. Anthropic embeddings)
    "no_provider",  # no configured provider serves the model
    "bad_response",  # the provider answered something we could not read
]

RETRYABLE: frozenset[ErrorKind] = frozenset({"rate_limited", "unavailable", "timeout", "connection"})


class ProviderError(Exception):
    """A model call failed. `retryable` says whether the same call may succeed later."""

    def __init__(
        self,
        provider: str,
        model: str,
        kind: ErrorKind,
        reason: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        attempts: int = 1,
    ) -> None:
        self.provider = provider
        self.model = model
        self.kind = kind
        self.reason = reason
        self.status = status
        self.retry_after_s = retry_after_s
        self.attempts = attempts
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"provider {self.provider!r}" if self.provider else "no provider"
        status = f" (HTTP {self.status})" if self.status is not None else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{where}, model {self.model!r}: {self.kind.replace('_', ' ')}{status}{tries}: {self.reason}"

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def with_attempts(self, attempts: int) -> ProviderError:
        return ProviderError(
            self.provider,
            self.model,
            self.kind,
            self.reason,
            status=self.status,
            retry_after_s=self.retry_after_s,
            attempts=attempts,
        )

    def http_status(self) -> int:
        """The status a gateway answers its own client with for this failure."""
        if self.kind in ("bad_request", "no_provider", "unsupported"):
            return self.status if self.status in (400, 404, 413, 422) else 400
        if self.kind == "rate_limited":
            return 429
        if self.kind == "timeout":
            return 504
        return 502  # the provider failed, or refused the key configured for it


def kind_for_status(status: int) -> ErrorKind:
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "unavailable"
    return "bad_request"
