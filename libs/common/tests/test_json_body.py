"""`parse_body`: every bad body is a clear 4xx naming what is wrong."""

from __future__ import annotations

import pytest
from loopline.common.errors import ServiceError
from loopline.common.json_body import parse_body
from pydantic import BaseModel, Field


class _Body(BaseModel):
    name: str = Field(min_length=1)
    n: int = 1


def _refusal(raw: bytes, max_bytes: int = 100) -> ServiceError:
    with pytest.raises(ServiceError) as e:
        parse_body(raw, _Body, max_bytes=max_bytes, too_large_hint="use a dataset")
    return e.value


def test_a_valid_body_is_the_model() -> None:
    assert parse_body(b'{"name": "a", "n": 2}', _Body, max_bytes=100) == _Body(name="a", n=2)


def test_refusals_name_the_problem() -> None:
    big = _refusal(b'{"name": "' + b"x" * 200 + b'"}')
    assert big.status == 413 and big.message == "request body exceeds 100 bytes: use a dataset"
    bad = _refusal(b'{"name": ')
    assert bad.status == 400 and bad.message.startswith("malformed JSON at line 1")
    assert _refusal(b"[1]").message == "the request body must be a JSON object"
    missing = _refusal(b"")  # an empty body is {}
    assert (missing.status, missing.where) == (400, {"field": "name"})
    wrong = _refusal(b'{"name": "a", "n": "many"}')
    assert wrong.where == {"field": "n"} and wrong.message.startswith("'n': ")
