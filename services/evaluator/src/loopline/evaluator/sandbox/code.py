"""Which code to run for a Braintrust code function: inline code from a stored function's
`function_data` or from an invoke body's `inline_context` + `code` (spec §2.2, §4.1).

Pure: no I/O. Bundles (`braintrust push`) are recognised and refused with a clear reason until
bundle execution exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENTRYPOINT = "handler"  # what Braintrust's inline Python code scorers and functions define
SUPPORTED_RUNTIME = "python"


class UnsupportedCode(ValueError):
    """The function's code cannot run here; the message says why (a client error, not a crash)."""


@dataclass(frozen=True)
class InlineCode:
    code: str
    entrypoint: str = ENTRYPOINT
    runtime_version: str | None = None


def _check_runtime(context: Any, where: str) -> str | None:
    if not isinstance(context, Mapping):
        raise UnsupportedCode(f"{where} must be an object with a runtime")
    runtime = context.get("runtime")
    if runtime != SUPPORTED_RUNTIME:
        raise UnsupportedCode(
            f"{where}.runtime is {runtime!r}: Loopline runs {SUPPORTED_RUNTIME!r} code functions only"
        )
    version = context.get("version")
    return str(version) if version is not None else None


def _code_text(code: Any, where: str) -> str:
    if not isinstance(code, str) or not code.strip():
        raise UnsupportedCode(f"{where} must be a non-empty string of Python code")
    return code


def inline_code(function_data: Mapping[str, Any]) -> InlineCode:
    """The code of a stored function whose `function_data` is `{"type": "code", "data": …}`."""
    if function_data.get("type") != "code":
        raise UnsupportedCode(f"function_data.type is {function_data.get('type')!r}, not 'code'")
    data = function_data.get("data")
    if not isinstance(data, Mapping):
        raise UnsupportedCode("function_data.data must be an object")
    kind = data.get("type")
    if kind == "bundle":
        raise UnsupportedCode(
            "function_data.data is a code bundle (braintrust push); running bundles is not supported yet, "
            "inline code is"
        )
    if kind != "inline":
        raise UnsupportedCode(f"function_data.data.type is {kind!r}; expected 'inline' or 'bundle'")
    version = _check_runtime(data.get("runtime_context"), "function_data.data.runtime_context")
    return InlineCode(code=_code_text(data.get("code"), "function_data.data.code"), runtime_version=version)


def invoke_inline_code(body: Mapping[str, Any]) -> InlineCode:
    """The code of an invoke body that selects `{inline_context: {runtime, version}, code}`."""
    version = _check_runtime(body.get("inline_context"), "inline_context")
    return InlineCode(code=_code_text(body.get("code"), "code"), runtime_version=version)
