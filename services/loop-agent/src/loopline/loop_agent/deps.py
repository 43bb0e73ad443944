"""FastAPI dependencies of the loop agent's routes (`Caller` comes from common.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from loopline.common.deps import Caller
from loopline.common.service import service_state
from loopline.common.service_calls import ServiceCalls
from loopline.loop_agent.btql_client import BtqlClient
from loopline.loop_agent.state import State

__all__ = ["AgentState", "Btql", "Caller", "Calls"]


async def _state(request: Request) -> State:
    return service_state(request, State)


AgentState = Annotated[State, Depends(_state)]


async def _calls(request: Request, state: AgentState) -> ServiceCalls:
    return state.calls.for_app(request.app)


Calls = Annotated[ServiceCalls, Depends(_calls)]


async def _btql(principal: Caller, calls: Calls) -> BtqlClient:
    return BtqlClient(calls, principal)


Btql = Annotated[BtqlClient, Depends(_btql)]
