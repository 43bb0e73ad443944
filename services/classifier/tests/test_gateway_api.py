"""The other services' APIs as the caller: BTQL and fetch pages, inserts in chunks, refusals as
domain errors with the other service's message."""

from __future__ import annotations

from typing import Any

import pytest
from loopline.classifier.gateway_api import INSERT_CHUNK, GatewayApi
from loopline.common.auth import Principal
from loopline.common.errors import Forbidden, Invalid, NotFound, Unavailable
from loopline.common.service_calls import ServiceAnswer


class Calls:
    """Answers from a script, recording what was asked (as whom)."""

    def __init__(self, answers: list[ServiceAnswer]) -> None:
        self.answers = answers
        self.seen: list[tuple[Principal, str, str, Any]] = []

    async def call(
        self,
        principal: Principal,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout_s: float | None = None,
    ) -> ServiceAnswer:
        self.seen.append((principal, method, path, body))
        return self.answers.pop(0)


ME = Principal(org_id="o1", user_id="u1")


async def test_btql_pages_until_the_cursor_ends() -> None:
    calls = Calls(
        [
            ServiceAnswer(200, {"data": [{"i": i} for i in range(1000)], "cursor": "c1"}),
            ServiceAnswer(200, {"data": [{"i": 1000}], "cursor": "c2"}),
        ]
    )
    rows = await GatewayApi(calls, ME).btql("select: id | from: project_logs('p')", 5000)
    assert len(rows) == 1001
    assert [s[3]["query"] for s in calls.seen] == [
        "select: id | from: project_logs('p') | limit: 1000",
        "select: id | from: project_logs('p') | limit: 1000 | cursor: 'c1'",
    ]
    assert all(s[0] == ME for s in calls.seen)  # as the caller, never more


async def test_fetch_stops_at_max_rows_and_inserts_chunk() -> None:
    calls = Calls([ServiceAnswer(200, {"events": [{"id": "a"}, {"id": "b"}], "cursor": "x"})])
    assert await GatewayApi(calls, ME).fetch_all("dataset", "d1", 2) == [{"id": "a"}, {"id": "b"}]
    assert calls.seen[0][2] == "/v1/dataset/d1/fetch" and calls.seen[0][3] == {"limit": 2}
    calls = Calls([ServiceAnswer(200, {}), ServiceAnswer(200, {})])
    assert await GatewayApi(calls, ME).insert(
        "experiment", "e1", [{"n": i} for i in range(INSERT_CHUNK + 1)]
    ) == (INSERT_CHUNK + 1)
    assert [len(s[3]["events"]) for s in calls.seen] == [INSERT_CHUNK, 1]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, Invalid), (403, Forbidden), (404, NotFound), (500, Unavailable), (503, Unavailable)],
)
async def test_refusals_are_domain_errors(status: int, kind: type[Exception]) -> None:
    calls = Calls([ServiceAnswer(status, {"error": {"message": "no such dataset"}})])
    with pytest.raises(kind, match="no such dataset"):
        await GatewayApi(calls, ME).get_object("dataset", "d/1")
    assert calls.seen[0][2] == "/v1/dataset/d%2F1"
