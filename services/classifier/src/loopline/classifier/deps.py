"""FastAPI dependencies of the classifier's routes: its state's parts (`Caller`: common.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from loopline.classifier.gateway_api import GatewayApi
from loopline.classifier.state import State
from loopline.classifier.taxonomy import TaxonomyStore
from loopline.common.deps import Caller, ControlPlaneDep
from loopline.common.errors import Unavailable
from loopline.common.service import ServiceContext, service_state

__all__ = ["Api", "Caller", "ClassifierState", "ControlPlaneDep", "Taxonomies"]


async def _state(request: Request) -> State:
    return service_state(request, State)


async def _taxonomies(request: Request) -> TaxonomyStore:
    return service_state(request, State).taxonomies


ClassifierState = Annotated[State, Depends(_state)]
Taxonomies = Annotated[TaxonomyStore, Depends(_taxonomies)]


async def _api(request: Request, caller: Caller) -> GatewayApi:
    """The other services' APIs as the caller (in-process, or through the gateway's URL)."""
    ctx: ServiceContext = request.app.state.ctx
    if ctx.service_calls is None:
        raise Unavailable("this process reaches no gateway (run it here, or set LOOPLINE_SERVICE_URLS)")
    return GatewayApi(ctx.service_calls, caller)


Api = Annotated[GatewayApi, Depends(_api)]
