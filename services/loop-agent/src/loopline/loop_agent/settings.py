"""The loop agent's settings section (`[loopline.loop_agent]`, `LOOPLINE_LOOP_AGENT__<FIELD>`)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from loopline.providers import ProviderConfig
from pydantic import Field


class LoopAgentSettings(SettingsSection):
    SECTION: ClassVar[str] = "loop_agent"

    #: the model providers the agent calls (OpenAI, Anthropic, OpenAI-compatible); none: the
    #: pre-canned analyses still work, conversations answer that no model is configured
    providers: tuple[ProviderConfig, ...] = ()
    #: models an org may use when its admin set no allowlist of its own (PUT /v1/loop/settings)
    allowed_models: tuple[str, ...] = ()
    #: the model of a conversation created without one (must be allowed)
    default_model: str = ""
    #: model calls per turn before the agent stops and offers "continue"
    max_iterations: int = Field(default=8, ge=1, le=100)
    #: failed BTQL queries handed back to the model for repair, per turn
    btql_repairs: int = Field(default=3, ge=0, le=20)
    #: a tool's output is cut to this many characters before the model sees it
    tool_output_chars: int = Field(default=12_000, ge=500, le=1_000_000)
    #: rows a read tool returns to the model at most
    tool_rows: int = Field(default=50, ge=1, le=10_000)
    #: one model call's timeout
    model_timeout_s: float = Field(default=120.0, gt=0)
    #: the documentation search_docs searches (its Markdown files); empty: the repository this
    #: package runs from, when there is one
    docs_root: str = ""
    #: build the documentation index at start-up (else on the first search)
    docs_index_at_start: bool = True
    #: a running turn holds its conversation for this long, renewed every third of it while it
    #: runs (one turn at a time per conversation across processes); a turn whose process died
    #: stops blocking its conversation this long after its last renewal
    turn_lease_s: float = Field(default=30.0, ge=0.3, le=3600)
    #: how long a turn's claim of its conversation waits before reading back whether it won
    #: (longer than a store write takes to reach every replica); unset: 0 on one ClickHouse
    #: server or the embedded store, 1 s on a cluster
    turn_claim_settle_s: float | None = Field(default=None, ge=0, le=60)
