"""The gateway service definition (the smallest example of the pattern in `common.service`).

`start` builds the `State` (state.py: the key store, the user store and the process's Catalog);
the routes (routes.py, key_routes.py, user_routes.py, object_routes.py) read it through `deps`.
Who may call which route of any service is `policy.py`, enforced by `auth_middleware.py`. What other services need of
the control plane is `ctx.control_plane` (`loopline.common.control_plane`), never this package.
"""

from __future__ import annotations

from loopline.common.service import ServiceContext, ServiceDef, Started
from loopline.gateway import tables
from loopline.gateway.catalog import Catalog
from loopline.gateway.control_plane import LocalControlPlane
from loopline.gateway.keys import KeyStore
from loopline.gateway.routes import build_router
from loopline.gateway.settings import GatewaySettings
from loopline.gateway.state import State
from loopline.gateway.users import UserStore


async def _start(ctx: ServiceContext) -> Started:
    store = ctx.require_store()
    # one Catalog (and cache) per process: the in-process control plane's, which other services
    # of this process use too
    cp = ctx.control_plane
    catalog = cp.catalog if isinstance(cp, LocalControlPlane) else Catalog(store)
    gs = ctx.settings.section(GatewaySettings)
    return Started(State(keys=KeyStore(store), catalog=catalog, users=UserStore(store, gs.session_ttl_s)))


SERVICE = ServiceDef(
    name="gateway",
    router=build_router,
    start=_start,
    needs_store=True,
    migrations=tables.MIGRATIONS,
    settings=GatewaySettings,
)
