"""The BTQL error hierarchy.

Every compile-time error is a `BtqlError` with a class name (`ParseError`, `BindError`,
`TypeError`, `LintError`, `ScopeError`), a message and, when known, a 1-based line and column.
`to_json()` gives the body a service returns with a 4xx status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class BtqlError(Exception):
    """Base class of every error this library raises for a query."""

    error_class: ClassVar[str] = "BtqlError"

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        *,
        expected: tuple[str, ...] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.expected = expected
        self.code = code

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{self.error_class}: {self.message}{where}"

    def to_json(self) -> dict[str, Any]:
        """`{"error": {"class", "message", "line", "column"[, "expected"][, "code"]}}`."""
        body: dict[str, Any] = {
            "class": self.error_class,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }
        if self.expected:
            body["expected"] = list(self.expected)
        if self.code:
            body["code"] = self.code
        return {"error": body}


class ParseError(BtqlError):
    """The text (or JSON) is not a well-formed query."""

    error_class = "ParseError"


class BindError(BtqlError):
    """Names or semantics: unknown field/function/source, bad alias, aggregate misuse, ..."""

    error_class = "BindError"


class BtqlTypeError(BindError):
    """Operand types do not fit (reported with class name `TypeError`)."""

    error_class = "TypeError"


class LintError(BtqlError):
    """A lint that strict lint mode turns into an error."""

    error_class = "LintError"


class ScopeError(BtqlError):
    """The query's data source does not match the scope the caller is authorized for."""

    error_class = "ScopeError"


def node_position(node: object) -> tuple[int | None, int | None]:
    """Line and column of a syntax-tree node (its `pos`), or (None, None) when unknown."""
    p = getattr(node, "pos", None)
    return (p.line, p.column) if p else (None, None)


def bind_error(message: str, node: object) -> BindError:
    """A `BindError` positioned at `node`."""
    return BindError(message, *node_position(node))


def type_error(message: str, node: object) -> BtqlTypeError:
    """A `BtqlTypeError` positioned at `node`."""
    return BtqlTypeError(message, *node_position(node))
