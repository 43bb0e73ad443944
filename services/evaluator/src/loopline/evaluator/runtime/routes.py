"""`POST /function/invoke` (on the proxy base, where the SDK's `invoke` / `init_function` send it)
and `POST /v1/function/{id}/invoke` (spec §4).

Non-streaming: the body is the function's output as bare JSON (a string for text, an object for
JSON output, `{name, score, metadata}` for a scorer). Streaming (`stream: true` or
`Accept: text/event-stream`): Braintrust's SSE events `start`, `text_delta` (JSON-encoded string),
`json_delta` (raw JSON text), `progress`, `console`, `error` (JSON string), `done` (§4.3).

A bad request (body, selector, parent, unknown function, another org's function) is a 4xx before
anything runs; a failure while running is the status `RunResult.error_status` chooses (400 for a
missing template variable in strict mode, the provider's status for a provider failure — its
message names provider and model —, 422 when the function's own code or answer failed, 504 on
timeout), or, streaming, an `error` event followed by `done`.

The invocation is logged as a span: under `parent` when one is given; otherwise as a root span
in the logs of the function's project (or of `x-bt-project-id` for inline and global functions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from loopline.common.auth import Principal
from loopline.common.errors import NotFound, ServiceError
from loopline.common.logging import get_logger
from loopline.common.object_types import PROJECT_LOGS
from loopline.evaluator.deps import Caller, Runner
from loopline.evaluator.runtime.invoke import InvokeRequest, deep_merge, parse_invoke
from loopline.evaluator.runtime.runner import FunctionRunner, display_name
from loopline.evaluator.runtime.spans import SpanTarget
from loopline.evaluator.runtime.types import FunctionDef, InlineFunction, InvokeEvent

log = get_logger(__name__)


def sse(event: InvokeEvent) -> bytes:
    """One event in Braintrust's SSE format."""
    data = event.data
    if event.event in ("start", "done"):
        text = ""
    elif event.event in ("text_delta", "reasoning_delta", "error"):
        text = json.dumps(data if isinstance(data, str) else str(data))
    elif event.event == "json_delta":
        text = data if isinstance(data, str) else json.dumps(data)
    else:
        text = json.dumps(data)
    lines = "".join(f"data: {line}\n" for line in text.split("\n"))
    return f"event: {event.event}\n{lines}\n".encode()


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, f"the body is not valid JSON: {exc}") from exc


def _with_overrides(fn: FunctionDef, overrides: dict[str, Any] | None) -> FunctionDef:
    """`overrides` are deep-merged into `function_data` (code, global, …), never into prompts."""
    if not overrides or (fn.function_data or {}).get("type") == "prompt":
        return fn
    return InlineFunction(
        name=display_name(fn),
        function_data=deep_merge(fn.function_data or {}, overrides),
        prompt_data=fn.prompt_data,
        function_type=fn.function_type,
        id=fn.id,
        project_id=fn.project_id,
        slug=fn.slug,
    )


async def _log_target(
    request: Request, caller: Principal, runner: FunctionRunner, req: InvokeRequest, fn: FunctionDef
) -> SpanTarget | None:
    if req.parent is not None:
        return await runner.target(caller, req.parent)
    project_id = fn.project_id or request.headers.get("x-bt-project-id") or req.project_id
    if not project_id or runner.control_plane is None:
        return None
    if fn.project_id:  # the function's own project, already checked to be the caller's org's
        return SpanTarget(caller.org_id, project_id, PROJECT_LOGS, project_id)
    found = await runner.control_plane.project_of(caller.org_id, PROJECT_LOGS, project_id)
    if found is None:
        raise NotFound(f"project {project_id!r} (x-bt-project-id) does not exist in this organization")
    return SpanTarget(caller.org_id, found, PROJECT_LOGS, found)


async def _stream(run: Any) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[InvokeEvent] = asyncio.Queue()
    task = asyncio.create_task(run(queue.put))
    try:
        while True:
            get = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
            if get in done:
                event = get.result()
                yield sse(event)
                if event.event == "done":
                    break
                continue
            get.cancel()
            exc = task.exception()
            if exc is not None:  # the runner failed outside the function (a bug): say so, end
                log.error("invoke stream failed", error=repr(exc))
                yield sse(InvokeEvent("error", f"the invocation failed: {exc}"))
                yield sse(InvokeEvent("done"))
            while not queue.empty():
                event = queue.get_nowait()
                yield sse(event)
            break
        with contextlib.suppress(Exception):
            await task  # its span is written before the stream ends
    finally:
        if not task.done():  # the client went away: stop the work
            task.cancel()


async def _invoke(
    request: Request, caller: Principal, runner: FunctionRunner, function_id: str | None
) -> Response:
    org_name = request.headers.get("x-bt-org-name")
    if org_name and caller.org_name and org_name != caller.org_name:
        raise ServiceError(403, f"this API key belongs to organization {caller.org_name!r}, not {org_name!r}")

    async def project_name_of(project_id: str) -> str | None:
        if runner.control_plane is None:
            return None
        info = await runner.control_plane.object_info(caller.org_id, "project", project_id)
        return None if info is None else info.name

    req = await parse_invoke(await _body(request), project_name_of, function_id=function_id)
    fn = _with_overrides(await runner.resolve(caller, req.ref), req.overrides)
    target = await _log_target(request, caller, runner, req, fn)
    streaming = req.stream or "text/event-stream" in request.headers.get("accept", "")

    async def run(on_event: Any = None) -> Any:
        return await runner.run(
            caller,
            fn,
            req.input,
            expected=req.expected,
            metadata=req.metadata,
            mode=req.mode,
            strict=req.strict,
            parent=target,
            on_event=on_event,
            messages=req.messages,
            tags=req.tags,
        )

    if streaming:
        return StreamingResponse(
            _stream(run), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )
    result = await run()
    if result.error is not None:
        raise ServiceError(result.error_status or 500, result.error)
    return Response(orjson.dumps(result.output), media_type="application/json")


def build_invoke_router() -> APIRouter:
    r = APIRouter(tags=["functions"])

    @r.post("/function/invoke")
    async def invoke(request: Request, caller: Caller, runner: Runner) -> Response:
        """Invoke a function named in the body (spec §4.1)."""
        return await _invoke(request, caller, runner, None)

    @r.post("/v1/function/{function_id}/invoke")
    async def invoke_by_id(function_id: str, request: Request, caller: Caller, runner: Runner) -> Response:
        """Invoke the function `function_id` (the body as for /function/invoke, minus the selector)."""
        return await _invoke(request, caller, runner, function_id)

    return r
