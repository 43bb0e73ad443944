"""`POST /btql/validate`: check a BTQL query as the user types — parse, bind, and that its source
exists in the caller's organization — without compiling or running it.

Request: `{"query": <text or JSON AST>}`. Answer 200 either way, so an editor can call it on every
keystroke: `{"valid": true, "source": {object_type, object_ids, shape}, "columns": [names]}` or
`{"valid": false, "error": {"class", "message", "line", "column"[, "expected"]}}` with 1-based
line and column (as `/btql`'s 400 bodies). A malformed request body is a 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from loopline.common.http import JSONResponse
from loopline.query.btql_http import build_scope, off_loop
from loopline.query.deps import Caller, QueryBody, QueryState

from loopline import btql

# the editor shows at most this many of the tokens the parser expected
MAX_EXPECTED = 12


def check(query: Any) -> tuple[btql.SourceRef, list[str]]:
    """Parse and bind: the source the query reads and its visible output column names."""
    q = btql.parse(query)
    bound = btql.bind(q)
    return btql.source_of(q), [o.name for o in bound.outputs if not o.hidden]


def invalid(exc: btql.BtqlError) -> dict[str, Any]:
    err: dict[str, Any] = exc.to_json()["error"]
    if "expected" in err:
        err["expected"] = err["expected"][:MAX_EXPECTED]
    return {"valid": False, "error": err}


def build_validate_router() -> APIRouter:
    router = APIRouter()

    @router.post("/btql/validate")
    async def validate(principal: Caller, body: QueryBody, state: QueryState) -> Response:
        try:
            src, columns = await off_loop(check, body["query"])
            await build_scope(state.control_plane, principal.org_id, src, None)
        except btql.BtqlError as exc:
            return JSONResponse(invalid(exc))
        source = {"object_type": src.object_type, "object_ids": list(src.object_ids), "shape": src.shape}
        return JSONResponse({"valid": True, "source": source, "columns": columns})

    return router
