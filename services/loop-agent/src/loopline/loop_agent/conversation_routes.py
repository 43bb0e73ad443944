"""Conversations (`/v1/loop/conversations`), the streamed turns (a message, a confirmation, or
"continue"), the tool-call audit and the org's model allowlist. Thin: the agent is `loop.py`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from loopline.common.auth import Principal
from loopline.common.errors import ServiceError
from loopline.common.http import JSONResponse
from loopline.common.service_calls import ServiceCalls
from loopline.loop_agent.bodies import read_model
from loopline.loop_agent.conversations import Conversation
from loopline.loop_agent.deps import AgentState, Caller, Calls
from loopline.loop_agent.loop import AgentDeps, Decision, Turn, TurnInput, check_decision
from loopline.loop_agent.page import Page
from loopline.loop_agent.state import State
from loopline.loop_agent.tools import BY_NAME
from loopline.loop_agent.turn_claims import Held, TurnRunning
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask


def _known_tools(names: list[str] | None) -> list[str] | None:
    """Tool names a conversation switches off: each must be one of the agent's tools."""
    if names is None:
        return None
    unknown = sorted(set(names) - BY_NAME.keys())
    if unknown:
        raise ValueError(f"unknown tools {unknown}; the tools are: {', '.join(BY_NAME)}")
    return sorted(set(names))


#: at most 100 names of at most 100 characters; the bounds sit on the list, so `null` (no change,
#: or none on create) is not measured (on the union it was: a 500)
ToolNames = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)]
Disabled = Annotated[ToolNames | None, AfterValidator(_known_tools)]


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, max_length=200)
    title: str = Field(default="", max_length=500)
    auto_accept: bool = False
    #: tools switched off for this conversation (Loop's gear menu): never offered to the model
    disabled_tools: Disabled = None


class ConversationChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=500)
    auto_accept: bool | None = None
    #: the complete list of switched-off tools ([] switches every tool on again)
    disabled_tools: Disabled = None


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=100_000)
    page: Page = Field(default_factory=Page)


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_id: str = Field(min_length=1)
    approve: bool
    page: Page = Field(default_factory=Page)


class Continue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: Page = Field(default_factory=Page)


class AllowedModels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: the models Loop may use in this org; null clears the org's own list
    allowed_models: list[str] | None = Field(max_length=200)


async def check_model(state: State, principal: Principal, calls: ServiceCalls, model: str) -> None:
    """The model must be on the org's Loop allowlist (when it has one) and served by a configured
    provider or one of the org's AI secrets (else 400 naming it)."""
    allowed = await state.org_models.allowed(principal.org_id)
    if allowed is not None and model not in allowed:
        raise ServiceError(
            400,
            f"model {model!r} is not on this organization's Loop allowlist "
            f"(allowed: {', '.join(allowed) or 'none'}); an admin sets it with PUT /v1/loop/settings",
            field="model",
        )
    await state.models.check(principal, calls, model)


async def _conversation(conversation_id: str, principal: Caller, state: AgentState) -> Conversation:
    return await state.conversations.get(principal.org_id, conversation_id)


Conv = Annotated[Conversation, Depends(_conversation)]


def _stream(turn: Turn, release: Callable[[], Awaitable[None]]) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for event in turn.run():
                yield event.sse()
        finally:  # the turn's writes have landed (Turn.run): the conversation is free again
            await release()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        background=BackgroundTask(release),  # also when the body never ran (the client left first)
    )


async def _turn(
    state: State, conv: Conversation, principal: Principal, calls: ServiceCalls, inp: TurnInput
) -> StreamingResponse:
    """One turn at a time per conversation: this process's lock, then the store's claim, which
    holds it across every loop-agent process (turn_claims.py); else 409."""
    await check_model(state, principal, calls, conv.model)
    lock = state.running.setdefault(conv.id, asyncio.Lock())
    if lock.locked():
        raise TurnRunning()
    await lock.acquire()
    held: Held | None = None
    released = False

    async def release() -> None:  # once (the stream's end, then its background task)
        nonlocal released
        if released:
            return
        released = True
        try:
            if held is not None:
                await held.release()
        finally:
            lock.release()

    try:
        held = await state.turns.claim(conv.org_id, conv.id)
        history = None
        if inp.decision is not None:
            history = await state.conversations.messages(conv)
            check_decision(history, inp.decision)
        models = state.models.client(principal, calls, conv.model)
        deps = AgentDeps(state.conversations, state.audit, models, state.settings, state.docs)
        return _stream(Turn(deps, conv, principal, calls, inp, history, guard=held.check), release)
    except BaseException:
        await release()
        raise


def build_conversation_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/loop/conversations")
    async def create(request: Request, principal: Caller, state: AgentState, calls: Calls) -> Response:
        body = await read_model(request, NewConversation)
        model = body.model or state.settings.default_model
        if not model:
            raise ServiceError(400, "name a model (no default model is configured)", field="model")
        await check_model(state, principal, calls, model)
        conv = await state.conversations.create(
            principal,
            model=model,
            title=body.title,
            auto_accept=body.auto_accept,
            disabled_tools=tuple(body.disabled_tools or ()),
        )
        return JSONResponse(conv.describe())

    @router.get("/v1/loop/conversations")
    async def list_(principal: Caller, state: AgentState, limit: int = 100) -> Response:
        convs = await state.conversations.recent(principal.org_id, max(1, min(limit, 1000)))
        return JSONResponse({"objects": [c.describe() for c in convs]})

    @router.get("/v1/loop/conversations/{conversation_id}")
    async def read(conv: Conv, state: AgentState) -> Response:
        messages = await state.conversations.messages(conv)
        return JSONResponse({**conv.describe(), "messages": messages})

    @router.patch("/v1/loop/conversations/{conversation_id}")
    async def change(
        request: Request, conv: Conv, principal: Caller, state: AgentState, calls: Calls
    ) -> Response:
        body = await read_model(request, ConversationChange)
        changes = body.model_dump(exclude_none=True)
        if "disabled_tools" in changes:
            changes["disabled_tools"] = tuple(changes["disabled_tools"])
        if "model" in changes:
            await check_model(state, principal, calls, changes["model"])
        return JSONResponse((await state.conversations.update(conv, **changes)).describe())

    @router.delete("/v1/loop/conversations/{conversation_id}")
    async def delete(conv: Conv, state: AgentState) -> Response:
        await state.conversations.delete(conv)
        return JSONResponse({"id": conv.id, "deleted": True})

    @router.post("/v1/loop/conversations/{conversation_id}/messages")
    async def message(
        request: Request, conv: Conv, principal: Caller, state: AgentState, calls: Calls
    ) -> Response:
        body = await read_model(request, NewMessage)
        return await _turn(state, conv, principal, calls, TurnInput(message=body.content, page=body.page))

    @router.post("/v1/loop/conversations/{conversation_id}/confirm")
    async def confirm(
        request: Request, conv: Conv, principal: Caller, state: AgentState, calls: Calls
    ) -> Response:
        body = await read_model(request, Confirmation)
        inp = TurnInput(page=body.page, decision=Decision(body.call_id, body.approve))
        return await _turn(state, conv, principal, calls, inp)

    @router.post("/v1/loop/conversations/{conversation_id}/continue")
    async def continue_(
        request: Request, conv: Conv, principal: Caller, state: AgentState, calls: Calls
    ) -> Response:
        body = await read_model(request, Continue)
        return await _turn(state, conv, principal, calls, TurnInput(page=body.page))

    @router.get("/v1/loop/audit")
    async def audit(
        principal: Caller,
        state: AgentState,
        conversation_id: str | None = None,
        tool: str | None = None,
        limit: int = 100,
    ) -> Response:
        rows = await state.audit.list(
            principal.org_id, conversation_id=conversation_id, tool=tool, limit=max(1, min(limit, 10_000))
        )
        return JSONResponse({"objects": rows})

    @router.get("/v1/loop/settings")
    async def get_settings(principal: Caller, state: AgentState) -> Response:
        allowed = await state.org_models.allowed(principal.org_id)
        return JSONResponse({"allowed_models": None if allowed is None else list(allowed)})

    @router.get("/v1/loop/models")
    async def models(principal: Caller, state: AgentState, calls: Calls) -> Response:
        """The models the caller's org can call (settings' providers, then its AI secrets), each
        marked whether the org's allowlist lets Loop use it."""
        allowed = await state.org_models.allowed(principal.org_id)
        offers, problem = await state.models.offers(principal, calls)
        listed = []
        for o in offers:
            ok = allowed is None or (
                o.id in allowed if not o.id.endswith("*") else any(map(o.serves, allowed))
            )
            listed.append({**o.describe(), "allowed": ok})
        body: dict[str, Any] = {
            "allowed_models": None if allowed is None else list(allowed),
            "default_model": state.settings.default_model or None,
            "models": listed,
        }
        if problem:
            body["problem"] = problem
        return JSONResponse(body)

    @router.put("/v1/loop/settings")
    async def put_settings(request: Request, principal: Caller, state: AgentState) -> Response:
        body = await read_model(request, AllowedModels)
        await state.org_models.set(principal.org_id, body.allowed_models)
        allowed = await state.org_models.allowed(principal.org_id)
        return JSONResponse({"allowed_models": None if allowed is None else list(allowed)})

    return router
