"""Mustache templates as Braintrust prompts use them (spec §2.3): `{{var}}`, dotted names
(`{{input.question}}`), `{{{raw}}}` / `{{& raw}}`, sections `{{#x}}…{{/x}}` (lists repeat, objects
push a scope, other truthy values render once), inverted sections `{{^x}}…{{/x}}`, comments and
`{{.}}`. As in the SDK's `prompt.build`: no HTML escaping, a value that is not a string renders as
JSON, null renders as `null`, a missing variable as "" — or, with `strict`, raises `TemplateError` naming it.
Tag-only lines of sections and comments are removed whole (mustache's standalone rule).

Templates are parsed once (an LRU cache by text); rendering walks the parsed tree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_TAG = re.compile(r"\{\{(\{)?\s*([#^/!&]?)\s*(.*?)\s*(\})?\}\}", re.S)
_MISSING = object()


class TemplateError(ValueError):
    """A template that cannot be parsed, or (strict) a variable that has no value."""


@dataclass(frozen=True)
class _Var:
    name: str


@dataclass(frozen=True)
class _Section:
    name: str
    inverted: bool
    body: tuple[Any, ...]


def _standalone(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of the whole line if the tag at [start, end) is alone on it."""
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip(" \t"):
        return None
    nl = text.find("\n", end)
    line_end = len(text) if nl < 0 else nl + 1
    if text[end:line_end].strip(" \t\r\n"):
        return None
    return line_start, line_end


@lru_cache(maxsize=4096)
def parse(template: str) -> tuple[Any, ...]:
    """The template as a tree of str, `_Var` and `_Section` nodes."""
    stack: list[tuple[str | None, list[Any], bool]] = [(None, [], False)]
    pos = 0
    for m in _TAG.finditer(template):
        triple, sigil, name, close = m.group(1), m.group(2), m.group(3), m.group(4)
        start, end = m.start(), m.end()
        if triple and not close:
            raise TemplateError(f"unclosed triple mustache at offset {start}: {m.group(0)!r}")
        if sigil in ("#", "^", "/", "!"):
            line = _standalone(template, start, end)
            if line is not None:
                text, end = template[pos : line[0]], line[1]
            else:
                text = template[pos:start]
        else:
            text = template[pos:start]
        if text:
            stack[-1][1].append(text)
        pos = end
        if sigil == "!":
            continue
        if not name:
            raise TemplateError(f"empty tag at offset {start}")
        if sigil in ("#", "^"):
            stack.append((name, [], sigil == "^"))
        elif sigil == "/":
            open_name, body, inverted = stack.pop() if len(stack) > 1 else (None, [], False)
            if open_name != name:
                raise TemplateError(
                    f"section {{{{/{name}}}}} at offset {start} closes "
                    + (f"{{{{#{open_name}}}}}" if open_name else "no open section")
                )
            stack[-1][1].append(_Section(name, inverted, tuple(body)))
        else:
            stack[-1][1].append(_Var(name))
    if pos < len(template):
        stack[-1][1].append(template[pos:])
    if len(stack) > 1:
        raise TemplateError(f"section {{{{#{stack[-1][0]}}}}} is never closed")
    return tuple(stack[0][1])


def _lookup(name: str, scopes: list[Any]) -> Any:
    if name == ".":
        return scopes[-1]
    head, *rest = name.split(".")
    for scope in reversed(scopes):
        if isinstance(scope, dict) and head in scope:
            value = scope[head]
            break
    else:
        return _MISSING
    for part in rest:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _render(nodes: tuple[Any, ...], scopes: list[Any], strict: bool, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            value = _lookup(node.name, scopes)
            if value is _MISSING:
                if strict:
                    raise TemplateError(f"template variable {node.name!r} has no value")
                continue
            out.append(_text(value))
        else:
            value = _lookup(node.name, scopes)
            if value is _MISSING and strict:
                raise TemplateError(f"template section {node.name!r} has no value")
            truthy = value is not _MISSING and bool(value)
            if node.inverted:
                if not truthy:
                    _render(node.body, scopes, strict, out)
            elif truthy:
                items = value if isinstance(value, list) else [value]
                for item in items:
                    scopes.append(item)
                    try:
                        _render(node.body, scopes, strict, out)
                    finally:
                        scopes.pop()


def render(template: str, variables: Any, *, strict: bool = False) -> str:
    out: list[str] = []
    _render(parse(template), [variables], strict, out)
    return "".join(out)


def render_object(value: Any, variables: Any, *, strict: bool = False) -> Any:
    """Every string inside `value` (messages, tool definitions), rendered."""
    if isinstance(value, str):
        return render(value, variables, strict=strict)
    if isinstance(value, list):
        return [render_object(v, variables, strict=strict) for v in value]
    if isinstance(value, dict):
        return {k: render_object(v, variables, strict=strict) for k, v in value.items()}
    return value
