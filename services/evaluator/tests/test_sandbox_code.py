"""Reading the code to run out of Braintrust function definitions and invoke bodies (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from loopline.evaluator.sandbox.code import InlineCode, UnsupportedCode, inline_code, invoke_inline_code

CODE = "def handler(output, expected):\n    return output == expected\n"


def test_inline_code_of_a_stored_function() -> None:
    data = {
        "type": "code",
        "data": {"type": "inline", "code": CODE, "runtime_context": {"runtime": "python", "version": "3.11"}},
    }
    assert inline_code(data) == InlineCode(code=CODE, entrypoint="handler", runtime_version="3.11")


def test_inline_code_of_an_invoke_body() -> None:
    body = {"inline_context": {"runtime": "python", "version": "3.12"}, "code": CODE, "name": "exact"}
    assert invoke_inline_code(body) == InlineCode(code=CODE, runtime_version="3.12")
    assert invoke_inline_code({"inline_context": {"runtime": "python"}, "code": CODE}).runtime_version is None


@pytest.mark.parametrize(
    ("function_data", "message"),
    [
        ({"type": "prompt"}, "function_data.type is 'prompt', not 'code'"),
        ({"type": "code", "data": "x"}, "function_data.data must be an object"),
        (
            {
                "type": "code",
                "data": {"type": "bundle", "bundle_id": "b", "runtime_context": {"runtime": "python"}},
            },
            "code bundle",
        ),
        ({"type": "code", "data": {"type": "zip"}}, "expected 'inline' or 'bundle'"),
        (
            {
                "type": "code",
                "data": {"type": "inline", "code": CODE, "runtime_context": {"runtime": "node"}},
            },
            "runtime is 'node': Loopline runs 'python' code functions only",
        ),
        ({"type": "code", "data": {"type": "inline", "code": CODE}}, "runtime_context must be an object"),
        (
            {
                "type": "code",
                "data": {"type": "inline", "code": "  ", "runtime_context": {"runtime": "python"}},
            },
            "code must be a non-empty string",
        ),
    ],
)
def test_code_that_cannot_run_is_explained(function_data: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedCode, match=message):
        inline_code(function_data)


def test_invoke_without_python_code_is_explained() -> None:
    with pytest.raises(UnsupportedCode, match=r"inline_context\.runtime is 'quickjs'"):
        invoke_inline_code({"inline_context": {"runtime": "quickjs"}, "code": CODE})
    with pytest.raises(UnsupportedCode, match="code must be a non-empty string"):
        invoke_inline_code({"inline_context": {"runtime": "python"}, "code": 3})
