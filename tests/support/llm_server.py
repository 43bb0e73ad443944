"""A scripted LLM provider on 127.0.0.1: the one fake model endpoint of Loopline's tests.

It is a real HTTP server (Starlette under uvicorn, in a thread of the test process, stopped after
`max_lifetime_s` at the latest) that speaks the wire formats of

* OpenAI: `POST /v1/chat/completions` (text, tool calls, SSE streaming with the usage chunk),
  `POST /v1/embeddings` (float or base64), `POST /v1/moderations`, `GET /v1/models`, and OpenAI
  error bodies `{"error": {"message", "type", "param", "code"}}`;
* Azure OpenAI: chat and embeddings under `/openai/deployments/<deployment>/`;
* Anthropic: `POST /v1/messages` (text, `tool_use`, the SSE event sequence `message_start` …
  `message_stop`), `GET /v1/models` (when the request carries `anthropic-version`), and Anthropic
  error bodies `{"type": "error", "error": {"type", "message"}}`.

A test scripts what the "model" says, in format-neutral terms, and the server renders it in the
format of the endpoint that was called:

    with ScriptedLLM() as llm:
        llm.push(Reply("Paris"))                                   # next chat answer
        llm.push(Fail(429, retry_after=1))                         # then a rate limit
        llm.push(Reply(tool_calls=[ToolCall("select_choice", {"choice": "A"})]))
        llm.respond_with(lambda req: Reply(req.last_user_text.upper()))   # when the queue is empty
        client = openai.OpenAI(base_url=llm.openai_base_url, api_key="k")
        anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="k")
        llm.requests[-1].json                                      # what the client sent

* Chat requests (both formats) take the next item of the chat queue, else ask the responder,
  else answer 500 "nothing scripted" (a test that forgot to script fails loudly).
* Embeddings are deterministic (a function of the text and the dimension; `embedding_for`
  computes the same vector), moderations flag inputs containing one of `flag_words`. Either can
  be made to fail by pushing a `Fail` with `route="embeddings"` / `route="moderations"`.
* `Reply(delay_s=…)` / `Fail(delay_s=…)` answer slowly; `Reply(chunk_delay_s=…)` streams slowly;
  `Reply(abort_after_chunks=n)` drops the connection after n streamed events (a provider failing
  mid-stream).
* `Reply(usage=(prompt_tokens, completion_tokens))`; without it, tokens are counted as words.
* `requests` lists what was received; `max_in_flight` is the most chat requests answered at once
  (a streamed answer counts until its headers are sent).

Use the `scripted_llm` pytest fixture (tests/conftest.py) or the context manager.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import math
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.support.threaded_server import ThreadedServer

Route_ = Literal["chat", "embeddings", "moderations"]
Wire = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class ToolCall:
    """A call of a tool by the model; `arguments` as a dict (JSON-encoded on the wire) or a raw string."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str = ""

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else orjson.dumps(self.arguments).decode()

    def arguments_dict(self) -> dict[str, Any]:
        if isinstance(self.arguments, dict):
            return self.arguments
        parsed = orjson.loads(self.arguments) if self.arguments else {}
        return parsed if isinstance(parsed, dict) else {"value": parsed}


@dataclass(frozen=True)
class Reply:
    """What the model answers: text and/or tool calls."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] | list[ToolCall] = ()
    usage: tuple[int, int] | None = None  # (prompt/input tokens, completion/output tokens)
    finish_reason: str | None = None  # default: "tool_calls"/"tool_use" with tools, else "stop"/"end_turn"
    model: str | None = None  # default: the requested model
    delay_s: float = 0.0  # before the response starts
    chunk_delay_s: float = 0.0  # between streamed chunks
    abort_after_chunks: int | None = None  # streamed: drop the connection after this many events


@dataclass(frozen=True)
class Fail:
    """An HTTP error in the provider's own error format."""

    status: int
    message: str = ""
    retry_after: float | None = None  # seconds, sent as the Retry-After header
    error_type: str | None = None  # default chosen from the status per wire format
    delay_s: float = 0.0


Item = Reply | Fail


@dataclass
class Seen:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    wire: Wire
    at: float

    @property
    def api_key(self) -> str:
        """The key the client sent (`x-api-key`, Azure's `api-key`, else the bearer token)."""
        auth = self.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
        return self.headers.get("x-api-key") or self.headers.get("api-key") or bearer

    @property
    def model(self) -> str:
        return str(self.json.get("model", "")) if isinstance(self.json, dict) else ""

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and bool(self.json.get("stream"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        msgs = self.json.get("messages", []) if isinstance(self.json, dict) else []
        return [m for m in msgs if isinstance(m, dict)]

    @property
    def last_user_text(self) -> str:
        """The text of the last user message (string content or its text parts)."""
        for m in reversed(self.messages):
            if m.get("role") == "user":
                return _text_of(m.get("content"))
        return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def embedding_for(text: str, dimensions: int = 16) -> list[float]:
    """The unit vector the server returns for `text` (a pure function of text and dimension)."""
    out: list[float] = []
    counter = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    vec = out[:dimensions]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class ScriptedLLM:
    """The server. `start()`/`stop()` or use it as a context manager."""

    def __init__(
        self,
        *,
        models: Iterable[str] = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "claude-sonnet-4-5"),
        embedding_dimensions: int = 16,
        flag_words: Iterable[str] = ("kill", "bomb"),
        max_lifetime_s: float = 600.0,
    ) -> None:
        self.models = list(models)
        self.embedding_dimensions = embedding_dimensions
        self.flag_words = tuple(w.lower() for w in flag_words)
        self.max_lifetime_s = max_lifetime_s
        self.requests: list[Seen] = []
        self.in_flight = 0  # chat requests being answered now
        self.max_in_flight = 0  # the most at once since start
        self._queues: dict[str, deque[Item]] = {
            "chat": deque(),
            "embeddings": deque(),
            "moderations": deque(),
        }
        self._responder: Callable[[Seen], Item | None] | None = None
        self._lock = threading.Lock()
        self._server: ThreadedServer | None = None
        self.port = 0

    # -- scripting -------------------------------------------------------------------------
    def push(self, *items: Item, route: Route_ = "chat") -> ScriptedLLM:
        """Queue answers for the next requests of `route` (chat serves both wire formats)."""
        with self._lock:
            self._queues[route].extend(items)
        return self

    def respond_with(self, responder: Callable[[Seen], Item | None] | None) -> ScriptedLLM:
        """Answer chat requests the queue does not cover with `responder(request)` (None: 500)."""
        self._responder = responder
        return self

    def pending(self, route: Route_ = "chat") -> int:
        with self._lock:
            return len(self._queues[route])

    def requests_to(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    # -- addresses ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """`base_url` of `openai.OpenAI` (and of an OpenAI-compatible provider)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """`base_url` of `anthropic.Anthropic` (which appends /v1/messages itself)."""
        return self.url

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ScriptedLLM:
        self._server = ThreadedServer(self._app(), name="scripted-llm", max_lifetime_s=self.max_lifetime_s)
        self._server.start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP ------------------------------------------------------------------------------
    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai_chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/moderations", self._moderations, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/messages", self._anthropic_messages, methods=["POST"]),
                # Azure OpenAI: the same answers under /openai/deployments/<deployment>/…
                Route(
                    "/openai/deployments/{deployment}/chat/completions", self._openai_chat, methods=["POST"]
                ),
                Route("/openai/deployments/{deployment}/embeddings", self._embeddings, methods=["POST"]),
            ]
        )

    async def _seen(self, request: Request, wire: Wire) -> Seen:
        body = await request.body()
        try:
            parsed: Any = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        seen = Seen(request.method, request.url.path, dict(request.headers), parsed, wire, time.time())
        with self._lock:
            self.requests.append(seen)
        return seen

    def _next(self, route: Route_, seen: Seen) -> Item | None:
        with self._lock:
            if self._queues[route]:
                return self._queues[route].popleft()
        if route == "chat" and self._responder is not None:
            return self._responder(seen)
        return None

    async def _openai_chat(self, request: Request) -> Response:
        with self._counting():
            return await self._openai_chat_counted(request)

    async def _anthropic_messages(self, request: Request) -> Response:
        with self._counting():
            return await self._anthropic_messages_counted(request)

    @contextlib.contextmanager
    def _counting(self) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _openai_chat_counted(self, request: Request) -> Response:
        seen = await self._seen(request, "openai")
        bad = _bad_request_openai(seen.json, ("model", "messages"))
        if bad is not None:
            return bad
        item = self._next("chat", seen)
        if item is None:
            return _openai_error(Fail(500, "scripted LLM server: nothing scripted for this chat request"))
        await asyncio.sleep(item.delay_s)
        if isinstance(item, Fail):
            return _openai_error(item)
        model = item.model or seen.model
        usage = _usage(item, seen)
        if seen.stream:
            opts = seen.json.get("stream_options") or {}
            include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
            return _sse(
                _openai_chunks(item, model, usage if include_usage else None),
                abort_after=item.abort_after_chunks,
            )
        return _json(_openai_completion(item, model, usage))

    async def _anthropic_messages_counted(self, request: Request) -> Response:
        seen = await self._seen(request, "anthropic")
        body = seen.json
        if not isinstance(body, dict) or not all(k in body for k in ("model", "messages", "max_tokens")):
            return _anthropic_error(Fail(400, "model, messages and max_tokens are required"))
        if not body["messages"]:
            return _anthropic_error(Fail(400, "messages: at least one message is required"))
        item = self._next("chat", seen)
        if item is None:
            return _anthropic_error(
                Fail(500, "scripted LLM server: nothing scripted for this messages request")
            )
        await asyncio.sleep(item.delay_s)
        if isinstance(item, Fail):
            return _anthropic_error(item)
        model = item.model or seen.model
        usage = _usage(item, seen)
        if seen.stream:
            return _sse(
                _anthropic_events(item, model, usage), named=True, abort_after=item.abort_after_chunks
            )
        return _json(_anthropic_message(item, model, usage))

    async def _embeddings(self, request: Request) -> Response:
        seen = await self._seen(request, "openai")
        bad = _bad_request_openai(seen.json, ("model", "input"))
        if bad is not None:
            return bad
        item = self._next("embeddings", seen)
        if isinstance(item, Fail):
            await asyncio.sleep(item.delay_s)
            return _openai_error(item)
        raw = seen.json["input"]
        texts = [raw] if isinstance(raw, str) else [str(t) for t in raw] if isinstance(raw, list) else []
        if not texts:
            return _openai_error(Fail(400, "input must be a string or a list of strings"))
        dims = int(seen.json.get("dimensions") or self.embedding_dimensions)
        b64 = seen.json.get("encoding_format") == "base64"
        data = []
        for i, t in enumerate(texts):
            vec = embedding_for(t, dims)
            emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(t.split()) for t in texts)
        return _json(
            {
                "object": "list",
                "data": data,
                "model": seen.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _moderations(self, request: Request) -> Response:
        seen = await self._seen(request, "openai")
        bad = _bad_request_openai(seen.json, ("input",))
        if bad is not None:
            return bad
        item = self._next("moderations", seen)
        if isinstance(item, Fail):
            await asyncio.sleep(item.delay_s)
            return _openai_error(item)
        raw = seen.json["input"]
        texts = (
            [raw] if isinstance(raw, str) else [_text_of([t]) if isinstance(t, dict) else str(t) for t in raw]
        )
        results = []
        for t in texts:
            flagged = any(w in t.lower() for w in self.flag_words)
            results.append(
                {
                    "flagged": flagged,
                    "categories": {"violence": flagged, "harassment": False},
                    "category_scores": {"violence": 0.99 if flagged else 0.01, "harassment": 0.0},
                }
            )
        return _json(
            {
                "id": f"modr-{uuid.uuid4().hex[:12]}",
                "model": seen.json.get("model") or "omni-moderation-latest",
                "results": results,
            }
        )

    async def _models(self, request: Request) -> Response:
        seen = await self._seen(request, "anthropic" if "anthropic-version" in request.headers else "openai")
        if seen.wire == "anthropic":
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.models
            ]
            return _json(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": self.models[0] if self.models else None,
                    "last_id": self.models[-1] if self.models else None,
                }
            )
        return _json(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1735689600, "owned_by": "scripted"}
                    for m in self.models
                ],
            }
        )


# -- rendering ---------------------------------------------------------------------------------
def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class StreamAborted(Exception):
    """Raised inside a streamed answer to drop the connection mid-stream (`abort_after_chunks`)."""


def _sse(
    events: AsyncIterator[tuple[str | None, Any]], *, named: bool = False, abort_after: int | None = None
) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        sent = 0
        async for name, data in events:
            if abort_after is not None and sent >= abort_after:
                raise StreamAborted(
                    "scripted: the provider dropped the stream"
                )  # uvicorn drops the connection
            sent += 1
            payload = data if isinstance(data, bytes) else orjson.dumps(data)
            head = f"event: {name}\n".encode() if named and name else b""
            yield head + b"data: " + payload + b"\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


def _retry_headers(fail: Fail) -> dict[str, str]:
    if fail.retry_after is None:
        return {}
    ra = fail.retry_after
    return {
        "retry-after": str(int(ra)) if float(ra).is_integer() else str(ra),
        "retry-after-ms": str(int(ra * 1000)),
    }


def _openai_error(fail: Fail) -> Response:
    etype = fail.error_type or _OPENAI_ERROR_TYPES.get(
        fail.status, "server_error" if fail.status >= 500 else "invalid_request_error"
    )
    body = {
        "error": {
            "message": fail.message or f"scripted error {fail.status}",
            "type": etype,
            "param": None,
            "code": etype if fail.status == 429 else None,
        }
    }
    return _json(body, fail.status, _retry_headers(fail))


def _anthropic_error(fail: Fail) -> Response:
    etype = fail.error_type or _ANTHROPIC_ERROR_TYPES.get(fail.status, "api_error")
    body = {
        "type": "error",
        "error": {"type": etype, "message": fail.message or f"scripted error {fail.status}"},
    }
    return _json(body, fail.status, {**_retry_headers(fail), "request-id": f"req_{uuid.uuid4().hex[:16]}"})


def _bad_request_openai(body: Any, required: tuple[str, ...]) -> Response | None:
    if not isinstance(body, dict):
        return _openai_error(Fail(400, "the body must be a JSON object"))
    missing = [k for k in required if k not in body]
    if missing:
        return _openai_error(Fail(400, f"missing required parameter: {missing[0]!r}"))
    if "messages" in required and not body["messages"]:
        return _openai_error(Fail(400, "messages: at least one message is required"))
    return None


def _usage(item: Reply, seen: Seen) -> tuple[int, int]:
    if item.usage is not None:
        return item.usage
    prompt = sum(len(_text_of(m.get("content")).split()) for m in seen.messages) or 1
    completion = len((item.text or "").split()) + sum(
        len(tc.arguments_json().split()) for tc in item.tool_calls
    )
    return prompt, max(completion, 1)


def _call_id(tc: ToolCall, i: int, prefix: str) -> str:
    return tc.id or f"{prefix}{i}_{uuid.uuid4().hex[:12]}"


def _openai_tool_calls(item: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": _call_id(tc, i, "call_"),
            "type": "function",
            "function": {"name": tc.name, "arguments": tc.arguments_json()},
        }
        for i, tc in enumerate(item.tool_calls)
    ]


def _openai_usage(usage: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}


def _openai_completion(item: Reply, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": item.text, "refusal": None}
    if item.tool_calls:
        message["tool_calls"] = _openai_tool_calls(item)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": item.finish_reason or ("tool_calls" if item.tool_calls else "stop"),
            }
        ],
        "usage": _openai_usage(usage),
        "system_fingerprint": "fp_scripted",
    }


def _pieces(text: str, n: int = 3) -> list[str]:
    """`text` in up to n chunks (so streams have several deltas)."""
    if not text:
        return []
    size = max(1, math.ceil(len(text) / n))
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _openai_chunks(
    item: Reply, model: str, usage: tuple[int, int] | None
) -> AsyncIterator[tuple[str | None, Any]]:
    cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        c: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            c["usage"] = None
        return c

    yield (
        None,
        chunk({"role": "assistant", "content": "" if item.text is not None else None, "refusal": None}),
    )
    for piece in _pieces(item.text or ""):
        await asyncio.sleep(item.chunk_delay_s)
        yield None, chunk({"content": piece})
    for i, tc in enumerate(item.tool_calls):
        await asyncio.sleep(item.chunk_delay_s)
        head = {
            "index": i,
            "id": _call_id(tc, i, "call_"),
            "type": "function",
            "function": {"name": tc.name, "arguments": ""},
        }
        yield None, chunk({"tool_calls": [head]})
        for piece in _pieces(tc.arguments_json()):
            yield None, chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield None, chunk({}, item.finish_reason or ("tool_calls" if item.tool_calls else "stop"))
    if usage is not None:
        yield (
            None,
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_scripted",
                "choices": [],
                "usage": _openai_usage(usage),
            },
        )
    yield None, b"[DONE]"


def _anthropic_stop_reason(item: Reply) -> str:
    return item.finish_reason or ("tool_use" if item.tool_calls else "end_turn")


def _anthropic_message(item: Reply, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if item.text:
        content.append({"type": "text", "text": item.text})
    for i, tc in enumerate(item.tool_calls):
        content.append(
            {
                "type": "tool_use",
                "id": _call_id(tc, i, "toolu_"),
                "name": tc.name,
                "input": tc.arguments_dict(),
            }
        )
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _anthropic_stop_reason(item),
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def _block_delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


async def _anthropic_events(
    item: Reply, model: str, usage: tuple[int, int]
) -> AsyncIterator[tuple[str | None, Any]]:
    msg = _anthropic_message(item, model, usage)
    start = {
        **msg,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": usage[0], "output_tokens": 1},
    }
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    index = 0
    if item.text:
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
        )
        for piece in _pieces(item.text):
            await asyncio.sleep(item.chunk_delay_s)
            yield _block_delta(index, {"type": "text_delta", "text": piece})
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
        index += 1
    for block in msg["content"][index:]:
        await asyncio.sleep(item.chunk_delay_s)
        head = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": head}
        for piece in _pieces(orjson.dumps(block["input"]).decode()):
            yield _block_delta(index, {"type": "input_json_delta", "partial_json": piece})
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
        index += 1
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage[1]},
        },
    )
    yield "message_stop", {"type": "message_stop"}
