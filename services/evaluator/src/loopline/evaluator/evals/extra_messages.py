"""`extra_messages` of `POST /v1/eval` (Braintrust's `RunEval`: "a template path of extra
messages to append to the conversation, after the last message").

The path names a value among a prompt's template variables (`input`, `expected`, `metadata`,
`parameters`, an object input's own fields), as `input.messages` or `{{input.messages}}`;
a numeric segment indexes a list (`input.turns.0`). Per row, the value must be a list of message
objects (`{role, content, …}`; one object is taken as a list of one); it is appended, untemplated,
after the prompt's own messages. A row where the path names nothing gets no extra messages
(under `strict`, its cell fails); a value that is not messages fails the cell, naming the path.
"""

from __future__ import annotations

import re
from typing import Any

from loopline.common.errors import Invalid

_SEGMENT = re.compile(r"^[A-Za-z_$][\w$-]*$|^\d+$")
MAX_PATH = 256


class MessagesError(ValueError):
    """The path does not name messages on this row."""


def parse_path(value: Any, where: str = "extra_messages") -> tuple[str, ...]:
    """The path's segments (Invalid naming `where` when it is not a template path)."""
    if not isinstance(value, str):
        raise Invalid(
            f"'{where}' must be a template path such as 'input.messages', got {type(value).__name__}",
            field=where,
        )
    text = value.strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text[2:-2].strip()
    segments = tuple(text.split("."))
    if not text or len(value) > MAX_PATH or not all(_SEGMENT.match(s) for s in segments):
        raise Invalid(
            f"'{where}' must be a template path such as 'input.messages' or '{{{{input.messages}}}}', "
            f"got {value[:MAX_PATH]!r}",
            field=where,
        )
    if segments[0].isdigit():
        raise Invalid(f"'{where}' must start with a variable name, got {value!r}", field=where)
    return segments


def messages_at(path: str, variables: dict[str, Any], *, strict: bool = False) -> list[dict[str, Any]]:
    """The messages `path` names among `variables` ([] when it names nothing)."""
    value: Any = variables
    for seg in parse_path(path):
        if isinstance(value, dict) and seg in value:
            value = value[seg]
        elif isinstance(value, list) and seg.isdigit() and int(seg) < len(value):
            value = value[int(seg)]
        else:
            value = None
            break
    if value is None:
        if strict:
            raise MessagesError(f"extra_messages {path!r}: the row has no such value")
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(m, dict) and "role" in m for m in value):
        got = type(value).__name__ if not isinstance(value, list) else "a list of other values"
        raise MessagesError(
            f"extra_messages {path!r} must name a list of message objects ({{role, content}}), got {got}"
        )
    return list(value)
