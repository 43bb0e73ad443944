"""The gateway's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

from dataclasses import dataclass

from loopline.gateway.catalog import Catalog
from loopline.gateway.keys import KeyStore
from loopline.gateway.users import UserStore


@dataclass(frozen=True)
class State:
    keys: KeyStore  # orgs and API keys (also read by the auth middleware)
    catalog: Catalog  # projects, experiments, datasets (the process's one Catalog)
    users: UserStore  # users, browser sessions, invitations (also read by the auth middleware)
