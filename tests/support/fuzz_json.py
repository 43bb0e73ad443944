"""Hostile JSON for the fuzz suite: a value tree that can hold what no JSON library emits, its
encoder, seeded generators of odd values and keys, and a shrinker.

A tree is made of dicts (keys: `str` or `Raw`), lists, str, int (any size), float, bool, None,
`Raw` (bytes written verbatim: `1e309`, `-0`, invalid UTF-8, a cut-off document) and `Nest`
(nesting N levels deep, expanded by the encoder without recursion). Everything is derived from a
`random.Random`, so a seed and an index reproduce a request exactly.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Raw:
    """Bytes that go into the document as they are (may make it invalid)."""

    data: bytes


@dataclass(frozen=True)
class Nest:
    """`depth` levels of `[...]` (or `{"k": ...}`) around `leaf`."""

    depth: int
    leaf: Any = 1
    kind: str = "list"


def encode(tree: Any) -> bytes:
    """The tree as JSON text (or not quite JSON, where it holds `Raw`)."""
    out: list[bytes] = []
    stack: list[Any] = [tree]
    while stack:
        v = stack.pop()
        if isinstance(v, (_Lit, Raw)):
            out.append(v.data)
        elif v is None:
            out.append(b"null")
        elif v is True:
            out.append(b"true")
        elif v is False:
            out.append(b"false")
        elif isinstance(v, int):
            out.append(str(v).encode())
        elif isinstance(v, float):
            out.append(json.dumps(v).encode())  # NaN/Infinity: not JSON, on purpose
        elif isinstance(v, str):
            out.append(json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        elif isinstance(v, Nest):
            opener, closer = (b"[", b"]") if v.kind == "list" else (b'{"k":', b"}")
            out.append(opener * v.depth)
            stack.append(_Lit(closer * v.depth))
            stack.append(v.leaf)
        elif isinstance(v, list):
            parts: list[Any] = [_Lit(b"[")]
            for i, item in enumerate(v):
                if i:
                    parts.append(_Lit(b","))
                parts.append(item)
            parts.append(_Lit(b"]"))
            stack.extend(reversed(parts))
        elif isinstance(v, dict):
            parts = [_Lit(b"{")]
            for i, (k, item) in enumerate(v.items()):
                if i:
                    parts.append(_Lit(b","))
                parts.append(k if isinstance(k, Raw) else str(k))
                parts.append(_Lit(b":"))
                parts.append(item)
            parts.append(_Lit(b"}"))
            stack.extend(reversed(parts))
        else:
            raise TypeError(f"cannot encode {type(v).__name__}")
    return b"".join(out)


@dataclass(frozen=True)
class _Lit:
    data: bytes


# -- odd values -------------------------------------------------------------------------------

HUGE_NUMBERS: list[Any] = [
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**40,
    -(10**40),
    Raw(b"1e309"),
    Raw(b"-1e309"),
    Raw(b"-0"),
    Raw(b"-0.0"),
    Raw(b"1e-400"),
    Raw(b"123456789012345678901234567890.12345678901234567890"),
    Raw(b"0." + b"0" * 400 + b"1"),
    Raw(b"9" * 1000),
    1e300,
    5e-324,
    float("nan"),
    float("inf"),
]

ODD_STRINGS: list[Any] = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: encoded as invalid UTF-8 (CESU)
    "emoji 🤖 ünïcödé 中文 \u202e\ufeff",
    "\\",
    "'; DROP TABLE spans; --",
    "{p0:String}",
    "x" * 70_000,
    "\u0000\u0001\u001f\u007f",
    "null",
    "1e309",
]

INVALID_UTF8: list[bytes] = [
    b'"\xff"',
    b'"\xc3"',
    b'"\xed\xa0\x80"',
    b'"\xf4\x90\x80\x80"',
    b'"a\xc0\xafb"',
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
]


def dotted_key(rng: random.Random) -> str:
    return ".".join("s" for _ in range(rng.choice([2, 50, 10_000])))


def odd_key(rng: random.Random) -> Any:
    return rng.choice(
        [
            "",
            ".",
            "..",
            "a.",
            ".a",
            "a.b",
            "a..b",
            "$",
            "_xact_id",
            "\x00",
            "k\x00k",
            "🤖",
            "`",
            "'",
            '"',
            "k" * rng.choice([256, 5_000, 70_000]),
            dotted_key(rng),
            Raw(b'"\xff\xfe"'),
            Raw(b'"\\ud800"'),
            "__proto__",
            "1",
            "-1",
        ]
    )


def odd_value(rng: random.Random, depth: int = 0) -> Any:
    """One hostile JSON value: numbers, strings, odd-keyed objects, nesting, invalid bytes."""
    kind = rng.randrange(12 if depth < 3 else 8)
    if kind == 0:
        return rng.choice(HUGE_NUMBERS)
    if kind == 1:
        return rng.choice(ODD_STRINGS)
    if kind == 2:
        return Raw(rng.choice(INVALID_UTF8))
    if kind == 3:
        return rng.choice([None, True, False, 0, -1, 0.5, [], {}])
    if kind == 4:
        return Nest(
            rng.choice([64, 254, 255, 256, 300, 1000, 1023, 1024, 1025, 3000]), rng.choice([1, {}, "x"])
        )
    if kind == 5:
        return Nest(rng.choice([255, 256, 600, 1025]), 1, "dict")
    if kind == 6:
        return {"a.b": 1, "a": {"b": 2}}
    if kind == 7:
        return {odd_key(rng): rng.choice([1, "v", None, {}])}
    if kind == 8:
        return [odd_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    if kind == 9:
        return {odd_key(rng): odd_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))}
    if kind == 10:
        return {"k": odd_value(rng, depth + 1), "k2": "plain"}
    return {f"f{i}": i for i in range(rng.choice([1, 100, 5_000]))}


# -- shrinking --------------------------------------------------------------------------------


def _children(tree: Any) -> Iterator[Any]:
    """Smaller variants of a tree, most drastic first."""
    if isinstance(tree, Nest):
        for d in (1, tree.depth // 2, tree.depth - 1):
            if 0 < d < tree.depth:
                yield Nest(d, tree.leaf, tree.kind)
        return
    if isinstance(tree, dict):
        items = list(tree.items())
        if len(items) > 1:
            half = len(items) // 2
            yield dict(items[:half])
            yield dict(items[half:])
        for i, (k, v) in enumerate(items):
            yield dict(items[:i] + items[i + 1 :])
            for sub in _children(v):
                yield dict([*items[:i], (k, sub), *items[i + 1 :]])
        return
    if isinstance(tree, list):
        if len(tree) > 1:
            half = len(tree) // 2
            yield tree[:half]
            yield tree[half:]
        for i, v in enumerate(tree):
            yield tree[:i] + tree[i + 1 :]
            for sub in _children(v):
                yield [*tree[:i], sub, *tree[i + 1 :]]
        return
    if isinstance(tree, str) and len(tree) > 8:
        yield tree[: len(tree) // 2]


def shrink(tree: Any, fails: Callable[[Any], bool], budget: int = 40) -> Any:
    """Greedy: keep replacing the tree by a smaller variant that still `fails`, `budget` tries."""
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for cand in _children(tree):
            if _protected(tree, cand):
                continue
            tries += 1
            if fails(cand):
                tree = cand
                improved = True
                break
            if tries >= budget:
                break
    return tree


def _protected(old: Any, new: Any) -> bool:
    """Never shrink away the envelope keys the route needs to look at the interesting part."""
    if isinstance(old, dict) and isinstance(new, dict):
        return any(k in old and k not in new for k in ("rows", "events", "query"))
    return False


def describe(tree: Any, limit: int = 600) -> str:
    """A short human-readable rendering of a tree (long strings and nesting abbreviated)."""
    text = _render(tree)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def _render(v: Any) -> str:
    if isinstance(v, Nest):
        return f"<{v.depth} nested {v.kind}s of {_render(v.leaf)}>"
    if isinstance(v, Raw):
        return f"<raw {v.data[:80]!r}{'…' if len(v.data) > 80 else ''}>"
    if isinstance(v, str):
        return repr(v) if len(v) <= 60 else f"<str of {len(v)} chars: {v[:20]!r}…>"
    if isinstance(v, dict):
        if len(v) > 12:
            return f"<object of {len(v)} keys>"
        return "{" + ", ".join(f"{_render(k)}: {_render(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        if len(v) > 12:
            return f"<array of {len(v)} items, first {_render(v[0])}>"
        return "[" + ", ".join(_render(x) for x in v) + "]"
    return repr(v)
