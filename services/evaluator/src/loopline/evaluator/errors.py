"""How the evaluator's domain errors are answered at the HTTP edge (`ServiceDef.errors`).

A provider failure is answered with the status `ProviderError.http_status` chooses (429 when the
provider rate-limits, with its Retry-After; 504 on timeouts; 502 when it failed or refused the
org's key; 400 when no provider serves the model or the provider refused the request) and a body
that names the provider, the model and the provider's own reason. The body keeps OpenAI's
`{"error": {"message", "type"}}` keys, so OpenAI clients show the message."""

from __future__ import annotations

import math
from typing import Any

from loopline.common.http import ErrorRule, ErrorTable, error_body
from loopline.providers import ProviderError


def _body(exc: Any, status: int) -> object:
    return error_body(status, str(exc), type=exc.kind, provider=exc.provider or None, model=exc.model)


def _headers(exc: Any) -> dict[str, str] | None:
    ra = exc.retry_after_s if exc.kind == "rate_limited" else None
    return None if ra is None else {"Retry-After": str(math.ceil(ra))}


ERRORS = ErrorTable(
    {ProviderError: ErrorRule(status=lambda e: e.http_status(), body=_body, headers=_headers)}
)
