"""What a service is: routes, background workers, typed state, and the context they run in.

The pattern every service follows (services/gateway is the smallest example):

- `state.py`: a frozen dataclass `State` with what the service's routes use (stores, clients,
  runners). `start(ctx)` builds it once per process and returns it with the service's workers:
  `Started(State(...), workers=[...])`. Whatever must be stopped (a job runner, a consumer) is
  created and stopped by `start`/its workers, never while building the router.
- `deps.py`: `Annotated` dependency aliases over `async def` functions that read the state from
  the app with `service_state(request, State)` (e.g. `Keys = Annotated[KeyStore, Depends(_keys)]`);
  `common.deps` has the caller (`Caller`) and the control plane. Routes declare what they need as
  parameters (`async def get_api_key(key_id: str, keys: Keys, p: Caller)`); nothing is looked up
  by string.
- `routes.py`: thin routers, built from `ServiceContext` (settings, limits) without any state.
  They raise `ServiceError(status, message, **where)` for HTTP-level refusals and let domain errors
  propagate: the app answers them through one error table (`loopline.common.http.ErrorTable`;
  `ServiceDef.errors` adds the service's own domain errors to it).
- What a service needs of another service is a protocol in `libs/common` with an in-process and an
  HTTP implementation, chosen by the runtime and handed over in `ServiceContext` (e.g.
  `control_plane`); a service never imports another service's package.
- `tables.py`: the migrations of the tables the service owns (`ServiceDef.migrations`, versions in
  the service's block of 100, see `common.schema.Migration`); `settings.py`: its own settings
  section (`ServiceDef.settings`, a `common.settings.SettingsSection`, read with
  `ctx.settings.section(Cls)`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from fastapi import APIRouter, Request
from loopline.common.bus import Bus
from loopline.common.control_plane import ControlPlane
from loopline.common.http import ErrorTable
from loopline.common.schema import Migration
from loopline.common.settings import Settings, SettingsSection
from loopline.common.store import Store
from loopline.common.xact import XactIdGenerator

if TYPE_CHECKING:
    from loopline.common.service_calls import ServiceCalls

S = TypeVar("S")


class Worker(Protocol):
    """A background task a service runs (a consumer, a scheduler)."""

    async def stop(self) -> None: ...


@dataclass
class ServiceContext:
    """What every service of a process gets, built once per process by the runtime."""

    settings: Settings
    bus: Bus
    store: Store | None
    xact: XactIdGenerator
    services: tuple[str, ...]
    embedded: bool
    # projects / experiments / datasets, in-process or through the gateway's HTTP API (the
    # runtime chooses); None when the process has neither the gateway, its URL nor a store
    control_plane: ControlPlane | None = None
    # the other services' HTTP APIs as a principal (`common.service_calls`): this process's app
    # in-process when it runs the gateway, else the gateway's URL; None with neither (the runtime
    # sets it when it builds the app, and closes it at shutdown)
    service_calls: ServiceCalls | None = None

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
class Started:
    """What a service's `start` returns: its state (read by its routes' dependencies) and the
    workers the runtime stops, in reverse order, at shutdown."""

    state: object | None = None
    workers: Sequence[Worker] = ()


class ServiceStates:
    """The started services' states of one app, by type (`app.state.services`)."""

    def __init__(self) -> None:
        self._by_type: dict[type, object] = {}

    def add(self, state: object) -> None:
        if type(state) in self._by_type:
            raise ValueError(f"two services started a {type(state).__qualname__}")
        self._by_type[type(state)] = state

    def get(self, kind: type[S]) -> S:
        found = self._by_type.get(kind)
        if not isinstance(found, kind):
            raise RuntimeError(f"no {kind.__qualname__} in this app: its service is not started here")
        return found


def service_state(request: Request, kind: type[S]) -> S:
    """The state of type `kind` its service's `start` returned (for `deps.py` dependencies)."""
    states: ServiceStates = request.app.state.services
    return states.get(kind)


@dataclass(frozen=True)
class ServiceDef:
    """A service's parts. The runtime mounts `router`, calls `start` in its lifespan (keeping the
    state for the routes' dependencies, stopping the workers at shutdown), and answers the
    exception types of `errors` (added to `loopline.common.http.COMMON_ERRORS`)."""

    name: str
    router: Callable[[ServiceContext], APIRouter] | None = None
    start: Callable[[ServiceContext], Awaitable[Started]] | None = None
    needs_store: bool = False
    # path prefixes the gateway forwards to this service in distributed mode
    routes: tuple[str, ...] = ()
    # of those, the ones whose answer waits for work that may outlast any fixed timeout (a
    # non-stream `POST /v1/eval` answers when the eval is done): forwarded without a read timeout
    slow_routes: tuple[str, ...] = ()
    # the schema of the tables this service owns (`common.schema.Migration`); the runtime applies
    # every known service's migrations, so a reader never starts before its tables exist
    migrations: tuple[Migration, ...] = ()
    # this service's own settings section(s) (`ctx.settings.section(cls)`; several when parts of
    # the service have their own, e.g. the evaluator's sandbox); the runtime loads them at
    # start-up, so a bad value stops the process before it serves
    settings: type[SettingsSection] | tuple[type[SettingsSection], ...] | None = None
    # how this service's own domain errors are answered (added to `http.COMMON_ERRORS`)
    errors: ErrorTable = field(default_factory=ErrorTable)

    @property
    def sections(self) -> tuple[type[SettingsSection], ...]:
        """Every settings section this service declares."""
        if self.settings is None:
            return ()
        return self.settings if isinstance(self.settings, tuple) else (self.settings,)
