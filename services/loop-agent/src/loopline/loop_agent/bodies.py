"""Request bodies and parameters of the loop agent's routes: validated by a pydantic model, or a
400 naming the field at fault."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request
from loopline.common.errors import ServiceError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def validated(kind: type[M], data: Any) -> M:
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        raise ServiceError(400, f"{where}: {err['msg']}", field=where) from None


async def read_model(request: Request, kind: type[M]) -> M:
    """The JSON object body (empty: `{}`) as `kind`."""
    raw = await request.body()
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ServiceError(
            400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ServiceError(400, "body must be a JSON object")
    return validated(kind, data)
