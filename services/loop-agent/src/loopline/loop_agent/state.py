"""The loop agent's state: built once by `service.start`, read by the routes through `deps`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from loopline.common.store import Store
from loopline.loop_agent.audit import AuditLog
from loopline.loop_agent.calls import CallsChooser
from loopline.loop_agent.conversations import ConversationStore, OrgModels
from loopline.loop_agent.docs_index import DocsSearch
from loopline.loop_agent.models import AgentModels
from loopline.loop_agent.settings import LoopAgentSettings
from loopline.loop_agent.turn_claims import TurnClaims


@dataclass(frozen=True)
class State:
    store: Store
    settings: LoopAgentSettings
    calls: CallsChooser  # the other services, as the caller (in-process or through the gateway)
    conversations: ConversationStore
    org_models: OrgModels  # each org's Loop model allowlist
    audit: AuditLog
    models: AgentModels  # the settings' providers, then the org's AI secrets (through /v1/proxy)
    docs: DocsSearch  # Loopline's documentation, embedded (search_docs)
    turns: TurnClaims  # running turns' claims in the store: one per conversation across processes
    # conversations with a turn running in this process (checked before the store's claim)
    running: dict[str, asyncio.Lock] = field(default_factory=dict)
