"""Errors: what domain code raises (no HTTP in it), and the one error an HTTP edge raises.

Domain modules (a catalogue, a reader, a job runner) raise a `Problem` that says what went wrong
— `NotFound`, `Invalid`, `Conflict`, `Forbidden`, `TooLarge`, `Busy`, `Unavailable` — with a
message and where it went wrong (`field=...`, `row_index=...`), or an error of their own
(`RowValidationError`, `BtqlError`, `OtlpError`, ...). They never choose an HTTP status.

Route modules (and their dependencies) may raise `ServiceError(status, message, ...)` directly:
they are the edge, and the status is theirs to choose.

Both become responses in one place: the error table of `loopline.common.http` (`ErrorTable`,
registered once per app by `install_http_basics`), which maps each exception type to a status, a
body and headers. A service adds rows for its own domain errors through `ServiceDef.errors`.
"""

from __future__ import annotations

import json
from typing import Any


class ServiceError(Exception):
    """An HTTP error answer chosen at the edge: `status`, `message`, an optional Retry-After (in
    seconds) and where it went wrong (`**where`, e.g. `field="limit"`: keys of the error body).

    Rendering never changes it (`retry_after` is its own attribute, not one of `where`)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None, **where: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.where = where


def malformed_json(exc: json.JSONDecodeError) -> ServiceError:
    """The 400 for a request body that is not JSON, naming where (`orjson.JSONDecodeError` is a
    `json.JSONDecodeError`)."""
    return ServiceError(400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")


class Problem(Exception):
    """A client-visible domain error: a message and where it went wrong; the edge maps its kind
    (the subclass) to an HTTP status."""

    retry_after: float | None = None

    def __init__(self, message: str, **where: Any) -> None:
        super().__init__(message)
        self.message = message
        self.where = where


class Invalid(Problem):
    """The request is malformed or asks for something impossible (HTTP 400)."""


class Forbidden(Problem):
    """The caller may not do this (HTTP 403)."""


class NotFound(Problem):
    """What the request names does not exist for the caller (HTTP 404)."""


class Conflict(Problem):
    """The request clashes with what exists, e.g. a name taken (HTTP 409)."""


class TooLarge(Problem):
    """The request, or something in it, is over a limit (HTTP 413)."""


class Busy(Problem):
    """Too much work of this kind is in progress here; retry later (HTTP 429)."""


class Unavailable(Problem):
    """Something the answer depends on cannot answer now; retry later (HTTP 503, with
    Retry-After when `retry_after` is given)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        self.retry_after = retry_after
