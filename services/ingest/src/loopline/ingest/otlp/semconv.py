"""OTLP semantic conventions → the Braintrust row shape (protocol spec §8.4). Pure: no I/O.

`map_span(span)` turns one decoded `OtlpSpan` into a row without object ids: GenAI
(`gen_ai.*`), OpenInference (`llm.*`, `input.*`), Vercel AI SDK (`ai.*`), Traceloop and
`braintrust.*` attributes become `input`/`output`/`metadata`/`metrics`/...; every other attribute
is kept in `metadata`.

Hostile input stays bounded: dotted keys are re-nested at most `MAX_NEST_DEPTH` levels deep
(the rest of the key stays one segment), digit segments are ordered without converting them to
ints, numbers that do not fit a 64-bit integer become floats, and a span whose timestamps lie
outside what the store holds (DateTime64(6): years 1900..2299) raises `SpanError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from loopline.common.rows import format_created
from loopline.ingest.otlp.decode import I64_MAX, I64_MIN, OtlpEvent, OtlpSpan

STATUS_ERROR: Final = 2
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Dotted attribute keys are re-nested (`0.tool_calls.1.name`) at most this many levels deep.
MAX_NEST_DEPTH: Final = 32
#: The latest span start/end the store holds (ClickHouse DateTime64(6) ends with 2299).
MAX_TIME_UNIX_NANO: Final = int(datetime(2300, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000 - 1

LLM_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
#: OpenInference span kind → our span type.
OPENINFERENCE_TYPES: Final = {
    "LLM": "llm",
    "EMBEDDING": "llm",
    "TOOL": "tool",
    "CHAIN": "task",
    "AGENT": "task",
    "RETRIEVER": "function",
    "RERANKER": "function",
    "GUARDRAIL": "function",
    "EVALUATOR": "score",
}
_MESSAGE_EVENTS: Final = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
#: Attribute families we parse into row fields; they are not copied into `metadata`
#: (unless the span sets `braintrust.otel.preserve_attributes`).
_PARSED_PREFIXES: Final = (
    "braintrust.",
    "gen_ai.request.",
    "gen_ai.usage.",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.token_count.",
    "llm.usage.",
    "input.",
    "output.",
    "ai.prompt",
    "ai.response.text",
    "ai.response.object",
    "ai.response.toolCalls",
    "ai.usage.",
    "ai.model.",
    "traceloop.entity.input",
    "traceloop.entity.output",
)
_PARSED_EXACT: Final = frozenset(
    {
        "gen_ai.system",
        "gen_ai.provider.name",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "llm.model_name",
        "llm.provider",
        "llm.invocation_parameters",
        "metadata",
        "tag.tags",
        "openinference.span.kind",
    }
)


class SpanError(ValueError):
    """One span that cannot become a row (OTLP partial success rejects it, not the request)."""


def _json_text(v: Any, what: str) -> str:
    try:
        return orjson.dumps(v).decode()
    except orjson.JSONEncodeError as exc:
        raise SpanError(f"{what}: cannot be encoded as JSON: {exc}") from None


# -- mapping helpers ------------------------------------------------------------------------


def _maybe_json(v: Any) -> Any:
    """A JSON string's value; anything else (or invalid JSON) unchanged."""
    if isinstance(v, str):
        s = v.strip()
        if s[:1] in ("{", "[", '"') or s in ("null", "true", "false"):
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                return v
    return v


def _strict_json(v: Any) -> tuple[bool, Any]:
    """(ok, value) of a `*_json` attribute: must be a string holding valid JSON."""
    if not isinstance(v, str):
        return False, None
    try:
        return True, orjson.loads(v)
    except orjson.JSONDecodeError:
        return False, None


def _nest(flat: Mapping[str, Any]) -> Any:
    """Re-nest dotted keys (`0.role`, `0.tool_calls.1.name`): numeric segments become lists.

    Linear in the total key length: a key is split into at most `MAX_NEST_DEPTH` segments (the
    last keeps any further dots), so the result is at most that deep."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".", MAX_NEST_DEPTH - 1)
        node = root
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
                node[p] = nxt
            node = nxt
        node[parts[-1]] = value
    return _listify(root)


def _is_index(k: str) -> bool:
    return k.isascii() and k.isdigit()


def _listify(node: Any) -> Any:
    """Dicts whose keys are all ASCII digits become lists (in numeric order). Recursion is
    bounded by `_nest`'s depth; digit keys are ordered by (length, text), never `int()`-ed."""
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(_is_index(k) for k in items):
        return [items[k] for k in sorted(items, key=_index_order)]
    return items


def _index_order(k: str) -> tuple[int, str]:
    digits = k.lstrip("0") or "0"
    return len(digits), digits


def _prefixed(attrs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    n = len(prefix)
    return {k[n:]: v for k, v in attrs.items() if k.startswith(prefix) and len(k) > n}


def _flat_messages(attrs: Mapping[str, Any], prefix: str, unwrap: str | None = None) -> list[Any] | None:
    flat = _prefixed(attrs, prefix)
    if not flat:
        return None
    nested = _nest(flat)
    if not isinstance(nested, list):
        return None
    out = []
    for m in nested:
        if unwrap is not None and isinstance(m, dict) and isinstance(m.get(unwrap), dict):
            m = m[unwrap]
        out.append(m)
    return out or None


def _parts_text(parts: Any) -> str | None:
    if isinstance(parts, str):
        return parts
    if (
        isinstance(parts, list)
        and parts
        and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("content"), str)
            for p in parts
        )
    ):
        return "".join(p["content"] for p in parts)
    return None


def _genai_messages(v: Any) -> list[Any] | None:
    """`gen_ai.input/output.messages` (parts form) → chat messages; all-text parts become `content`."""
    msgs = _maybe_json(v)
    if not isinstance(msgs, list):
        return None
    out = []
    for m in msgs:
        if isinstance(m, dict) and "parts" in m:
            text = _parts_text(m["parts"])
            if text is not None:
                m = {**{k: x for k, x in m.items() if k != "parts"}, "content": text}
        out.append(m)
    return out


def _event_messages(events: Sequence[OtlpEvent]) -> tuple[list[Any] | None, list[Any] | None]:
    inputs: list[Any] = []
    outputs: list[Any] = []
    for e in events:
        role = _MESSAGE_EVENTS.get(e.name)
        if role is not None:
            msg: dict[str, Any] = {"role": e.attributes.get("role") or role}
            for k, v in e.attributes.items():
                if k in ("role", "gen_ai.system", "gen_ai.provider.name"):
                    continue
                msg[k] = (
                    _maybe_json(v)
                    if k in ("tool_calls", "content") and isinstance(v, str) and v[:1] in "[{"
                    else v
                )
            inputs.append(msg)
        elif e.name == "gen_ai.choice":
            m = _maybe_json(e.attributes.get("message"))
            if isinstance(m, dict):
                choice = {"role": "assistant", **m}
            else:
                choice = {"role": "assistant"}
                if "content" in e.attributes:
                    choice["content"] = e.attributes["content"]
            if "finish_reason" in e.attributes:
                choice["finish_reason"] = e.attributes["finish_reason"]
            outputs.append(choice)
        elif e.name == "gen_ai.content.prompt" and "gen_ai.prompt" in e.attributes:
            p = _maybe_json(e.attributes["gen_ai.prompt"])
            inputs.extend(p if isinstance(p, list) else [p])
        elif e.name == "gen_ai.content.completion" and "gen_ai.completion" in e.attributes:
            c = _maybe_json(e.attributes["gen_ai.completion"])
            outputs.extend(c if isinstance(c, list) else [c])
    return inputs or None, outputs or None


def _int_or_float(n: int) -> int | float:
    """An integer the store can hold as Int64, else the nearest float."""
    return n if I64_MIN <= n <= I64_MAX else float(n)


def _num(v: Any) -> int | float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return _int_or_float(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, str):
        if len(v) > 400:
            return None
        try:
            f = float(v)
        except ValueError:
            return None
        if not math.isfinite(f):
            return None
        return _int_or_float(int(f)) if f.is_integer() and "." not in v else f
    return None


def _metric(v: Any) -> Any:
    """A `braintrust.metrics` value as sent, except integers beyond Int64 become floats."""
    return _int_or_float(v) if type(v) is int else v


def _first(attrs: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        v = attrs.get(k)
        if v is not None:
            return v
    return None


def _unix_seconds(ns: int) -> float:
    return (ns // 1000) / 1e6


# -- mapping --------------------------------------------------------------------------------


def span_type(attrs: Mapping[str, Any], explicit: Any = None) -> str:
    if isinstance(explicit, str) and explicit:
        return explicit
    op = attrs.get("gen_ai.operation.name")
    if not isinstance(op, str):
        op = None  # attribute values may be arrays or maps (unhashable): not an operation name
    if op in LLM_OPERATIONS or attrs.get("gen_ai.request.model") is not None:
        return "llm"
    if op == "execute_tool" or attrs.get("gen_ai.tool.name") is not None:
        return "tool"
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in OPENINFERENCE_TYPES:
        return OPENINFERENCE_TYPES[kind.upper()]
    if attrs.get("ai.model.id") is not None:
        return "llm"
    return "task"


def _is_parsed(key: str) -> bool:
    return key in _PARSED_EXACT or key.startswith(_PARSED_PREFIXES)


def map_span(span: OtlpSpan) -> dict[str, Any]:
    """The Braintrust-shape row of one span (§8.4), without object ids.

    Raises `SpanError` for a span that cannot become a row (the caller rejects just that span)."""
    a = span.attributes
    row: dict[str, Any] = {
        "id": span.span_id,
        "span_id": span.span_id,
        "root_span_id": span.trace_id,
        "span_parents": [span.parent_span_id] if span.parent_span_id else None,
    }
    metadata: dict[str, Any] = {}
    metrics: dict[str, Any] = {}

    # braintrust.* fields set directly (most spans have none: one pass over the keys skips them)
    bt: dict[str, Any] = {}
    has_bt = False
    for k in a:
        if k.startswith("braintrust."):
            has_bt = True
            break
    if has_bt:
        for f in ("input", "output", "expected"):
            if f"braintrust.{f}_json" in a:
                ok, val = _strict_json(a[f"braintrust.{f}_json"])
                if ok:
                    bt[f] = val
                else:
                    metadata[f"braintrust.{f}_json"] = a[f"braintrust.{f}_json"]
            elif f"braintrust.{f}" in a:
                bt[f] = _maybe_json(a[f"braintrust.{f}"])
        for f in ("metadata", "metrics", "scores", "span_attributes", "context"):
            v = a.get(f"braintrust.{f}", a.get(f"braintrust.{f}_json"))
            v = _maybe_json(v)
            if isinstance(v, dict):
                bt[f] = v
        sa_dotted = _prefixed(a, "braintrust.span_attributes.")
        if sa_dotted:
            nested = _nest(sa_dotted)
            if isinstance(nested, dict):
                bt["span_attributes"] = {**bt.get("span_attributes", {}), **nested}
    tags = _maybe_json(a.get("braintrust.tags")) if has_bt else None
    if tags is None:
        tags = _maybe_json(a.get("tag.tags"))
    if isinstance(tags, list):
        row["tags"] = [t if isinstance(t, str) else _json_text(t, "tags") for t in tags]

    # span attributes
    sattrs: dict[str, Any] = {"name": span.name}
    explicit = bt.get("span_attributes", {})
    sattrs.update(explicit)
    sattrs["type"] = span_type(a, explicit.get("type"))
    if not sattrs.get("name"):
        sattrs["name"] = span.name
    row["span_attributes"] = sattrs
    is_tool = sattrs["type"] == "tool"

    # input / output
    ev_in, ev_out = _event_messages(span.events)
    row["input"] = _pick_input(a, bt, ev_in, is_tool)
    row["output"] = _pick_output(a, bt, ev_out, is_tool)
    if "expected" in bt:
        row["expected"] = bt["expected"]

    # metadata
    model = _first(a, "gen_ai.request.model", "llm.model_name", "ai.model.id", "gen_ai.response.model")
    if model is not None:
        metadata["model"] = model
    for k, v in _prefixed(a, "gen_ai.request.").items():
        if k != "model":
            metadata[k] = v
    inv = _maybe_json(a.get("llm.invocation_parameters"))
    if isinstance(inv, dict):
        for k, v in inv.items():
            metadata.setdefault(k, v)
    provider = _first(a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "ai.model.provider")
    if provider is not None:
        metadata["provider"] = provider
    oi_meta = _maybe_json(a.get("metadata"))
    if isinstance(oi_meta, dict):
        metadata.update(oi_meta)
    elif oi_meta is not None:
        metadata["metadata"] = oi_meta
    preserve = has_bt and a.get("braintrust.otel.preserve_attributes") is True
    for k, v in a.items():
        if preserve or not _is_parsed(k):
            metadata.setdefault(k, v)
    if "metadata" in bt:
        metadata.update(bt["metadata"])
    otel: dict[str, Any] = {}
    if span.resource:
        otel["resource"] = span.resource
    if span.scope_name or span.scope_version:
        otel["scope"] = {"name": span.scope_name, "version": span.scope_version}
    if otel:
        metadata.setdefault("otel", otel)
    if metadata:
        row["metadata"] = metadata

    # metrics
    for what, ns in (
        ("startTimeUnixNano", span.start_time_unix_nano),
        ("endTimeUnixNano", span.end_time_unix_nano),
    ):
        if ns > MAX_TIME_UNIX_NANO:
            raise SpanError(f"{what} {ns} is after 2299-12-31, the last day the store holds")
    if span.start_time_unix_nano:
        metrics["start"] = _unix_seconds(span.start_time_unix_nano)
        row["created"] = format_created(_EPOCH + timedelta(microseconds=span.start_time_unix_nano // 1000))
    if span.end_time_unix_nano:
        metrics["end"] = _unix_seconds(span.end_time_unix_nano)
    prompt = _num(
        _first(
            a,
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
            "ai.usage.inputTokens",
            "ai.usage.promptTokens",
        )
    )
    completion = _num(
        _first(
            a,
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
            "ai.usage.outputTokens",
            "ai.usage.completionTokens",
        )
    )
    total = _num(
        _first(
            a,
            "gen_ai.usage.total_tokens",
            "llm.token_count.total",
            "llm.usage.total_tokens",
            "ai.usage.totalTokens",
        )
    )
    if prompt is not None:
        metrics["prompt_tokens"] = prompt
    if completion is not None:
        metrics["completion_tokens"] = completion
    if total is None and (prompt is not None or completion is not None):
        total = _num((prompt or 0) + (completion or 0))
    if total is not None:
        metrics["tokens"] = total
    cached = _num(
        _first(a, "gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read")
    )
    if cached is not None:
        metrics["prompt_cached_tokens"] = cached
    created_tokens = _num(
        _first(a, "gen_ai.usage.cache_creation.input_tokens", "llm.token_count.prompt_details.cache_write")
    )
    if created_tokens is not None:
        metrics["prompt_cache_creation_tokens"] = created_tokens
    if "metrics" in bt:
        metrics.update({k: _metric(v) for k, v in bt["metrics"].items() if _num(v) is not None or v is None})
    if metrics:
        row["metrics"] = metrics
    if "scores" in bt:
        row["scores"] = bt["scores"]
    if "context" in bt:
        row["context"] = bt["context"]

    # error
    if span.status_code == STATUS_ERROR:
        row["error"] = _error_text(span)
    return row


def _pick_input(a: Mapping[str, Any], bt: Mapping[str, Any], ev: list[Any] | None, is_tool: bool) -> Any:
    if "input" in bt:
        return bt["input"]
    if ev:
        return ev
    msgs = _genai_messages(a.get("gen_ai.input.messages"))
    if msgs is not None:
        sys_text = _parts_text(_maybe_json(a.get("gen_ai.system_instructions")))
        if sys_text is not None:
            msgs = [{"role": "system", "content": sys_text}, *msgs]
        return msgs
    if "gen_ai.prompt" in a:
        return _maybe_json(a["gen_ai.prompt"])
    flat = _flat_messages(a, "gen_ai.prompt.")
    if flat is not None:
        return flat
    flat = _flat_messages(a, "llm.input_messages.", unwrap="message")
    if flat is not None:
        return flat
    if "input.value" in a:
        return _mime_value(a["input.value"], a.get("input.mime_type"))
    if is_tool and "gen_ai.tool.call.arguments" in a:
        return _maybe_json(a["gen_ai.tool.call.arguments"])
    for k in ("ai.prompt.messages", "ai.prompt", "traceloop.entity.input"):
        if k in a:
            return _maybe_json(a[k])
    return None


def _pick_output(a: Mapping[str, Any], bt: Mapping[str, Any], ev: list[Any] | None, is_tool: bool) -> Any:
    if "output" in bt:
        return bt["output"]
    if ev:
        return ev
    msgs = _genai_messages(a.get("gen_ai.output.messages"))
    if msgs is not None:
        return msgs
    if "gen_ai.completion" in a:
        return _maybe_json(a["gen_ai.completion"])
    flat = _flat_messages(a, "gen_ai.completion.")
    if flat is not None:
        return flat
    flat = _flat_messages(a, "llm.output_messages.", unwrap="message")
    if flat is not None:
        return flat
    if "output.value" in a:
        return _mime_value(a["output.value"], a.get("output.mime_type"))
    if is_tool and "gen_ai.tool.call.result" in a:
        return _maybe_json(a["gen_ai.tool.call.result"])
    for k in ("ai.response.text", "ai.response.object", "ai.response.toolCalls", "traceloop.entity.output"):
        if k in a:
            return _maybe_json(a[k])
    return None


def _mime_value(v: Any, mime: Any) -> Any:
    if isinstance(mime, str) and "json" in mime.lower():
        ok, val = _strict_json(v)
        return val if ok else v
    return v


def _error_text(span: OtlpSpan) -> str:
    if span.status_message:
        return span.status_message
    for e in span.events:
        if e.name == "exception":
            t = e.attributes.get("exception.type")
            m = e.attributes.get("exception.message")
            if t and m:
                return f"{t}: {m}"
            if t or m:
                return str(t or m)
    return "error"
