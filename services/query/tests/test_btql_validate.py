"""POST /btql/validate: parse + bind + source check, positions of errors, never runs the query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


async def validate(ll: InProcess, query: Any, headers: dict[str, str] | None = None) -> Any:
    r = await ll.client.post("/btql/validate", json={"query": query}, headers=headers or ll.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def project(ll: InProcess, name: str) -> str:
    r = await ll.client.post("/v1/project", json={"name": name}, headers=ll.headers)
    return str(r.json()["id"])


async def test_valid_query_names_its_source_and_columns(ll: InProcess) -> None:
    pid = await project(ll, "validate-ok")
    out = await validate(
        ll, f"select: id, metadata.model as model | from: project_logs('{pid}') traces | limit: 5"
    )
    assert out == {
        "valid": True,
        "source": {"object_type": "project_logs", "object_ids": [pid], "shape": "traces"},
        "columns": ["id", "model"],
    }
    agg = await validate(
        ll, f"dimensions: metadata.model as m | measures: count(1) as n | from: project_logs('{pid}')"
    )
    assert agg["valid"] and agg["columns"] == ["m", "n"]


@pytest.mark.parametrize(
    ("query", "cls", "at", "message"),
    [
        (
            "select: * | from: project_logs('P') | filter: input ILIKE '%abc",
            "ParseError",
            "'%abc",
            "unterminated",
        ),
        (
            "select: *\nfrom: project_logs('P')\nfiltr: x = 1",
            "ParseError",
            "filtr:",
            "unknown clause 'filtr:'",
        ),
        ("select: * | from: project_logz('P')", "BindError", "project_logz", "unknown data source"),
        ("select: foo(id) | from: project_logs('P')", "BindError", "foo(", "unknown function 'foo'"),
        ("select: * | from: project_logs('P') | filter: count(1) > 5", "BindError", "count(", "aggregate"),
        ("select: * | from: project_logs('P') | filter: input LIKE 5", "TypeError", "5", "LIKE pattern"),
    ],
)
async def test_errors_carry_class_message_and_position(
    ll: InProcess, query: str, cls: str, at: str, message: str
) -> None:
    """The 1-based line and column point at the text `at` (where the editor underlines)."""
    pid = await project(ll, "validate-bad")
    text = query.replace("'P'", f"'{pid}'")
    out = await validate(ll, text)
    assert out["valid"] is False
    err = out["error"]
    line_no = next(i for i, line in enumerate(text.split("\n"), 1) if at in line)
    column = text.split("\n")[line_no - 1].rindex(at) + 1
    assert (err["class"], err["line"], err["column"]) == (cls, line_no, column), err
    assert message in err["message"]
    assert len(err.get("expected", [])) <= 12


async def test_source_of_another_org_is_invalid_and_nothing_runs(ll: InProcess) -> None:
    pid = await project(ll, "validate-mine")
    _, other_key = await ll.new_org("validate-other")
    out = await validate(
        ll, f"select: * | from: project_logs('{pid}')", headers={"Authorization": f"Bearer {other_key}"}
    )
    assert out["valid"] is False and "does not exist in this organization" in out["error"]["message"]
    missing = await validate(ll, "select: * | from: experiment('00000000-0000-0000-0000-000000000000')")
    assert missing["valid"] is False


async def test_bad_requests_are_400(ll: InProcess) -> None:
    for body in (b"", b"[1]", b"{not json", b'{"q": 1}'):
        r = await ll.client.post("/btql/validate", content=body, headers=ll.headers)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["message"]
    r = await ll.client.post("/btql/validate", json={"query": "select: *"})
    assert r.status_code == 401
