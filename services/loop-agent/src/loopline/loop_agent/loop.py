"""The agent loop (no HTTP): history → model → tool calls → gate → run → audit → stream events.

One turn starts from a user message, a decision on a pending write (confirm / reject) or
"continue" after the iteration budget ran out. Each model call streams text deltas; each tool call
the model makes is announced, gated (a write waits for confirmation unless the conversation
auto-accepts: the turn then ends with `awaiting_confirmation`, and the decision starts the next),
run as the caller, audited and answered to the model (bounded). A provider failure ends the turn
with an `error` event; so does any other failure. Messages (and audit entries) are written as
they are made, in the background: a write overlaps the model call or tool run that follows it, and
every write of the turn has landed before its `done` event (a failed write ends the turn with an
`error`), so a turn stopped anywhere resumes from the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
from loopline.common.auth import Principal
from loopline.common.errors import Conflict
from loopline.common.logging import get_logger
from loopline.common.service_calls import ServiceCalls
from loopline.loop_agent.audit import AuditEntry, AuditLog
from loopline.loop_agent.bounded import bounded_json
from loopline.loop_agent.btql_client import BtqlFailed
from loopline.loop_agent.conversations import Conversation, ConversationStore
from loopline.loop_agent.docs_index import DocsSearch
from loopline.loop_agent.events import Event
from loopline.loop_agent.page import Page
from loopline.loop_agent.prompts import system_prompt
from loopline.loop_agent.settings import LoopAgentSettings
from loopline.loop_agent.tools import BY_NAME, available
from loopline.loop_agent.tools.base import Tool, ToolContext, ToolFailed, ToolResult
from loopline.providers import ModelClient, ProviderError
from pydantic import BaseModel, ValidationError

log = get_logger(__name__)


@dataclass(frozen=True)
class Decision:
    call_id: str
    approve: bool


@dataclass(frozen=True)
class TurnInput:
    message: str | None = None
    page: Page = field(default_factory=Page)
    decision: Decision | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost_usd": self.cost_usd,
        }


@dataclass(frozen=True)
class AgentDeps:
    conversations: ConversationStore
    audit: AuditLog
    models: ModelClient
    settings: LoopAgentSettings
    docs: DocsSearch | None = None


def pending_calls(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls of the last assistant message that have no result yet (awaiting confirmation)."""
    answered: set[str] = set()
    for m in reversed(history):
        if m.get("role") == "tool":
            answered.add(str(m.get("tool_call_id")))
        elif m.get("role") == "assistant":
            return [c for c in m.get("tool_calls") or [] if c["id"] not in answered]
        else:
            return []
    return []


def check_decision(history: list[dict[str, Any]], decision: Decision) -> None:
    """A decision must be about the tool call the conversation waits for (else `Conflict`)."""
    waiting = pending_calls(history)
    if not waiting:
        raise Conflict("this conversation is not waiting for a confirmation", field="call_id")
    if waiting[0]["id"] != decision.call_id:
        raise Conflict(
            f"the conversation waits for tool call {waiting[0]['id']!r}, not {decision.call_id!r}",
            field="call_id",
        )


class _Stop(Exception):
    """The turn waits for the user (a confirmation)."""


class Turn:
    def __init__(
        self,
        deps: AgentDeps,
        conv: Conversation,
        principal: Principal,
        calls: ServiceCalls,
        inp: TurnInput,
        history: list[dict[str, Any]] | None = None,
        guard: Callable[[], None] | None = None,
    ) -> None:
        """`history`: the conversation's messages when the caller has just read them (under the
        conversation's turn lock), else the turn reads them. `guard`: raises when the turn no
        longer holds its conversation (its lease ran out), checked before each write of messages."""
        self.deps = deps
        self.conv = conv
        self.principal = principal
        self.inp = inp
        self.usage = Usage()
        self.iterations = 0
        self.history: list[dict[str, Any]] = []
        self._loaded = history
        self._guard = guard
        self._writes: list[asyncio.Task[None]] = []
        # the page's tools, less those the user switched off for this conversation
        self.tools = tuple(t for t in available(inp.page.kind) if t.name not in conv.disabled_tools)
        s = deps.settings
        self.ctx = ToolContext(
            principal, calls, conv.id, inp.page, s.tool_rows, s.btql_repairs, docs=deps.docs, model=conv.model
        )

    async def _save(self, *messages: dict[str, Any]) -> None:
        if self._guard is not None:
            self._guard()
        self._write(self.deps.conversations.append(self.conv, len(self.history), list(messages)))
        self.history.extend(messages)

    def _write(self, write: Coroutine[Any, Any, None]) -> None:
        """Start a store write in the background (awaited by `_flush`); an earlier write that
        failed stops the turn here."""
        for t in self._writes:
            exc = t.exception() if t.done() else None
            if exc is not None:
                raise exc
        self._writes = [t for t in self._writes if not t.done()]
        self._writes.append(asyncio.ensure_future(write))

    async def _flush(self) -> None:
        """Wait for every write of the turn; raise the first that failed."""
        writes, self._writes = self._writes, []
        failed = [r for r in await asyncio.gather(*writes, return_exceptions=True) if r is not None]
        if failed:
            raise failed[0]

    def _done(self, status: str) -> Event:
        return Event("done", {"status": status, "iterations": self.iterations, "usage": self.usage.as_dict()})

    async def run(self) -> AsyncIterator[Event]:
        try:
            try:
                async for e in self._run():
                    if e.type == "done":
                        await self._flush()
                    yield e
            except _Stop:
                await self._flush()
                yield self._done("awaiting_confirmation")
            except Exception as exc:  # the stream ends with a clear error, never hangs
                log.exception("loop turn failed", conversation=self.conv.id)
                try:
                    await self._flush()
                except Exception:
                    log.exception("loop turn: a write failed", conversation=self.conv.id)
                yield Event("error", {"message": f"the agent failed: {exc}", "kind": "internal"})
                yield self._done("error")
        finally:  # the client went away: the turn's writes still land before its lock is released
            try:
                await self._flush()
            except Exception:
                log.exception("loop turn: a write failed", conversation=self.conv.id)

    async def _run(self) -> AsyncIterator[Event]:
        if self._loaded is not None:
            self.history = list(self._loaded)
        else:
            self.history = await self.deps.conversations.messages(self.conv)
        waiting = pending_calls(self.history)
        if self.inp.message is not None:
            for call in waiting:  # the user moved on: the writes they did not confirm are not made
                await self._answer(
                    call, {"rejected": "not run: the user sent a new message instead of confirming"}
                )
                await self._audit(call, "skipped")
            waiting = []
            await self._save({"role": "user", "content": self.inp.message})
        elif not waiting and self.history and self.history[-1].get("role") == "assistant":
            await self._save({"role": "user", "content": "continue"})
        decision = self.inp.decision
        for call in waiting:
            approved = decision.approve if decision is not None and decision.call_id == call["id"] else None
            async for e in self._handle(call, approved):
                yield e
        while self.iterations < self.deps.settings.max_iterations:
            self.iterations += 1
            calls: list[dict[str, Any]] = []
            async for e in self._model_step(calls):
                yield e
                if e.type == "error":
                    yield self._done("error")
                    return
            if not calls:
                yield self._done("complete")
                return
            for call in calls:
                async for e in self._handle(call, None):
                    yield e
        yield Event("budget_exhausted", {"iterations": self.iterations, "hint": "POST .../continue to go on"})
        yield self._done("budget_exhausted")

    # -- the model -----------------------------------------------------------------------------
    async def _model_step(self, calls_out: list[dict[str, Any]]) -> AsyncIterator[Event]:
        body: dict[str, Any] = {
            "model": self.conv.model,
            "messages": [{"role": "system", "content": system_prompt(self.inp.page)}, *self.history],
            "tools": [t.schema() for t in self.tools],
            "stream_options": {"include_usage": True},
        }
        text: list[str] = []
        parts: dict[int, dict[str, Any]] = {}
        try:
            stream = await self.deps.models.stream_chat(body, timeout_s=self.deps.settings.model_timeout_s)
            async with stream:
                async for chunk in stream:
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        if isinstance(delta.get("content"), str) and delta["content"]:
                            text.append(delta["content"])
                            yield Event("text_delta", {"text": delta["content"]})
                        for tc in delta.get("tool_calls") or []:
                            p = parts.setdefault(
                                int(tc.get("index", 0)), {"id": "", "name": "", "arguments": ""}
                            )
                            fn = tc.get("function") or {}
                            p["id"] = tc.get("id") or p["id"]
                            p["name"] += fn.get("name") or ""
                            p["arguments"] += fn.get("arguments") or ""
            u = stream.totals.usage
        except ProviderError as exc:
            yield Event(
                "error",
                {"message": str(exc), "kind": exc.kind, "provider": exc.provider, "model": exc.model},
            )
            return
        self.usage.prompt_tokens += u.prompt_tokens
        self.usage.completion_tokens += u.completion_tokens
        self.usage.cost_usd += u.cost_usd or 0.0
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        calls = [
            {
                "id": p["id"] or f"call_{self.iterations}_{i}",
                "type": "function",
                "function": {"name": p["name"], "arguments": p["arguments"] or "{}"},
            }
            for i, p in sorted(parts.items())
        ]
        if calls:
            message["tool_calls"] = calls
        await self._save(message)
        calls_out.extend(calls)

    # -- tools ---------------------------------------------------------------------------------
    async def _answer(self, call: dict[str, Any], content: Any) -> None:
        text = bounded_json(content, self.deps.settings.tool_output_chars)
        await self._save({"role": "tool", "tool_call_id": call["id"], "content": text})

    async def _audit(self, call: dict[str, Any], outcome: Any, **kw: Any) -> None:
        fn = call["function"]
        try:
            args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            args = fn.get("arguments")
        self._write(
            self.deps.audit.record(
                self.principal, AuditEntry(self.conv.id, call["id"], fn["name"], args, outcome, **kw)
            )
        )

    def _params(self, tool: Tool, call: dict[str, Any]) -> BaseModel:
        raw = call["function"].get("arguments") or "{}"
        try:
            args = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ToolFailed(f"the arguments are not JSON: {exc}") from None
        try:
            return tool.params.model_validate(args if isinstance(args, dict) else {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolFailed(f"invalid arguments: {problems}") from None

    async def _handle(self, call: dict[str, Any], approved: bool | None) -> AsyncIterator[Event]:
        fn = call["function"]
        name, call_id = fn["name"], call["id"]
        try:
            shown_args = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            shown_args = fn.get("arguments")
        yield Event("tool_call_start", {"call_id": call_id, "name": name, "arguments": shown_args})
        tool = BY_NAME.get(name)
        if tool is None or tool not in self.tools:
            msg = f"no tool {name!r} here; available: {', '.join(t.name for t in self.tools)}"
            await self._answer(call, {"error": msg})
            await self._audit(call, "error", error=msg)
            yield Event(
                "tool_result",
                {"call_id": call_id, "name": name, "ok": False, "summary": msg, "rows_touched": 0},
            )
            return
        started = time.perf_counter()
        try:
            params = self._params(tool, call)
            if tool.risk == "write" and approved is None and not self.conv.auto_accept:
                preview = await tool.preview(self.ctx, params) if tool.preview else {}
                await self._audit(call, "awaiting_confirmation")
                yield Event(
                    "confirmation_required",
                    {"call_id": call_id, "name": name, "arguments": shown_args, "preview": preview},
                )
                raise _Stop
            if approved is False:
                result = ToolResult(
                    {"rejected": "the user declined this change; ask what they want instead"},
                    "rejected by the user",
                )
                outcome = "rejected"
            else:
                result = await tool.run(self.ctx, params)
                outcome = "error" if result.failed else "ok"
        except _Stop:
            raise
        except ToolFailed as exc:
            result = ToolResult({"error": exc.message, **exc.detail}, exc.message, failed=True)
            outcome = "error"
        except BtqlFailed as exc:  # a query a tool built was refused (e.g. a source not the caller's)
            result = ToolResult({"error": exc.for_model()}, exc.describe(), failed=True)
            outcome = "error"
        except Exception as exc:  # the tool broke: the model is told, the turn goes on
            log.exception("loop tool failed", tool=name, conversation=self.conv.id)
            result = ToolResult({"error": f"the tool failed: {exc}"}, f"the tool failed: {exc}", failed=True)
            outcome = "error"
        duration_ms = (time.perf_counter() - started) * 1000
        await self._answer(call, result.content)
        await self._audit(
            call,
            outcome,
            error=result.summary if outcome == "error" else "",
            duration_ms=duration_ms,
            rows_touched=result.rows_touched,
        )
        yield Event(
            "tool_result",
            {
                "call_id": call_id,
                "name": name,
                "ok": outcome == "ok",
                "outcome": outcome,
                "summary": result.summary,
                "rows_touched": result.rows_touched,
            },
        )
        if result.ask_user is not None:
            yield Event("choose", result.ask_user)
        if result.page_update is not None and outcome == "ok":  # the rest of the turn sees it too
            self.ctx.page = self.ctx.page.model_copy(update=result.page_update)
            yield Event("page_update", result.page_update)
