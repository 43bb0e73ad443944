"""What a service is: routes, background workers, and the shared context they run in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter
from loopline.common.bus import Bus
from loopline.common.control_plane import ControlPlane
from loopline.common.schema import Migration
from loopline.common.settings import Settings, SettingsSection
from loopline.common.store import Store
from loopline.common.xact import XactIdGenerator


class Worker(Protocol):
    """A background task a service runs (a consumer, a scheduler)."""

    async def stop(self) -> None: ...


@dataclass
class ServiceContext:
    """Everything a service needs, built once per process by the runtime."""

    settings: Settings
    bus: Bus
    store: Store | None
    xact: XactIdGenerator
    services: tuple[str, ...]
    embedded: bool
    # projects / experiments / datasets, in-process or through the gateway's HTTP API (the
    # runtime chooses); None when the process has neither the gateway, its URL nor a store
    control_plane: ControlPlane | None = None
    # shared objects services publish for each other inside one process (e.g. the writer's
    # progress tracker for read-your-writes); keys are documented where they are set.
    shared: dict[str, Any] = field(default_factory=dict)

    def require_control_plane(self) -> ControlPlane:
        if self.control_plane is None:
            raise RuntimeError(
                "this service needs the control plane: run the gateway in this process, "
                "give it a store, or name the gateway's URL in LOOPLINE_SERVICE_URLS"
            )
        return self.control_plane

    def require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("this service needs the store, but the process has none")
        return self.store


@dataclass(frozen=True)
class ServiceDef:
    """A service's parts. The runtime mounts `router` and starts `workers` in its lifespan."""

    name: str
    router: Callable[[ServiceContext], APIRouter] | None = None
    start: Callable[[ServiceContext], Awaitable[list[Worker]]] | None = None
    needs_store: bool = False
    # path prefixes the gateway forwards to this service in distributed mode
    routes: tuple[str, ...] = ()
    # the schema of the tables this service owns (`common.schema.Migration`); the runtime applies
    # every known service's migrations, so a reader never starts before its tables exist
    migrations: tuple[Migration, ...] = ()
    # this service's own settings section (`ctx.settings.section(cls)`); the runtime loads it at
    # start-up, so a bad value stops the process before it serves
    settings: type[SettingsSection] | None = None
