"""`/v1/loop/analyses` (what there is) and `/v1/loop/analyze/{name}` (run one): the pre-canned
analyses, answered from BTQL as the caller, with no model involved."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from loopline.common.errors import NotFound
from loopline.common.http import JSONResponse
from loopline.loop_agent.analyses.catalog import ANALYSES, AnalysisParams, run_analysis
from loopline.loop_agent.bodies import read_model, validated
from loopline.loop_agent.deps import Btql


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
        params = validated(AnalysisParams, dict(request.query_params))
        return JSONResponse(await run_analysis(btql, _analysis(name), params))

    @router.post("/v1/loop/analyze/{name}")
    async def analyze_post(name: str, request: Request, btql: Btql) -> Response:
        params = await read_model(request, AnalysisParams)
        return JSONResponse(await run_analysis(btql, _analysis(name), params))

    return router
