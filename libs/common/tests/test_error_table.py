"""The error table at the HTTP edge: one handler answers ServiceError, the domain problem kinds,
a service's own rows and the store's errors; subclasses inherit their base's answer; rendering
leaves the error as it was."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from loopline.common.errors import (
    Busy,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    TooLarge,
    Unavailable,
)
from loopline.common.http import COMMON_ERRORS, ErrorRule, ErrorTable, error_body, install_http_basics
from loopline.common.rows import RowValidationError


class Odd(Exception):
    """A service's own domain error, with a body of its own."""


class OddAndWorse(Odd):
    pass


ODD = ErrorTable({Odd: ErrorRule(418, body=lambda e, s: {"odd": str(e), "status": s})})


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_http_basics(app, ODD)

    @app.get("/x")
    async def x() -> None:
        raise exc

    return app


async def answer(exc: Exception) -> httpx.Response:
    transport = httpx.ASGITransport(app_raising(exc))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/x")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (Invalid("bad", field="limit"), 400),
        (Forbidden("no"), 403),
        (NotFound("gone"), 404),
        (Conflict("taken", field="name"), 409),
        (TooLarge("big", limit=3), 413),
        (Busy("later"), 429),
        (Unavailable("down"), 503),
    ],
)
async def test_problem_kinds_answer_their_status_with_message_and_where(exc: Invalid, status: int) -> None:
    r = await answer(exc)
    assert r.status_code == status
    assert r.json() == error_body(status, exc.message, **exc.where)
    assert "retry-after" not in r.headers


async def test_service_error_answers_its_status_and_retry_after_without_changing() -> None:
    exc = ServiceError(503, "bus down", retry_after=1, field="rows")
    first, second = await answer(exc), await answer(exc)
    for r in (first, second):
        assert r.status_code == 503
        assert r.json() == {"error": {"status": 503, "message": "bus down", "field": "rows"}}
        assert r.headers["retry-after"] == "1"
    assert exc.retry_after == 1 and exc.where == {"field": "rows"}


async def test_a_service_row_and_its_subclasses() -> None:
    r = await answer(OddAndWorse("strange"))
    assert r.status_code == 418 and r.json() == {"odd": "strange", "status": 418}


async def test_row_validation_error_names_the_row_and_field() -> None:
    r = await answer(RowValidationError("rows[2].scores.acc", "must be a number", index=2))
    assert r.status_code == 400
    assert r.json() == error_body(
        400, "rows[2].scores.acc: must be a number", row_index=2, field="rows[2].scores.acc"
    )


async def test_unavailable_with_retry_after_sets_the_header() -> None:
    r = await answer(Unavailable("later", retry_after=0.2))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


async def test_an_error_no_row_covers_is_a_500() -> None:
    r = await answer(KeyError("bug"))
    assert r.status_code == 500 and r.json()["error"]["message"] == "internal error; see the server log"


def test_status_of_and_merge_conflicts() -> None:
    assert COMMON_ERRORS.status_of(NotFound("x")) == 404
    assert COMMON_ERRORS.status_of(ValueError("x")) == 500
    merged = COMMON_ERRORS.merged(ODD)
    assert merged.status_of(OddAndWorse()) == 418 and COMMON_ERRORS.status_of(OddAndWorse()) == 500
    assert merged.merged(ODD).status_of(Odd()) == 418  # the same rule twice is fine
    with pytest.raises(ValueError, match="two error rules for Odd"):
        ODD.merged(ErrorTable({Odd: ErrorRule(400)}))
