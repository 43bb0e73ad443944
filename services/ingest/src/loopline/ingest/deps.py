"""FastAPI dependencies of ingest's routes: its state's parts (`Caller`, `ControlPlaneDep` and
`Context` come from common.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from loopline.common.deps import Caller, Context, ControlPlaneDep
from loopline.common.service import service_state
from loopline.ingest.blobs import BlobStore, UrlSigner
from loopline.ingest.dead_letters import DeadLetters
from loopline.ingest.state import State
from loopline.ingest.write_api import WriteAPI

__all__ = ["Blobs", "Caller", "Context", "ControlPlaneDep", "IngestState", "Letters", "Signer", "Writes"]


async def _write_api(request: Request) -> WriteAPI:
    return service_state(request, State).write_api


async def _dead_letters(request: Request) -> DeadLetters:
    return service_state(request, State).dead_letters


async def _blobs(request: Request) -> BlobStore:
    return service_state(request, State).blobs


async def _signer(request: Request) -> UrlSigner:
    return service_state(request, State).signer


Writes = Annotated[WriteAPI, Depends(_write_api)]
Letters = Annotated[DeadLetters, Depends(_dead_letters)]
Blobs = Annotated[BlobStore, Depends(_blobs)]
Signer = Annotated[UrlSigner, Depends(_signer)]


async def _state(request: Request) -> State:
    return service_state(request, State)


#: the whole state, for a hot route that needs several parts (one dependency instead of several)
IngestState = Annotated[State, Depends(_state)]
