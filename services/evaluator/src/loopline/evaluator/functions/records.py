"""Prompts and functions as the API returns them (spec §2.1), and the checks of what clients send.

`FunctionRecord` is the read-side object (`_xact_id` is its version). `check_definition` and
`check_patch` validate a create / replace / patch body and answer `Invalid` naming the field
(`prompt_data.options.model`, `function_data.type`, ...), so every bad payload is a clear 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from loopline.common.errors import Invalid, TooLarge
from pydantic import BaseModel, ConfigDict, Field

FUNCTION_TYPES = (
    "llm",
    "scorer",
    "task",
    "tool",
    "custom_view",
    "preprocessor",
    "facet",
    "classifier",
    "tag",
    "parameters",
    "sandbox",
)
FUNCTION_DATA_TYPES = (
    "prompt",
    "code",
    "global",
    "graph",
    "remote_eval",
    "facet",
    "batched_facet",
    "topic_map",
    "parameters",
    "simulation",
)
CODE_RUNTIMES = ("python", "node", "browser", "quickjs")
PROMPT_TYPES = ("chat", "completion")
TEMPLATE_FORMATS = ("mustache", "nunjucks", "none")
MAX_NAME = 1024
MAX_SLUG = 256
MAX_OBJECT_BYTES = 1024 * 1024
#: the fields a client may set (the rest — id, org, version, created — are the server's)
EDITABLE = (
    "name",
    "slug",
    "description",
    "tags",
    "metadata",
    "function_type",
    "function_data",
    "prompt_data",
    "function_schema",
    "origin",
)


class FunctionRecord(BaseModel):
    """One version of a prompt or function (spec §2.1), serialised with `_xact_id` and `log_id`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str
    org_id: str
    project_id: str
    log_id: str = "p"
    xact_id: str = Field(alias="_xact_id")
    name: str
    slug: str
    description: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    function_type: str | None = None
    function_data: dict[str, Any]
    prompt_data: dict[str, Any] | None = None
    function_schema: dict[str, Any] | None = None
    origin: dict[str, Any] | None = None
    created: str
    user_id: str | None = None

    def public(self) -> dict[str, Any]:
        """The JSON object of the API (every key present, nulls included: the SDK's
        `PromptSchema(**obj)` needs `description` and `tags` even when they are null)."""
        return self.model_dump(by_alias=True)

    @property
    def is_prompt(self) -> bool:
        return self.prompt_data is not None


def slugify(name: str) -> str:
    """A slug from a name, as the SDK derives one (lower case, runs of other characters → '-')."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _str(body: Mapping[str, Any], key: str, *, max_len: int, required: bool) -> str | None:
    v = body.get(key)
    if v is None:
        if required:
            raise Invalid(f"'{key}' is required", field=key)
        return None
    if not isinstance(v, str) or (required and not v.strip()):
        raise Invalid(f"'{key}' must be a non-empty string", field=key)
    if len(v) > max_len:
        raise Invalid(f"'{key}' is longer than {max_len} characters", field=key)
    return v


def _obj(body: Mapping[str, Any], key: str, where: str | None = None) -> dict[str, Any] | None:
    v = body.get(key)
    if v is not None and not isinstance(v, dict):
        raise Invalid(f"'{where or key}' must be an object or null", field=where or key)
    return v


def _one_of(value: Any, allowed: tuple[str, ...], field: str, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if value not in allowed:
        also = " or null" if nullable else ""
        raise Invalid(f"'{field}' must be one of {', '.join(allowed)}{also}, not {value!r}", field=field)


def _check_prompt_block(prompt: Any) -> None:
    if prompt is None:
        return
    if not isinstance(prompt, dict):
        raise Invalid("'prompt_data.prompt' must be an object", field="prompt_data.prompt")
    kind = prompt.get("type")
    _one_of(kind, PROMPT_TYPES, "prompt_data.prompt.type")
    if kind == "completion":
        if not isinstance(prompt.get("content"), str):
            raise Invalid(
                "a completion prompt needs 'prompt_data.prompt.content' (a string)",
                field="prompt_data.prompt.content",
            )
        return
    messages = prompt.get("messages")
    if not isinstance(messages, list):
        raise Invalid(
            "a chat prompt needs 'prompt_data.prompt.messages' (an array)",
            field="prompt_data.prompt.messages",
        )
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise Invalid(
                f"prompt_data.prompt.messages[{i}] must be an object with a 'role'",
                field=f"prompt_data.prompt.messages[{i}]",
            )
    tools = prompt.get("tools")
    if tools is not None and not isinstance(tools, str):
        raise Invalid(
            "'prompt_data.prompt.tools' must be a JSON-encoded string (as the SDK sends it)",
            field="prompt_data.prompt.tools",
        )


def check_prompt_data(pd: Any, *, needs_model: bool) -> None:
    if pd is None:
        return
    if not isinstance(pd, dict):
        raise Invalid("'prompt_data' must be an object or null", field="prompt_data")
    _check_prompt_block(pd.get("prompt"))
    options = pd.get("options")
    if options is not None and not isinstance(options, dict):
        raise Invalid("'prompt_data.options' must be an object", field="prompt_data.options")
    model = (options or {}).get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise Invalid(
            "'prompt_data.options.model' must be a non-empty string", field="prompt_data.options.model"
        )
    if needs_model and model is None:
        raise Invalid(
            "a prompt needs a model: set 'prompt_data.options.model' (e.g. \"gpt-4o-mini\")",
            field="prompt_data.options.model",
        )
    params = (options or {}).get("params")
    if params is not None and not isinstance(params, dict):
        raise Invalid("'prompt_data.options.params' must be an object", field="prompt_data.options.params")
    parser = pd.get("parser")
    if parser is not None:
        if not isinstance(parser, dict):
            raise Invalid("'prompt_data.parser' must be an object or null", field="prompt_data.parser")
        scores = parser.get("choice_scores")
        if scores is not None and (
            not isinstance(scores, dict)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in scores.values())
        ):
            raise Invalid(
                "'prompt_data.parser.choice_scores' must map each choice to a number",
                field="prompt_data.parser.choice_scores",
            )
    _one_of(pd.get("template_format"), TEMPLATE_FORMATS, "prompt_data.template_format", nullable=True)
    tool_functions = pd.get("tool_functions")
    if tool_functions is not None and not isinstance(tool_functions, list):
        raise Invalid("'prompt_data.tool_functions' must be an array", field="prompt_data.tool_functions")


def _check_code(data: Any) -> None:
    if not isinstance(data, dict):
        raise Invalid("'function_data.data' must be an object", field="function_data.data")
    kind = data.get("type")
    rc = data.get("runtime_context")
    if (
        not isinstance(rc, dict)
        or rc.get("runtime") not in CODE_RUNTIMES
        or not isinstance(rc.get("version"), str)
    ):
        raise Invalid(
            "'function_data.data.runtime_context' must be {runtime: "
            f"{'|'.join(CODE_RUNTIMES)}, version: <string>}}",
            field="function_data.data.runtime_context",
        )
    if kind == "bundle":
        if not isinstance(data.get("bundle_id"), str) or not data["bundle_id"]:
            raise Invalid(
                "a code bundle needs 'function_data.data.bundle_id'", field="function_data.data.bundle_id"
            )
        loc = data.get("location")
        if not isinstance(loc, dict) or loc.get("type") not in ("function", "experiment", "sandbox"):
            raise Invalid(
                "'function_data.data.location.type' must be function, experiment or sandbox",
                field="function_data.data.location",
            )
        if loc["type"] == "function" and not (isinstance(loc.get("index"), int) and loc["index"] >= 0):
            raise Invalid(
                "'function_data.data.location.index' must be a non-negative integer",
                field="function_data.data.location.index",
            )
    elif kind == "inline":
        if not isinstance(data.get("code"), str):
            raise Invalid(
                "inline code needs 'function_data.data.code' (a string)", field="function_data.data.code"
            )
    else:
        raise Invalid(
            f"'function_data.data.type' must be bundle or inline, not {kind!r}",
            field="function_data.data.type",
        )


def check_function_data(fd: Any) -> None:
    if not isinstance(fd, dict):
        raise Invalid("'function_data' must be an object with a 'type'", field="function_data")
    kind = fd.get("type")
    _one_of(kind, FUNCTION_DATA_TYPES, "function_data.type")
    if kind == "code":
        _check_code(fd.get("data"))
    elif kind == "global":
        if not isinstance(fd.get("name"), str) or not fd["name"]:
            raise Invalid("a global function needs 'function_data.name'", field="function_data.name")
    elif kind == "parameters":
        for key in ("data", "__schema"):
            if fd.get(key) is not None and not isinstance(fd[key], dict):
                raise Invalid(f"'function_data.{key}' must be an object", field=f"function_data.{key}")


def _check_common(body: Mapping[str, Any]) -> None:
    _str(body, "description", max_len=64 * 1024, required=False)
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        raise Invalid("'tags' must be an array of strings or null", field="tags")
    _obj(body, "metadata")
    _obj(body, "function_schema")
    _obj(body, "origin")
    _one_of(body.get("function_type"), FUNCTION_TYPES, "function_type", nullable=True)
    slug = body.get("slug")
    if slug is not None:
        _str(body, "slug", max_len=MAX_SLUG, required=True)
        if "/" in slug or slug != slug.strip():
            raise Invalid("'slug' may not contain '/' or surrounding spaces", field="slug")


def check_size(fields: Mapping[str, Any]) -> None:
    size = len(orjson.dumps(dict(fields)))
    if size > MAX_OBJECT_BYTES:
        raise TooLarge(f"the function is {size} bytes; at most {MAX_OBJECT_BYTES} are stored")


def check_definition(body: Mapping[str, Any], *, prompt: bool) -> dict[str, Any]:
    """A create / replace body → its editable fields (slug defaulted from the name). `prompt`:
    through `/v1/prompt` (function_data defaults to `{"type": "prompt"}`)."""
    name = _str(body, "name", max_len=MAX_NAME, required=True)
    assert name is not None
    _check_common(body)
    fields: dict[str, Any] = {k: body.get(k) for k in EDITABLE}
    fields["name"] = name
    if not fields.get("slug"):
        fields["slug"] = slugify(name)
        if not fields["slug"]:
            raise Invalid("'slug' is required (the name has no letters or digits to make one)", field="slug")
    if fields.get("function_data") is None:
        if not prompt and body.get("prompt_data") is None:
            raise Invalid('\'function_data\' is required (e.g. {"type": "prompt"})', field="function_data")
        fields["function_data"] = {"type": "prompt"}
    check_function_data(fields["function_data"])
    is_prompt = fields["function_data"]["type"] == "prompt"
    if is_prompt and fields.get("prompt_data") is None:
        raise Invalid("a prompt function needs 'prompt_data'", field="prompt_data")
    check_prompt_data(fields.get("prompt_data"), needs_model=is_prompt)
    check_size(fields)
    return fields


def check_patch(body: Mapping[str, Any], current: FunctionRecord) -> dict[str, Any]:
    """A PATCH body applied to `current` → the new version's editable fields."""
    unknown = sorted(k for k in body if k not in EDITABLE)
    if unknown:
        raise Invalid(f"these fields cannot be patched: {', '.join(unknown)}", field=unknown[0])
    if "name" in body:
        _str(body, "name", max_len=MAX_NAME, required=True)
    if "slug" in body:
        _str(body, "slug", max_len=MAX_SLUG, required=True)
    _check_common(body)
    fields = {k: getattr(current, k) for k in EDITABLE}
    fields.update(body)
    check_function_data(fields["function_data"])
    is_prompt = fields["function_data"]["type"] == "prompt"
    if is_prompt and fields.get("prompt_data") is None:
        raise Invalid("a prompt function needs 'prompt_data'", field="prompt_data")
    if "prompt_data" in body:
        check_prompt_data(fields.get("prompt_data"), needs_model=is_prompt)
    check_size(fields)
    return fields
