"""A request body → a pydantic model, with the clear 4xx every edge answers the same way: 413 over
the size limit, 400 for malformed JSON (line and column), for a body that is not an object, and
for the first validation error (its field path and message)."""

from __future__ import annotations

from typing import TypeVar

import orjson
from loopline.common.errors import ServiceError, malformed_json
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(field path, message) of a validation error's first problem, for a clear 400."""
    errs = exc.errors()
    if not errs:
        return "", "invalid request body"
    e = errs[0]
    field = ".".join(str(p) for p in e.get("loc", ()))
    msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
    return field, f"'{field}': {msg}" if field else msg


def parse_body(raw: bytes, model: type[M], *, max_bytes: int, too_large_hint: str = "") -> M:
    """Parse `raw` as JSON (an empty body is `{}`) and validate it as `model`."""
    if len(raw) > max_bytes:
        hint = f": {too_large_hint}" if too_large_hint else ""
        raise ServiceError(413, f"request body exceeds {max_bytes} bytes{hint}")
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise malformed_json(exc) from exc
    if not isinstance(body, dict):
        raise ServiceError(400, "the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        field, message = first_error(exc)
        raise ServiceError(400, message, field=field) from None
