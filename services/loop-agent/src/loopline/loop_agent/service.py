"""The loop agent: Loopline's Loop. Pre-canned analyses (no model needed), conversations with a
tool-using agent over the other services, every tool call gated and audited.

`start` builds the `State` (state.py); the other services are reached as the caller through
`ServiceCalls` (calls.py): in-process when they run here, else through the gateway's URL."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from loopline.common.service import ServiceContext, ServiceDef, Started
from loopline.loop_agent import tables
from loopline.loop_agent.analysis_routes import build_analysis_router
from loopline.loop_agent.audit import AuditLog
from loopline.loop_agent.calls import CallsChooser
from loopline.loop_agent.conversation_routes import build_conversation_router
from loopline.loop_agent.conversations import ConversationStore, OrgModels
from loopline.loop_agent.docs_index import DocsSearch, classifier_embedder, repo_root
from loopline.loop_agent.errors import ERRORS
from loopline.loop_agent.models import AgentModels
from loopline.loop_agent.settings import LoopAgentSettings
from loopline.loop_agent.state import State
from loopline.loop_agent.turn_claims import TurnClaims
from loopline.providers import ModelClient


def _router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()
    router.include_router(build_analysis_router())
    router.include_router(build_conversation_router())
    return router


async def _start(ctx: ServiceContext) -> Started:
    settings = ctx.settings.section(LoopAgentSettings)
    store = ctx.require_store()
    calls = CallsChooser(ctx)
    models = AgentModels(ModelClient(settings.providers) if settings.providers else None)
    docs = DocsSearch(Path(settings.docs_root) if settings.docs_root else repo_root(), classifier_embedder)
    if settings.docs_index_at_start:
        docs.start()
    settle = settings.turn_claim_settle_s
    if settle is None:
        settle = 1.0 if store.cluster else 0.0
    state = State(
        store=store,
        settings=settings,
        calls=calls,
        conversations=ConversationStore(store),
        org_models=OrgModels(store, settings.allowed_models),
        audit=AuditLog(store),
        models=models,
        docs=docs,
        turns=TurnClaims(store, lease_s=settings.turn_lease_s, settle_s=settle),
    )
    return Started(state, workers=[calls, models, docs])


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
