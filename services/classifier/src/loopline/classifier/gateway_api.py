"""The other services' public APIs, called as the classifier's caller (`ServiceCalls`).

The improvement loop and discovery read logs through BTQL, create datasets and experiments
through the gateway, write their rows through ingest and read summaries from the query service:
as the person who asked, with their rights and nothing more, in-process or over HTTP alike.

Answers other than 2xx become domain errors with the other service's message (a 404 for a dataset
of another org stays a 404 here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from loopline.btql.unparse import quote_string
from loopline.common.auth import Principal
from loopline.common.errors import (
    Busy,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Problem,
    TooLarge,
    Unavailable,
)
from loopline.common.service_calls import ServiceAnswer, ServiceCalls

INSERT_CHUNK = 500  # events per insert call
BTQL_PAGE = 1000

_BY_STATUS: dict[int, type[Problem]] = {
    400: Invalid,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: Invalid,
    429: Busy,
}


def problem(answer: ServiceAnswer, what: str) -> Problem:
    """The domain error for a refused call: the other service's status kind and message."""
    kind = _BY_STATUS.get(answer.status, Unavailable)
    return kind(f"{what}: {answer.error_message()}")


@dataclass(frozen=True)
class GatewayApi:
    calls: ServiceCalls
    principal: Principal

    async def _ok(self, method: str, path: str, body: Any = None, *, what: str) -> Any:
        answer = await self.calls.call(self.principal, method, path, body)
        if not answer.ok:
            raise problem(answer, what)
        return answer.body

    async def call(self, method: str, path: str, body: Any = None) -> ServiceAnswer:
        """Any call, answered as it came (for optional steps such as naming with an LLM)."""
        return await self.calls.call(self.principal, method, path, body)

    async def btql(self, query: str, max_rows: int) -> list[dict[str, Any]]:
        """Up to `max_rows` rows of a `select:` query, page by page (the query has no `limit:`)."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(out) < max_rows:
            page = min(BTQL_PAGE, max_rows - len(out))
            text = f"{query} | limit: {page}" + (f" | cursor: {quote_string(cursor)}" if cursor else "")
            body = await self._ok("POST", "/btql", {"query": text}, what="reading the logs")
            data = body.get("data") if isinstance(body, dict) else None
            rows = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
            out.extend(rows)
            cursor = body.get("cursor") if isinstance(body, dict) else None
            if not cursor or len(rows) < page:
                break
        return out[:max_rows]

    async def btql_rows(self, query: str) -> list[dict[str, Any]]:
        """The rows of one query as written (an aggregate: one page)."""
        body = await self._ok("POST", "/btql", {"query": query}, what="reading the logs")
        data = body.get("data") if isinstance(body, dict) else None
        return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []

    async def fetch_all(self, object_type: str, object_id: str, max_rows: int) -> list[dict[str, Any]]:
        """The current rows of a dataset or experiment (`/fetch` pages), at most `max_rows`."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        path = f"/v1/{object_type}/{quote(object_id, safe='')}/fetch"
        while len(out) < max_rows:
            body = await self._ok(
                "POST",
                path,
                {"limit": min(BTQL_PAGE, max_rows - len(out)), **({"cursor": cursor} if cursor else {})},
                what=f"reading {object_type} {object_id}",
            )
            events = body.get("events") if isinstance(body, dict) else None
            rows = [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
            out.extend(rows)
            cursor = body.get("cursor") if isinstance(body, dict) else None
            if not cursor or not rows:
                break
        return out[:max_rows]

    async def get_object(self, object_type: str, object_id: str) -> dict[str, Any]:
        body = await self._ok(
            "GET", f"/v1/{object_type}/{quote(object_id, safe='')}", what=f"{object_type} {object_id!r}"
        )
        return dict(body)

    async def create(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/dataset or /v1/experiment: the object as the gateway answers it."""
        return dict(await self._ok("POST", f"/v1/{object_type}", body, what=f"creating the {object_type}"))

    async def insert(self, object_type: str, object_id: str, events: Sequence[dict[str, Any]]) -> int:
        path = f"/v1/{object_type}/{quote(object_id, safe='')}/insert"
        for i in range(0, len(events), INSERT_CHUNK):
            chunk = list(events[i : i + INSERT_CHUNK])
            await self._ok("POST", path, {"events": chunk}, what=f"writing rows of {object_type} {object_id}")
        return len(events)

    async def summarize(self, experiment_id: str, comparison_id: str | None = None) -> dict[str, Any]:
        path = f"/v1/experiment/{quote(experiment_id, safe='')}/summarize"
        if comparison_id:
            path += f"?comparison_experiment_id={quote(comparison_id, safe='')}"
        return dict(await self._ok("GET", path, what=f"summarizing experiment {experiment_id}"))
