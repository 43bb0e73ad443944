"""The query service's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

from dataclasses import dataclass

from loopline.common.bus import Bus
from loopline.common.control_plane import ControlPlane
from loopline.common.store import Store
from loopline.query.async_btql import AsyncQueries
from loopline.query.reads import ObjectReader


@dataclass(frozen=True)
class State:
    store: Store
    bus: Bus  # the writer's progress, for read-your-writes (deps.wait_fresh)
    control_plane: ControlPlane  # objects' projects, names and base experiments (the gateway's)
    reader: ObjectReader  # object fetches, scopes
    jobs: AsyncQueries  # `/btql/async` jobs (start creates it, its worker stops it)
    read_your_writes_timeout_s: float
    rollups: bool = False  # answer aggregate queries from pre-aggregated hours (rollups.py)
    rollup_quiet_s: int = 10
    newest_first: bool = True  # pages sorted newest first read through btql newest.py
