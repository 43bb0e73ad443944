"""FastAPI dependencies every service's routes may use: the caller, the process's context and
the control plane. A service's own state comes through its `deps.py` (see `common.service`).

Dependencies are `async def`: FastAPI runs a plain function dependency on its thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from loopline.common.auth import Principal, current_principal
from loopline.common.control_plane import ControlPlane
from loopline.common.service import ServiceContext


async def service_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


async def control_plane(request: Request) -> ControlPlane:
    """The process's control plane (read per request: the runtime chose it)."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx.require_control_plane()


Caller = Annotated[Principal, Depends(current_principal)]
Context = Annotated[ServiceContext, Depends(service_context)]
ControlPlaneDep = Annotated[ControlPlane, Depends(control_plane)]
