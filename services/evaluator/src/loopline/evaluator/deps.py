"""FastAPI dependencies of the evaluator's routes: its state's parts (`Caller`: common.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from loopline.common.deps import Caller
from loopline.common.service import service_state
from loopline.evaluator.ai_secrets import AiSecretStore
from loopline.evaluator.functions.bundles import BundleStore
from loopline.evaluator.functions.store import FunctionStore
from loopline.evaluator.online.scoring import OnlineScoring
from loopline.evaluator.proxy.engine import ModelGateway
from loopline.evaluator.runtime.runner import FunctionRunner
from loopline.evaluator.state import State

__all__ = ["Bundles", "Caller", "Functions", "Gateway", "Online", "Runner", "Secrets"]


async def _secrets(request: Request) -> AiSecretStore:
    return service_state(request, State).secrets


async def _gateway(request: Request) -> ModelGateway:
    return service_state(request, State).gateway


Secrets = Annotated[AiSecretStore, Depends(_secrets)]
Gateway = Annotated[ModelGateway, Depends(_gateway)]


async def _functions(request: Request) -> FunctionStore:
    return service_state(request, State).functions


async def _bundles(request: Request) -> BundleStore:
    return service_state(request, State).bundles


Functions = Annotated[FunctionStore, Depends(_functions)]
Bundles = Annotated[BundleStore, Depends(_bundles)]


async def _runner(request: Request) -> FunctionRunner:
    runner = service_state(request, State).runner
    if runner is None:
        raise RuntimeError("the evaluator started without its function runner")
    return runner


Runner = Annotated[FunctionRunner, Depends(_runner)]


async def _online(request: Request) -> OnlineScoring:
    online = service_state(request, State).online
    if online is None:
        raise RuntimeError("the evaluator started without online scoring")
    return online


Online = Annotated[OnlineScoring, Depends(_online)]
