"""FastAPI dependencies of the classifier's routes: its state's parts (`Caller`: common.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from loopline.classifier.state import State
from loopline.classifier.taxonomy import TaxonomyStore
from loopline.common.deps import Caller, ControlPlaneDep
from loopline.common.service import service_state

__all__ = ["Caller", "ClassifierState", "ControlPlaneDep", "Taxonomies"]


async def _state(request: Request) -> State:
    return service_state(request, State)


async def _taxonomies(request: Request) -> TaxonomyStore:
    return service_state(request, State).taxonomies


ClassifierState = Annotated[State, Depends(_state)]
Taxonomies = Annotated[TaxonomyStore, Depends(_taxonomies)]
