"""What a tool is: a name, a description written for the model, its parameters (a pydantic model
whose JSON schema the model sees), its risk (`read` runs at once; `write` waits for the user's
confirmation unless the conversation auto-accepts) and a handler that calls the owning service
as the caller's principal (through `ServiceCalls`, never with more rights).

A handler returns a `ToolResult` (what the model sees, a one-line summary for the stream, rows
touched) or raises `ToolFailed` with a message for the model. A write tool also has a `preview`:
what it would change, shown in the confirmation request, without changing anything."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from loopline.common.auth import Principal
from loopline.common.service_calls import ServiceAnswer, ServiceCalls
from loopline.loop_agent.btql_client import BtqlClient
from loopline.loop_agent.docs_index import DocsSearch
from loopline.loop_agent.page import Page
from pydantic import BaseModel

Risk = Literal["read", "write"]


class ToolFailed(Exception):
    """The tool could not do what was asked; `message` goes back to the model."""

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass
class ToolResult:
    content: Any  # what the model sees (bounded before it does)
    summary: str  # one line for the stream and the audit
    rows_touched: int = 0
    failed: bool = False  # the tool ran but reports a failure to the model (e.g. a BTQL error)
    ask_user: dict[str, Any] | None = None  # a choice the user is asked to make (get data source)
    page_update: dict[str, Any] | None = None  # a change of the page in view (the playground's scorers)


@dataclass
class ToolContext:
    principal: Principal
    calls: ServiceCalls
    conversation_id: str
    page: Page
    tool_rows: int  # rows a read tool returns at most
    btql_repairs: int  # failed BTQL queries the model may still repair in this turn
    btql_failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    docs: DocsSearch | None = None  # Loopline's documentation (search_docs)
    model: str = ""  # the conversation's model (the default of models the agent writes down)

    @property
    def btql(self) -> BtqlClient:
        return BtqlClient(self.calls, self.principal)

    async def call(self, method: str, path: str, body: Any = None, *, timeout_s: float | None = None) -> Any:
        """A service call as the caller; a refusal becomes `ToolFailed` with the service's message."""
        answer: ServiceAnswer = await self.calls.call(self.principal, method, path, body, timeout_s=timeout_s)
        if not answer.ok:
            raise ToolFailed(f"{method} {path} was refused (HTTP {answer.status}): {answer.error_message()}")
        return answer.body

    def project_id(self, given: str | None) -> str:
        pid = given or self.page.project_id
        if not pid:
            raise ToolFailed(
                "no project given and none in view: call get_data_source to ask the user for one"
            )
        return pid


Handler = Callable[[ToolContext, Any], Awaitable[ToolResult]]
Preview = Callable[[ToolContext, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    params: type[BaseModel]
    risk: Risk
    run: Handler
    preview: Preview | None = None

    def schema(self) -> dict[str, Any]:
        """The tool as OpenAI's chat format declares it (the provider layer translates it); a fresh
        copy each time (pydantic's JSON schema is built once per tool: every model call sends it)."""
        return orjson.loads(_schema_json(self.name, self.description, self.params))


@functools.cache
def _schema_json(name: str, description: str, params: type[BaseModel]) -> bytes:
    schema = params.model_json_schema()
    schema.pop("title", None)
    return orjson.dumps(
        {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}
    )
