"""The loop agent's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

from dataclasses import dataclass

from loopline.common.store import Store
from loopline.loop_agent.calls import CallsChooser
from loopline.loop_agent.settings import LoopAgentSettings


@dataclass(frozen=True)
class State:
    store: Store
    settings: LoopAgentSettings
    calls: CallsChooser  # the other services, as the caller (in-process or through the gateway)
