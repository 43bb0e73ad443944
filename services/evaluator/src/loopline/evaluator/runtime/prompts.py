"""Running an LLM prompt function (spec §2.3): render `prompt_data` with the call's variables,
call the org's model through its `ModelClient`, and read the answer in the asked `mode`.

* chat prompts render every message (and the `tools` JSON string) with mustache; completion
  prompts become one user message; `messages` of an invoke are appended;
* `options.model` + `options.params` (minus Loopline/Braintrust-only keys such as `use_cache`)
  make the request; `response_format` json → the answer is parsed as JSON in `auto` mode;
* modes: `auto` (text if the model wrote text, else the tool call's arguments), `text`, `json`
  (the text or the tool call parsed as JSON), `parallel` (one entry per tool call);
* `tool_functions`: when the model calls a tool that is one of the prompt's functions, the tool
  runs (through `ToolRunner`) and the model is called again with its result, up to MAX_TOOL_ROUNDS.

Every model call is recorded as a `ModelCall` (for the `llm` span under the function's span).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loopline.evaluator.runtime.mustache import TemplateError, render_object
from loopline.evaluator.runtime.types import InvokeEvent, Mode, OnEvent
from loopline.providers import ModelClient, ProviderError, Usage

MAX_TOOL_ROUNDS = 5
#: options.params keys that are not model parameters
NOT_PARAMS = frozenset({"use_cache", "position", "endpoint_name"})


class PromptError(ValueError):
    """The prompt cannot be run as defined (no model, malformed messages or tools): a 4xx."""


class OutputError(ValueError):
    """The model's answer cannot be read in the asked mode (e.g. `json` but not JSON)."""


@dataclass
class ModelCall:
    """One model call of a run, as its `llm` span records it."""

    model: str
    provider: str
    input: list[dict[str, Any]]
    params: dict[str, Any]
    start: float
    end: float = 0.0
    output: Any = None
    usage: Usage | None = None
    error: str | None = None


@dataclass
class Accounting:
    """Tokens and cost of every model call of one run."""

    calls: list[ModelCall] = field(default_factory=list)
    #: the HTTP statuses of provider failures a scorer turned into its error (for invoke's answer)
    failures: list[int] = field(default_factory=list)

    def failed(self, exc: ProviderError) -> str:
        self.failures.append(exc.http_status())
        return str(exc)

    def usage(self) -> dict[str, float]:
        prompt = sum(c.usage.prompt_tokens for c in self.calls if c.usage)
        completion = sum(c.usage.completion_tokens for c in self.calls if c.usage)
        out: dict[str, float] = {}
        if not self.calls:
            return out
        out = {"prompt_tokens": prompt, "completion_tokens": completion, "tokens": prompt + completion}
        costs = [c.usage.cost_usd for c in self.calls if c.usage and c.usage.cost_usd is not None]
        if costs:
            out["estimated_cost"] = float(sum(costs))
        return out


#: runs a tool function the model called, with its parsed arguments -> its output
ToolRunner = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class FunctionTool:
    """A function of the prompt's `tool_functions`, offered to the model as a tool."""

    definition: dict[str, Any]  # {"type": "function", "function": {name, description, parameters}}
    run: ToolRunner

    @property
    def name(self) -> str:
        return str(self.definition["function"]["name"])


def template_variables(
    input: Any, metadata: Any, expected: Any, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What `{{…}}` can name: `input`, `metadata`, `expected`, and an object input's own fields
    (so a scorer prompt reads `{{output}}` from the scorer's arguments). An eval's `parameters`
    are `{{parameters.<name>}}` and, unless the row has a variable of that name, `{{<name>}}`."""
    base: dict[str, Any] = {"input": input, "metadata": metadata or {}, "expected": expected}
    if parameters:
        base = {**parameters, "parameters": parameters, **base}
    if isinstance(input, dict):
        return {**base, **input}
    return base


def _parse_tools(raw: Any, fill: Callable[[Any], Any]) -> list[dict[str, Any]]:
    if raw in (None, "", []):
        return []
    if isinstance(raw, str):
        rendered = fill(raw)
        if not rendered.strip():
            return []
        try:
            tools = json.loads(rendered)
        except json.JSONDecodeError as exc:
            raise PromptError(f"prompt_data.prompt.tools is not valid JSON: {exc}") from exc
    else:
        tools = fill(raw)
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise PromptError("prompt_data.prompt.tools must be a JSON array of tool objects")
    return tools


def build_request(
    prompt_data: dict[str, Any],
    variables: dict[str, Any],
    *,
    strict: bool = False,
    extra_messages: list[Any] | None = None,
    model_override: str | None = None,
) -> dict[str, Any]:
    """The OpenAI-format chat request of a prompt with its variables filled in."""
    prompt = prompt_data.get("prompt")
    options = prompt_data.get("options") or {}
    if not isinstance(prompt, dict):
        raise PromptError("prompt_data.prompt must be an object ({type: chat|completion, ...})")
    if not isinstance(options, dict):
        raise PromptError("prompt_data.options must be an object")
    fmt = prompt_data.get("template_format") or "mustache"
    if fmt not in ("mustache", "none"):
        raise PromptError(f"prompt_data.template_format {fmt!r} is not supported: use mustache or none")

    def fill(value: Any) -> Any:
        return value if fmt == "none" else render_object(value, variables, strict=strict)

    kind = prompt.get("type")
    if kind == "chat":
        messages = prompt.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise PromptError("prompt_data.prompt.messages must be an array of message objects")
        rendered = [fill(m) for m in messages]
    elif kind == "completion":
        content = prompt.get("content")
        if not isinstance(content, str):
            raise PromptError("prompt_data.prompt.content must be a string")
        rendered = [{"role": "user", "content": fill(content)}]
    else:
        raise PromptError(f"prompt_data.prompt.type is {kind!r}; expected 'chat' or 'completion'")
    if extra_messages:
        if not all(isinstance(m, dict) for m in extra_messages):
            raise PromptError("messages must be an array of message objects")
        rendered += list(extra_messages)
    model = model_override or options.get("model")
    if not isinstance(model, str) or not model:
        raise PromptError("the prompt names no model (prompt_data.options.model)")
    params = options.get("params") or {}
    if not isinstance(params, dict):
        raise PromptError("prompt_data.options.params must be an object")
    body: dict[str, Any] = {k: v for k, v in params.items() if k not in NOT_PARAMS and v is not None}
    body["model"] = model
    body["messages"] = rendered
    tools = _parse_tools(prompt.get("tools"), fill)
    if tools:
        body["tools"] = tools
    return body


def _json_params(body: dict[str, Any]) -> bool:
    rf = body.get("response_format")
    return isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema")


def _arguments(raw: str, name: str) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise OutputError(f"the model called {name!r} with arguments that are not JSON: {exc}") from exc


def read_output(message: dict[str, Any], mode: Mode, json_format: bool) -> Any:
    """The output of a final model message in `mode`."""
    text = message.get("content") if isinstance(message.get("content"), str) else None
    calls = [tc.get("function") or {} for tc in message.get("tool_calls") or []]
    if mode == "parallel":
        return [
            {"name": c.get("name"), "arguments": _arguments(str(c.get("arguments", "")), str(c.get("name")))}
            for c in calls
        ]
    if calls:
        first = calls[0]
        args = _arguments(str(first.get("arguments", "")), str(first.get("name")))
        if mode == "text":
            return json.dumps(args)
        return args
    text = text or ""
    if mode == "json" or (mode == "auto" and json_format):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if mode == "json":
                raise OutputError(
                    f"mode 'json': the model's answer is not JSON ({exc}): {text[:200]!r}"
                ) from exc
            return text
    return text


async def _stream_once(
    client: ModelClient, body: dict[str, Any], as_json: bool, on_event: OnEvent, timeout_s: float | None
) -> tuple[dict[str, Any], Usage | None, str, str]:
    """One streamed call: content is forwarded as deltas, tool calls are assembled."""
    stream = await client.stream_chat(
        {**body, "stream_options": {"include_usage": True}}, timeout_s=timeout_s
    )
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    async with stream:
        async for chunk in stream:
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                piece = delta.get("content")
                if isinstance(piece, str) and piece:
                    text.append(piece)
                    await on_event(InvokeEvent("json_delta" if as_json else "text_delta", piece))
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(int(tc.get("index", 0)), {"id": "", "name": "", "arguments": ""})
                    slot["id"] = tc.get("id") or slot["id"]
                    fn = tc.get("function") or {}
                    slot["name"] += fn.get("name") or ""
                    slot["arguments"] += fn.get("arguments") or ""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(calls.items())
        ]
    return message, stream.totals.usage, stream.provider, stream.model


async def run_prompt(
    client: ModelClient,
    prompt_data: dict[str, Any],
    variables: dict[str, Any],
    *,
    mode: Mode = "auto",
    strict: bool = False,
    extra_messages: list[Any] | None = None,
    on_event: OnEvent | None = None,
    timeout_s: float | None = None,
    accounting: Accounting,
    function_tools: list[FunctionTool] | None = None,
) -> Any:
    """The prompt's output. Raises TemplateError / PromptError (the call's fault),
    ProviderError (the model's), OutputError (the answer's)."""
    body = build_request(prompt_data, variables, strict=strict, extra_messages=extra_messages)
    by_name = {t.name: t for t in function_tools or []}
    if by_name:
        body["tools"] = [*(body.get("tools") or []), *(t.definition for t in by_name.values())]
    json_format = _json_params(body)
    as_json = mode == "json" or (mode == "auto" and json_format)
    for round_ in range(MAX_TOOL_ROUNDS + 1):
        call = ModelCall(
            model=str(body["model"]),
            provider="",
            input=list(body["messages"]),
            params={k: v for k, v in body.items() if k != "messages"},
            start=time.time(),
        )
        accounting.calls.append(call)
        try:
            if on_event is not None:
                message, usage, call.provider, _ = await _stream_once(
                    client, body, as_json, on_event, timeout_s
                )
            else:
                result = await client.chat(body, timeout_s=timeout_s)
                message, usage, call.provider = result.message, result.usage, result.provider
        except ProviderError as exc:
            call.end, call.error = time.time(), str(exc)
            raise
        call.end, call.usage = time.time(), usage
        call.output = [{"index": 0, "message": message, "finish_reason": None}]
        tool_calls = message.get("tool_calls") or []
        names = [str((tc.get("function") or {}).get("name")) for tc in tool_calls]
        if not tool_calls or not all(n in by_name for n in names) or round_ == MAX_TOOL_ROUNDS:
            output = read_output(message, mode, json_format)
            if on_event is not None and (tool_calls or not message.get("content")):
                if isinstance(output, str):
                    await on_event(InvokeEvent("text_delta", output))
                else:
                    await on_event(InvokeEvent("json_delta", json.dumps(output)))
            return output
        body = {**body, "messages": [*body["messages"], message]}
        for tc, name in zip(tool_calls, names, strict=True):
            args = _arguments(str((tc.get("function") or {}).get("arguments", "")), name)
            value = await by_name[name].run(args)
            content = value if isinstance(value, str) else json.dumps(value)
            body["messages"].append({"role": "tool", "tool_call_id": tc.get("id", ""), "content": content})
    raise OutputError("the tool loop did not end")  # pragma: no cover - the loop returns


__all__ = [
    "Accounting",
    "FunctionTool",
    "ModelCall",
    "OutputError",
    "PromptError",
    "TemplateError",
    "build_request",
    "read_output",
    "run_prompt",
    "template_variables",
]
