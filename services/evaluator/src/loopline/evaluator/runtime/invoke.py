"""An invoke request body (spec §4.1), read and checked: which function, with what, and where
the invocation is logged. Every refusal is `Invalid` naming the field (a 400)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loopline.common.errors import Invalid, NotFound
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.evaluator.runtime.parents import SpanParent, decode_parent
from loopline.evaluator.runtime.types import MODES
from pydantic import ValidationError

ProjectNameOf = Callable[[str], Awaitable[str | None]]
SELECTORS = (
    "function_id",
    "project_name",
    "slug",
    "global_function",
    "prompt_session_id",
    "prompt_session_function_id",
    "inline_context",
    "code",
    "inline_prompt",
    "inline_function",
)


@dataclass(frozen=True)
class InvokeRequest:
    ref: FunctionRef
    project_id: str | None  # the body's project_id (with `slug`: the function's project)
    input: Any
    expected: Any
    metadata: dict[str, Any] | None
    tags: list[str] | None
    parent: SpanParent | None
    stream: bool
    mode: str
    strict: bool
    messages: list[Any] | None
    overrides: dict[str, Any] | None


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v:
        raise Invalid(f"'{key}' must be a non-empty string", field=key)
    return v


async def _ref(
    body: dict[str, Any], function_id: str | None, project_name_of: ProjectNameOf
) -> tuple[FunctionRef, str | None]:
    if function_id is not None:
        extra = [k for k in SELECTORS if body.get(k) is not None and k != "function_id"]
        if extra:
            raise Invalid(f"the function is named by the path; remove {extra} from the body", field=extra[0])
        body = {**body, "function_id": function_id}
    if body.get("inline_function") is not None:
        raise Invalid(
            "inline_function is not supported; use inline_prompt or inline_context + code",
            field="inline_function",
        )
    project_id = _opt_str(body, "project_id")
    args: dict[str, Any] = {}
    for key in ("function_id", "version", "project_name", "slug", "global_function", "function_type", "name"):
        v = _opt_str(body, key)
        if v is not None:
            args[key] = v
    for key in ("prompt_session_id", "prompt_session_function_id"):
        if body.get(key) is not None:
            args[key] = _opt_str(body, key)
    if body.get("inline_context") is not None or body.get("code") is not None:
        ctx = body.get("inline_context")
        if not isinstance(ctx, dict) or not all(isinstance(v, str) for v in ctx.values()):
            raise Invalid("inline_context must be an object {runtime, version}", field="inline_context")
        code = body.get("code")
        if not isinstance(code, str) or not code.strip():
            raise Invalid("'code' must be a non-empty string of code", field="code")
        args["inline_code"], args["inline_runtime"] = code, ctx
    if body.get("inline_prompt") is not None:
        if not isinstance(body["inline_prompt"], dict):
            raise Invalid("inline_prompt must be an object (prompt data)", field="inline_prompt")
        args["inline_prompt"] = body["inline_prompt"]
    if "slug" in args and "project_name" not in args and project_id is not None:
        name = await project_name_of(project_id)
        if name is None:
            raise NotFound(f"project {project_id!r} does not exist in this organization", field="project_id")
        args["project_name"] = name
    if not any(
        k in args
        for k in (
            "function_id",
            "project_name",
            "slug",
            "global_function",
            "prompt_session_id",
            "inline_code",
            "inline_prompt",
        )
    ):
        raise Invalid(
            "name the function: function_id, project_name + slug, global_function, inline_prompt or "
            "inline_context + code",
            field="function_id",
        )
    try:
        return FunctionRef(**args), project_id
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Invalid(f"function selector: {first.get('msg', exc)}", field="function_id") from exc


async def parse_invoke(
    body: Any, project_name_of: ProjectNameOf, *, function_id: str | None = None
) -> InvokeRequest:
    """The request; `project_name_of` names the org's project of an id (None: no such project)."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    ref, project_id = await _ref(body, function_id, project_name_of)
    mode = body.get("mode") or "auto"
    if mode not in MODES:
        raise Invalid(f"mode must be one of {list(MODES)}, got {mode!r}", field="mode")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise Invalid("metadata must be an object", field="metadata")
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        raise Invalid("tags must be an array of strings", field="tags")
    messages = body.get("messages")
    if messages is not None and (
        not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages)
    ):
        raise Invalid("messages must be an array of message objects", field="messages")
    overrides = body.get("overrides")
    if overrides is not None and not isinstance(overrides, dict):
        raise Invalid("overrides must be an object", field="overrides")
    for key in ("stream", "strict"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise Invalid(f"'{key}' must be a boolean", field=key)
    api_version = body.get("api_version")
    if api_version is not None and api_version != 1:
        raise Invalid(f"api_version {api_version!r} is not supported (1 is)", field="api_version")
    return InvokeRequest(
        ref=ref,
        project_id=project_id,
        input=body.get("input"),
        expected=body.get("expected"),
        metadata=metadata,
        tags=tags,
        parent=decode_parent(body.get("parent")),
        stream=bool(body.get("stream")),
        mode=str(mode),
        strict=bool(body.get("strict")),
        messages=messages,
        overrides=overrides,
    )


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
