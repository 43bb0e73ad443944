"""The lean LALR runtime (`loopline.btql.lalr`) against lark's own runtime on the same tables.

For every text: both succeed with the same AST and the same positions, or both fail the same way
(lark with a lexing/parsing error where the lean runtime declines, or both with the same
callback error). The texts are every query the other test files use plus generated ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark, Transformer
from lark.exceptions import UnexpectedInput
from loopline.btql import BtqlError
from loopline.btql import parser as P
from loopline.btql.lalr import FastLalr

from .test_errors import INVALID
from .test_golden import GOLDEN
from .test_hostile import _TOKENS, HOSTILE
from .test_parser import EXAMPLE_TEXTS
from .test_spec_examples import CASES


def _lark_and_fast() -> tuple[Any, FastLalr]:
    lark = P._get_lark()
    fast = P._fast
    assert fast is not None, "the lean runtime did not build from lark's tables"
    return lark, fast


def _deep(x: Any) -> Any:
    """The value with positions included (AST equality ignores them)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, tuple((f.name, _deep(getattr(x, f.name))) for f in dataclasses.fields(x)))
    if isinstance(x, tuple | list):
        return tuple(_deep(v) for v in x)
    return x


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "ok", _deep(run())
    except UnexpectedInput:
        return "syntax", None
    except BtqlError as e:
        return "btql", (type(e).__name__, e.message, e.line, e.column)


def assert_same(text: str) -> None:
    start = P.detect_syntax(text)
    if start == "with":
        return
    lark, fast = _lark_and_fast()
    for s in (start, "expr_only"):
        want = _outcome(lambda s=s: lark.parse(text, start=s))
        got = _outcome(lambda s=s: fast.parse(text, s))
        if got == ("ok", None):
            got = ("syntax", None)  # the lean runtime declines; lark reports the error
        assert got == want, (text, s)


_TEXTS = sorted(
    {g[0] for g in GOLDEN}
    | {c[1] for c in CASES if isinstance(c[1], str)}
    | {i[1] for i in INVALID}
    | set(EXAMPLE_TEXTS)
    | {f"select: * | from: project_logs('p1') | filter: a = {h}" for h in HOSTILE}
    | {
        "select: a --x\n| from: project_logs('p') -- trailing",
        "select: a /* c\n  d */ , b\n\n| from: project_logs('p')\n| filter: x = 'multi\nline' and y = -",
        "select: 1 - -2, 3--4\n| from: project_logs('p')",
        "select: x ? limit : sort | from: project_logs('p')",
        "SELECT a FROM project_logs('p') WHERE b IS NOT NULL ORDER BY c DESC LIMIT 3;",
        "  \n\t",
        "",
    }
)


@pytest.mark.parametrize("text", _TEXTS, ids=range(len(_TEXTS)))
def test_same_as_lark_on_known_texts(text: str) -> None:
    assert_same(text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*_TOKENS, "/*", "*/", "\t", "group", "by", "end", "case", "when"]), max_size=30)
)
def test_same_as_lark_on_token_soup(tokens: list[str]) -> None:
    assert_same(" ".join(tokens))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_same_as_lark_on_random_text(text: str) -> None:
    assert_same(text)


def test_falls_back_when_lark_internals_differ() -> None:
    class NotLark:
        parser = None

    assert FastLalr.build(NotLark()) is None  # type: ignore[arg-type]


def test_a_keep_all_tokens_rule_keeps_its_punctuation() -> None:
    grammar = r"""
    start: pair ("," pair)*
    !pair: NAME ":" NAME
    NAME: /[a-z]+/
    %ignore " "
    """

    class Build(Transformer):  # type: ignore[type-arg]
        def pair(self, c: list[Any]) -> tuple[str, ...]:
            return tuple(str(x) for x in c)

        def start(self, c: list[Any]) -> list[Any]:
            return c

    lark = Lark(grammar, parser="lalr", lexer="contextual", transformer=Build())
    fast = FastLalr.build(lark)
    assert fast is not None
    text = "a: b, c :d"
    assert fast.parse(text, "start") == lark.parse(text) == [("a", ":", "b"), ("c", ":", "d")]
    assert fast.parse("a: b,", "start") is None  # an error: lark's runtime reports it
