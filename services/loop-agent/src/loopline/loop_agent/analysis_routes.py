"""`/v1/loop/analyses` (what there is) and `/v1/loop/analyze/{name}` (run one): the pre-canned
analyses, answered from BTQL as the caller, with no model involved."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from loopline.common.errors import NotFound, ServiceError
from loopline.common.http import JSONResponse
from loopline.loop_agent.analyses.catalog import ANALYSES, AnalysisParams, run_analysis
from loopline.loop_agent.deps import Btql
from pydantic import ValidationError


def parse_params(raw: dict[str, Any]) -> AnalysisParams:
    """The analysis parameters, or a 400 naming the bad field."""
    try:
        return AnalysisParams.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        raise ServiceError(400, f"{where}: {err['msg']}", field=where) from None


def _analysis(name: str) -> str:
    if name not in ANALYSES:
        raise NotFound(f"no analysis {name!r}: use one of {', '.join(ANALYSES)}", field="name")
    return name


def build_analysis_router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/loop/analyses")
    async def list_analyses() -> Response:
        return JSONResponse(
            {
                "analyses": [{"name": a.name, "description": a.description} for a in ANALYSES.values()],
                "parameters": AnalysisParams.model_json_schema(),
            }
        )

    @router.get("/v1/loop/analyze/{name}")
    async def analyze_get(name: str, request: Request, btql: Btql) -> Response:
        params = parse_params(dict(request.query_params))
        return JSONResponse(await run_analysis(btql, _analysis(name), params))

    @router.post("/v1/loop/analyze/{name}")
    async def analyze_post(name: str, request: Request, btql: Btql) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise ServiceError(
                400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        if not isinstance(body, dict):
            raise ServiceError(400, "body must be a JSON object of analysis parameters")
        return JSONResponse(await run_analysis(btql, _analysis(name), parse_params(body)))

    return router
