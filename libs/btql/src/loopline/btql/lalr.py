"""A lean runtime for lark's LALR tables: the same lexing and parsing, fewer Python steps per token.

lark builds the grammar, the LALR(1) tables, the per-state (contextual) scanners and the
tree-building callbacks; this module only runs them. lark's generic runtime costs about 25 µs per
token here (interactive-parser bookkeeping, `Rule` hashing on every reduce, a `LexerState` and a
line counter object per token); this loop does the same work with plain dicts and locals:

- **Lexing**: one regex per parser state, made of lark's terminals for that state in lark's own
  order, so tokens are exactly the ones lark's contextual lexer produces (keywords only where
  the state accepts them; `NAME` becomes a keyword through lark's "unless" table,
  case-insensitively). A possessive prefix skips whitespace and comments in the same match.
  Punctuation that every rule filters out gets no Token; single-line queries skip line counting.
- **Parsing** uses lark's action and goto tables. `?rule` pass-through reductions (one child,
  inlined) only replace the top state, and a run of them is looked up once per
  (state under, top state, lookahead).
- **Errors**: on any lexing or parsing error this returns `None`, and the caller re-runs lark's
  own parser, which raises lark's exception with its expected-terminal sets. Errors stay exactly
  as lark reports them; only valid queries take the fast path. Exceptions raised by callbacks
  (range checks, keyword misuse) propagate unchanged, in the same order as under lark.

`FastLalr.build` returns `None` when lark's internals do not have the expected shape (a new lark
version), so the caller falls back to lark's runtime instead of misparsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token
from lark.grammar import Terminal
from lark.lexer import PatternStr, UnlessCallback
from lark.parse_tree_builder import ExpandSingleChild
from lark.parsers.lalr_analysis import Shift

# An action is a shift (the next state, an int) or a reduce: (size, nonterminal, callback or None).
_Reduce = tuple[int, str, Callable[[list[Any]], Any] | None]
_Action = int | _Reduce


@dataclass(frozen=True, slots=True)
class _StateLexer:
    regex: re.Pattern[str]
    keywords: dict[str, str]  # lower-cased word -> keyword terminal, for a NAME match


class FastLalr:
    """Runs one `Lark(parser="lalr", lexer="contextual", transformer=...)` instance's tables."""

    def __init__(
        self,
        actions: dict[int, dict[str, _Action]],
        lexers: dict[int, _StateLexer],
        start_states: dict[str, int],
        end_states: dict[str, int],
        token_callbacks: dict[str, Callable[[Token], Any]],
        dropped: frozenset[str] = frozenset(),
    ) -> None:
        self._actions = actions
        self._lexers = lexers
        self._start = start_states
        self._end = end_states
        self._token_callbacks = token_callbacks
        self._dropped = dropped  # terminals no callback ever receives (pushed as None)
        self._end_any = frozenset(end_states.values())
        self._chains: dict[tuple[int, int, str], int] = {}  # filled lazily, deterministic values
        # lark's Token constructor without its deprecated-keyword shim
        self._new_token: Callable[..., Token] = getattr(Token, "_future_new", Token)

    @classmethod
    def build(cls, lark: Lark) -> FastLalr | None:
        """Tables and scanners from a built lark parser, or None if lark's internals differ."""
        try:
            return cls._build(lark)
        except (AttributeError, KeyError, TypeError, ValueError, AssertionError):
            return None

    @classmethod
    def _build(cls, lark: Lark) -> FastLalr | None:
        parser = lark.parser.parser.parser  # ParsingFrontend -> LALR_Parser -> _Parser
        table = parser.parse_table
        callbacks = parser.callbacks
        contextual = lark.parser.lexer
        if not hasattr(contextual, "lexers"):
            return None
        actions: dict[int, dict[str, _Action]] = {}
        for state, row in table.states.items():
            out: dict[str, _Action] = {}
            for sym, (action, arg) in row.items():
                sym = str.__str__(sym)  # lark names are Tokens, whose __eq__ is slow on dict hits
                if action is Shift:
                    out[sym] = int(arg)
                    continue
                rule = arg
                cb = callbacks[rule]
                size = len(rule.expansion)
                passthrough = size == 1 and isinstance(cb, ExpandSingleChild) and rule.alias is None
                out[sym] = (size, str.__str__(rule.origin.name), None if passthrough else cb)
            actions[int(state)] = out
        lexers: dict[int, _StateLexer] = {}
        by_lexer: dict[int, _StateLexer] = {}
        for state, basic in contextual.lexers.items():
            sl = by_lexer.get(id(basic))
            if sl is None:
                sl = _state_lexer(basic)
                if sl is None:
                    return None
                by_lexer[id(basic)] = sl
            lexers[int(state)] = sl
        token_callbacks = {k: v for k, v in callbacks.items() if isinstance(k, str)}
        kept_somewhere: set[str] = set()
        filtered: set[str] = set()
        for rule in lark.rules:
            keep_rule = bool(rule.options.keep_all_tokens)  # a `!rule` keeps every token
            for sym in rule.expansion:
                if isinstance(sym, Terminal):
                    (filtered if sym.filter_out and not keep_rule else kept_somewhere).add(str(sym.name))
        keep_all = bool(lark.options.keep_all_tokens)
        dropped = frozenset() if keep_all else frozenset(filtered - kept_somewhere - set(token_callbacks))
        return cls(
            actions,
            lexers,
            {k: int(v) for k, v in table.start_states.items()},
            {k: int(v) for k, v in table.end_states.items()},
            token_callbacks,
            dropped,
        )

    def parse(self, text: str, start: str) -> Any | None:
        """The callbacks' result for `text`, or None on a lexing or parsing error."""
        actions = self._actions
        lexers = self._lexers
        token_callbacks = self._token_callbacks
        end_state = self._end[start]
        stack = [self._start[start]]
        values: list[Any] = []
        pos = 0
        line = 1
        line_start = 0
        chains = self._chains
        dropped = self._dropped
        multiline = "\n" in text
        tok: Token | None
        new_token = self._new_token
        while True:
            state = stack[-1]
            lx = lexers[state]
            m = lx.regex.match(text, pos)
            if m is None:
                return None
            ttype: str | None = m.lastgroup
            if ttype is not None:
                tstart = m.start(ttype)
                tend = m.end()
                if multiline and tstart != pos:  # skipped whitespace or comments
                    nl = text.count("\n", pos, tstart)
                    if nl:
                        line += nl
                        line_start = text.rindex("\n", pos, tstart) + 1
                pos = tend
                is_end = False
                if ttype in dropped:  # punctuation that every rule filters out: no callback sees it
                    tok = None
                else:
                    value = text[tstart:tend]
                    if ttype == "NAME":
                        ttype = lx.keywords.get(value.lower(), "NAME")
                    if not multiline:
                        tok = new_token(ttype, value, tstart, 1, tstart + 1, 1, tend + 1, tend)
                    else:
                        col = tstart - line_start + 1
                        tok_line = line
                        nl = value.count("\n")
                        if nl:
                            line += nl
                            line_start = tstart + value.rindex("\n") + 1
                        tok = new_token(
                            ttype, value, tstart, tok_line, col, line, tend - line_start + 1, tend
                        )
            else:
                ttype = "$END"
                tok = None
                is_end = True
            while True:
                act = actions[state].get(ttype)
                if act is None:
                    return None
                if act.__class__ is int:
                    if is_end:
                        return None
                    stack.append(act)
                    if token_callbacks and ttype in token_callbacks:
                        values.append(token_callbacks[ttype](tok))  # type: ignore[arg-type]
                    else:
                        values.append(tok)
                    break
                size, origin, rcb = act  # type: ignore[misc]
                if rcb is None:
                    # A run of pass-through reductions only walks the top state (the state under
                    # it stays), so it is looked up once per (under, top, lookahead).
                    key = (stack[-2], state, ttype)
                    top = chains.get(key)
                    if top is None:
                        top = chains[key] = self._chain_end(stack[-2], state, ttype)
                    stack[-1] = state = top
                    if is_end and state == end_state:
                        return values[-1]
                    continue
                if size:
                    children = values[-size:]
                    del stack[-size:]
                    del values[-size:]
                else:
                    children = []
                values.append(rcb(children))
                state = actions[stack[-1]][origin]  # type: ignore[assignment]
                stack.append(state)
                if is_end and state == end_state:
                    return values[-1]

    def _chain_end(self, under: int, state: int, ttype: str) -> int:
        """The top state after every pass-through reduction that `ttype` triggers from `state`."""
        actions = self._actions
        act = actions[state].get(ttype)
        while act is not None and act.__class__ is not int and act[2] is None:  # type: ignore[index]
            state = actions[under][act[1]]  # type: ignore[assignment,index]
            if state in self._end_any:
                break
            act = actions[state].get(ttype)
        return state


def _state_lexer(basic: Any) -> _StateLexer | None:
    """One regex per parser state: skip ignored text, then lark's terminals in lark's order.

    `(?:ignored)*+` is possessive, so ignored text is never given back to let a terminal match
    inside a comment (lark matches ignored terminals first wherever they match: they sort ahead of
    `-` and `/` by width). `\\Z` after the skip marks the end of the input.
    """
    scanner = basic.scanner  # builds lark's scanner (and its unless callbacks) once
    keywords: dict[str, str] = {}
    for ttype, cb in basic.callback.items():
        if ttype != "NAME" or not isinstance(cb, UnlessCallback):
            return None  # a terminal callback this runtime does not replicate
        for term in cb.scanner.terminals:
            pat = term.pattern
            if not isinstance(pat, PatternStr) or "i" not in pat.flags:
                return None
            keywords[pat.value.lower()] = term.name
    ignore = frozenset(basic.ignore_types)
    skip = "|".join(t.pattern.to_regexp() for t in scanner.terminals if t.name in ignore)
    alts = "|".join(
        f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanner.terminals if t.name not in ignore
    )
    body = f"(?:{alts}|\\Z)" if alts else "\\Z"  # a state that only accepts the end has no terminals
    regex = re.compile(f"(?:{skip})*+{body}" if skip else body, scanner.g_regex_flags)
    return _StateLexer(regex=regex, keywords=keywords)
