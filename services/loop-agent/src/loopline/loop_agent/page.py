"""Where the user is when they send a message (Loop's page context): project logs, an experiment,
a dataset, the BTQL sandbox (with its query and error), a playground (its task prompt, dataset and
selected scorers) or a prompt's page. Tool availability and the system prompt follow it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PageKind = Literal["none", "project_logs", "experiment", "dataset", "btql", "playground", "prompt"]


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PageKind = "none"
    project_id: str | None = Field(default=None, max_length=200)
    object_id: str | None = Field(
        default=None,
        max_length=200,
        description="the experiment or dataset in view; playground and prompt page: the prompt (task)",
    )
    query: str | None = Field(default=None, max_length=20_000, description="the BTQL sandbox's query")
    error: str | None = Field(default=None, max_length=5_000, description="the BTQL sandbox's error")
    dataset_id: str | None = Field(default=None, max_length=200, description="the playground's dataset")
    scorers: list[str] | None = Field(
        default=None,
        max_length=100,
        description="the playground's selected scorers: function ids or global scorer names",
    )

    def describe(self) -> str:
        if self.kind == "none":
            return "The user is on no particular page."
        parts = [f"The user is viewing: {self.kind}."]
        if self.project_id:
            parts.append(f"Project id: {self.project_id}.")
        if self.object_id:
            what = "prompt (task)" if self.kind in ("playground", "prompt") else self.kind
            parts.append(f"The {what} id: {self.object_id}.")
        if self.query:
            parts.append(f"The sandbox query is:\n{self.query}")
        if self.error:
            parts.append(f"It failed with: {self.error}")
        if self.dataset_id:
            parts.append(f"The playground's dataset: {self.dataset_id}.")
        if self.scorers is not None:
            parts.append(f"Selected scorers: {', '.join(self.scorers) or 'none'}.")
        return " ".join(parts)
