"""Where the user is when they send a message (Loop's page context): project logs, an experiment,
a dataset, the BTQL sandbox (with its query and error) or a playground. Tool availability and the
system prompt follow it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PageKind = Literal["none", "project_logs", "experiment", "dataset", "btql", "playground"]


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PageKind = "none"
    project_id: str | None = Field(default=None, max_length=200)
    object_id: str | None = Field(
        default=None, max_length=200, description="the experiment or dataset in view"
    )
    query: str | None = Field(default=None, max_length=20_000, description="the BTQL sandbox's query")
    error: str | None = Field(default=None, max_length=5_000, description="the BTQL sandbox's error")

    def describe(self) -> str:
        if self.kind == "none":
            return "The user is on no particular page."
        parts = [f"The user is viewing: {self.kind}."]
        if self.project_id:
            parts.append(f"Project id: {self.project_id}.")
        if self.object_id:
            parts.append(f"{self.kind} id: {self.object_id}.")
        if self.query:
            parts.append(f"The sandbox query is:\n{self.query}")
        if self.error:
            parts.append(f"It failed with: {self.error}")
        return " ".join(parts)
