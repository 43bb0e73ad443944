"""FastAPI dependencies of the query service's routes: its state, read-your-writes, and the
request bodies and scopes several routes share (`Caller` comes from common.deps).

Dependencies run in the order of a route's parameters: a route lists the checks that can refuse
the request (caller, body, scope) before `Fresh`, so a bad request is refused without waiting."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from loopline.common.deps import Caller
from loopline.common.errors import ServiceError, malformed_json
from loopline.common.progress import wait_for_writer
from loopline.common.service import service_state
from loopline.query.async_btql import AsyncQueries
from loopline.query.btql_http import off_loop
from loopline.query.reads import ObjectReader, ObjectScope
from loopline.query.state import State

__all__ = ["Caller", "Fresh", "Jobs", "QueryBody", "QueryState", "Reader", "Scoped", "wait_fresh"]


async def _state(request: Request) -> State:
    return service_state(request, State)


QueryState = Annotated[State, Depends(_state)]


async def _reader(state: QueryState) -> ObjectReader:
    return state.reader


async def _jobs(state: QueryState) -> AsyncQueries:
    return state.jobs


Reader = Annotated[ObjectReader, Depends(_reader)]
Jobs = Annotated[AsyncQueries, Depends(_jobs)]


async def wait_fresh(state: QueryState) -> None:
    """Read-your-writes: everything acknowledged before this read is visible to it (else
    `NotCaughtUp`, a 503)."""
    await wait_for_writer(state.bus, state.read_your_writes_timeout_s)


Fresh = Annotated[None, Depends(wait_fresh)]


async def object_scope(object_type: str, object_id: str, principal: Caller, reader: Reader) -> ObjectScope:
    """The caller's object named by the path (or query) parameters; 404 if it is not theirs."""
    return await reader.scope(principal.org_id, object_type, object_id)


Scoped = Annotated[ObjectScope, Depends(object_scope)]


def query_body(raw: bytes) -> dict[str, Any]:
    """A BTQL request body: a JSON object with a `query` (text or JSON AST); else a 400."""
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise malformed_json(exc) from None
    if not isinstance(body, dict) or "query" not in body:
        raise ServiceError(400, "body must be a JSON object with a 'query' (text or JSON AST)", field="query")
    return body


# bodies larger than this are decoded on the BTQL worker threads (a body may be up to the request
# limit, tens of MB: decoding it would hold the event loop for tens of milliseconds)
_BIG_BODY = 64 * 1024


async def _query_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) <= _BIG_BODY:
        return query_body(raw)
    return await off_loop(query_body, raw)


QueryBody = Annotated[dict[str, Any], Depends(_query_body)]
