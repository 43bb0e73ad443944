"""FastAPI dependencies of the gateway's routes: its state's parts (`Caller`: common.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from loopline.common.deps import Caller
from loopline.common.service import service_state
from loopline.gateway.catalog import Catalog
from loopline.gateway.keys import KeyStore
from loopline.gateway.state import State
from loopline.gateway.users import UserStore

__all__ = ["Caller", "Cat", "Keys", "Users"]


async def _keys(request: Request) -> KeyStore:
    return service_state(request, State).keys


async def _catalog(request: Request) -> Catalog:
    return service_state(request, State).catalog


async def _users(request: Request) -> UserStore:
    return service_state(request, State).users


Keys = Annotated[KeyStore, Depends(_keys)]
Cat = Annotated[Catalog, Depends(_catalog)]
Users = Annotated[UserStore, Depends(_users)]
