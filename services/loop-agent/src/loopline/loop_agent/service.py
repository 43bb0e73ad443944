"""The loop agent: Loopline's Loop. Pre-canned analyses (no model needed), conversations with a
tool-using agent over the other services, every tool call gated and audited.

`start` builds the `State` (state.py); the other services are reached as the caller through
`ServiceCalls` (calls.py): in-process when they run here, else through the gateway's URL."""

from __future__ import annotations

from fastapi import APIRouter
from loopline.common.service import ServiceContext, ServiceDef, Started
from loopline.loop_agent import tables
from loopline.loop_agent.analysis_routes import build_analysis_router
from loopline.loop_agent.calls import CallsChooser
from loopline.loop_agent.errors import ERRORS
from loopline.loop_agent.settings import LoopAgentSettings
from loopline.loop_agent.state import State


def _router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()
    router.include_router(build_analysis_router())
    return router


async def _start(ctx: ServiceContext) -> Started:
    calls = CallsChooser(ctx)
    state = State(store=ctx.require_store(), settings=ctx.settings.section(LoopAgentSettings), calls=calls)
    return Started(state, workers=[calls])


SERVICE = ServiceDef(
    name="loop-agent",
    router=_router,
    start=_start,
    needs_store=True,
    migrations=tables.MIGRATIONS,
    routes=(r"^/v1/loop/",),
    errors=ERRORS,
    settings=LoopAgentSettings,
)
