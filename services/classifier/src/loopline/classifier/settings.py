"""The classifier's settings section (`[loopline.classifier]`, `LOOPLINE_CLASSIFIER__<FIELD>`)."""

from __future__ import annotations

from typing import ClassVar

from loopline.common.settings import SettingsSection
from pydantic import Field


class ClassifierSettings(SettingsSection):
    SECTION: ClassVar[str] = "classifier"

    #: committed notices the consumer takes per batch (one store read + one model call per
    #: project logs object in it), and how long it waits to fill one
    batch_size: int = Field(default=500, ge=1, le=20_000)
    batch_wait_s: float = Field(default=0.1, ge=0.0, le=10.0)
    #: a new classifier's confidence threshold when its create body names none (below it: `other`)
    default_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    #: the lexical stage decides alone at or above this probability; 1.0 embeds every text
    fast_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    #: characters of a span's text that are classified (head and tail kept)
    max_text_chars: int = Field(default=1000, ge=16, le=100_000)
    #: trained heads kept in memory (one per classifier version in use)
    max_heads: int = Field(default=64, ge=1, le=10_000)
    #: cores the embedding model may use (onnxruntime intra-op threads): more threads label more
    #: spans per second where cores are free (the benchmark figures are per core)
    model_threads: int = Field(default=1, ge=1, le=64)

    #: LLM fallback (per facet: `llm_fallback` on the classifier): spans under the facet's
    #: threshold go to a model of the org's AI secrets with the taxonomy as a tool schema. Off
    #: here: no facet uses it, whatever it asks. No provider for the org: nothing changes.
    llm_fallback: bool = True
    #: the model a facet uses when it names none
    llm_model: str = "gpt-4o-mini"
    #: model calls in flight at once per process, and one call's timeout
    llm_concurrency: int = Field(default=4, ge=1, le=256)
    llm_timeout_s: float = Field(default=30.0, gt=0)
    #: at most this many spans of one batch go to the model (the rest keep `other`)
    llm_max_per_batch: int = Field(default=50, ge=1, le=10_000)

    #: backfill: root spans read per page (memory is bounded by one page), jobs run at once per
    #: process, and how long a job's owner may stay silent before another process takes it over
    backfill_page_size: int = Field(default=500, ge=1, le=50_000)
    backfill_concurrency: int = Field(default=1, ge=1, le=16)
    backfill_lease_s: float = Field(default=30.0, gt=0)
    #: how often an idle runner looks for jobs another process created or left behind
    backfill_poll_s: float = Field(default=5.0, gt=0)
