"""Seeded BTQL request generators: token soup from the grammar's own keywords, the valid queries of
`libs/btql/tests` (spec examples, golden queries) pointed at the fuzzer's objects and mutated, SQL
syntax, and the JSON AST form with mutated nodes."""

from __future__ import annotations

import ast
import random
import re
from functools import cache
from pathlib import Path
from typing import Any

from loopline.btql.ast import CLAUSES
from loopline.btql.grammar import TERMINAL_NAMES

from tests.support.fuzz_client import Case
from tests.support.fuzz_json import HUGE_NUMBERS, Nest, Raw, odd_key, odd_value

BTQL_TESTS = Path(__file__).resolve().parents[2] / "libs" / "btql" / "tests"

#: Grammar keywords (terminal names in upper case that are words), e.g. SELECT, TRACES, INTERVAL.
KEYWORDS = sorted(k.lower() for k, human in TERMINAL_NAMES.items() if k == human)
PUNCT = [
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "*",
    "+",
    "-",
    "/",
    "%",
    "=",
    "!=",
    "<",
    "<=>",
    ">=",
    "?",
    ":",
    "|",
    ";",
    "=>",
]
NAMES = [
    "id",
    "input",
    "metadata.model",
    "scores.acc",
    "metrics.tokens",
    "tags",
    "created",
    "span_attributes.type",
]
NAMES += [
    "count",
    "sum",
    "avg",
    "len",
    "now",
    "day",
    "any_span",
    "is_root",
    "_xact_id",
    "`a b`",
    "metadata.`a.b`",
]
LITERALS = ["'x'", '"y"', "1", "-2", "0.5", "1e309", "99999999999999999999999", "''", "'\\'", "true", "null"]


def _table(file: str, name: str) -> list[Any]:
    """A module-level literal table of a test file, read without importing the test module."""
    tree = ast.parse((BTQL_TESTS / file).read_text())
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == name and isinstance(value, ast.List):
            # literal items only (skips e.g. "a" * 20_000)
            return [v for v in (_literal(e) for e in value.elts) if v is not None]
    raise LookupError(f"{name} not found in {file}")


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


@cache
def example_queries() -> list[str]:
    """Spec examples and golden queries, as whole queries (a `from:` added where missing)."""
    texts = [t for _, t in _table("test_spec_examples.py", "EXAMPLES")]
    texts += [g[0] for g in _table("test_golden.py", "GOLDEN")]
    out = []
    for t in texts:
        low = t.lower()
        if "from:" not in low and "from " not in low:
            t = (t if ":" in t.split("\n")[0][:20] else f"filter: {t}") + "\nfrom: project_logs('p1')"
        out.append(t)
    return out


@cache
def hostile_strings() -> list[str]:
    return [s for s in _table("test_hostile.py", "HOSTILE") if isinstance(s, str)]


_SOURCE = re.compile(r"\b(project_logs|experiment|dataset|project_dataset)\s*\(([^)]*)\)", re.I)


def retarget(text: str, ids: dict[str, str]) -> str:
    """Point every `project_logs(...)`, `experiment(...)`, `dataset(...)` at the fuzzer's objects."""

    def sub(m: re.Match[str]) -> str:
        kind = m.group(1).lower()
        if kind == "project_dataset":
            return f"project_dataset('{ids['project_logs']}', '{ids['dataset']}')"
        extra = ""
        if "=>" in m.group(2):
            extra = ", " + m.group(2).split(",", 1)[1].strip() if "," in m.group(2) else ""
        return f"{kind}('{ids[kind]}'{extra})"

    return _SOURCE.sub(sub, text)


def _mutate_text(rng: random.Random, q: str) -> str:
    kind = rng.randrange(14)
    if kind == 0 and len(q) > 2:
        i = rng.randrange(len(q))
        return q[:i] + q[i + rng.randrange(1, 10) :]
    if kind == 1:
        i = rng.randrange(len(q) + 1)
        return q[:i] + rng.choice(KEYWORDS + PUNCT + NAMES + LITERALS) + " " + q[i:]
    if kind == 2:
        return q[: rng.randrange(len(q) + 1)]
    if kind == 3:
        return re.sub(
            r"'[^']*'", lambda _m: "'" + rng.choice(hostile_strings()).replace("'", "''") + "'", q, count=1
        )
    if kind == 4:
        n = rng.choice([50, 100, 255, 300, 1100, 5000])
        return q + f" | filter: {'(' * n}1 = 1{')' * n}"
    if kind == 5:
        return q + f" | limit: {rng.choice(['0', '-1', '1e309', '99999999999999999999', '1.5', 'x'])}"
    if kind == 6:
        return q.swapcase()
    if kind == 7:
        i = rng.randrange(len(q) + 1)
        return q[:i] + rng.choice(["\x00", "\u202e", "🤖", "\ufeff", "\\", "`", '"', "--", "/*"]) + q[i:]
    if kind == 8:  # long ANDs: refused past 256 conditions (fuzz-findings.md N2)
        terms = rng.choice([50, 500, 2000])
        return q + " | filter: " + " and ".join(f"metadata.k{i} = {i}" for i in range(terms))
    if kind == 9:
        cursor = rng.choice(["garbage", "eyJ9", "", "x" * 5000, "\x00"])
        return q + f" | cursor: '{cursor}'"
    if kind == 10:
        return q + " | filter: " + ".".join(["metadata"] + ["a"] * rng.choice([10, 300, 3000])) + " = 1"
    if kind == 11:
        return q + f" | sample: {rng.choice(['0%', '101%', '-5%', '1e309', '50% seed 99999999999999999999'])}"
    if kind == 12:
        return (
            q
            + " | filter: "
            + rng.choice(
                [
                    "created > now() - interval 99999999999 year",
                    "metrics.tokens = 18446744073709551616",
                    "1/0 = 1",
                    "id = -0",
                ]
            )
        )
    return (
        q
        + " "
        + rng.choice(["| select: *", "traces", "spans", "summary", "| dimensions: id | measures: count(1)"])
    )


def soup(rng: random.Random, ids: dict[str, str]) -> str:
    """Random tokens from the grammar: clause heads, keywords, punctuation, names, literals."""
    tokens = [f"{c}:" for c in CLAUSES] + KEYWORDS + PUNCT + NAMES + LITERALS
    tokens += [f"project_logs('{ids['project_logs']}')", f"dataset('{ids['dataset']}')", "|", "\n"]
    return " ".join(rng.choice(tokens) for _ in range(rng.randrange(1, 40)))


def sql_query(rng: random.Random, ids: dict[str, str]) -> str:
    src = rng.choice(
        [
            f"project_logs('{ids['project_logs']}')",
            f"experiment('{ids['experiment']}')",
            f"dataset('{ids['dataset']}')",
        ]
    )
    cols = rng.choice(["*", "id", "id, input", "count(1) AS n", "metadata.model, count(1)"])
    where = rng.choice(
        ["", " WHERE id = 'x'", " WHERE metadata.i > 3 AND input IS NOT NULL", " WHERE tags INCLUDES 'a'"]
    )
    group = " GROUP BY metadata.model" if "count" in cols and "," in cols else ""
    tail = rng.choice(["", " ORDER BY id DESC", " LIMIT 5", " LIMIT 5 OFFSET 'x'", ";", " ORDER BY 1"])
    q = f"SELECT {cols} FROM {src}{where}{group}{tail}"
    return _mutate_text(rng, q) if rng.random() < 0.6 else q


def example_query(rng: random.Random, ids: dict[str, str]) -> str:
    q = retarget(rng.choice(example_queries()), ids)
    for _ in range(rng.randrange(0, 3)):
        q = _mutate_text(rng, q)
    return q


def json_ast_query(rng: random.Random, ids: dict[str, str]) -> Any:
    """A valid query in the JSON AST form, with 0-2 nodes replaced by hostile values."""
    from loopline.btql.json_ast import query_to_json

    from loopline import btql

    while True:
        try:
            doc: Any = query_to_json(btql.parse(retarget(rng.choice(example_queries()), ids)))
            break
        except btql.BtqlError:
            continue
    for _ in range(rng.randrange(0, 3)):
        doc = _mutate_json(rng, doc)
    return doc


def _mutate_json(rng: random.Random, doc: Any) -> Any:
    paths: list[list[Any]] = []

    def walk(v: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, [*path, k])
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, [*path, i])

    walk(doc, [])
    path = rng.choice(paths)
    replacement = rng.choice(
        [
            odd_value(rng),
            {"op": rng.choice(["eq", "and", "function", "ident", "literal", "nope", "btql", ""])},
            {"op": "literal", "value": rng.choice(HUGE_NUMBERS)},
            {"op": "ident", "name": [odd_key(rng)]},
            {"btql": rng.choice(["id = 1", "(((", "x" * 1000, ""])},
            Nest(rng.choice([100, 300, 1100]), {"op": "literal", "value": 1}, "dict"),
        ]
    )
    if not path:
        return replacement
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = replacement
    return doc


def btql_body(rng: random.Random, ids: dict[str, str]) -> Any:
    kind = rng.randrange(10)
    query: Any
    if kind <= 1:
        query = soup(rng, ids)
    elif kind <= 4:
        query = example_query(rng, ids)
    elif kind <= 6:
        query = sql_query(rng, ids)
    elif kind <= 8:
        query = json_ast_query(rng, ids)
    else:
        query = rng.choice([None, 1, [], {}, "", Raw(b'"\xff"'), Nest(1100), "x" * 100_001])
    body: dict[Any, Any] = {"query": query}
    if rng.random() < 0.3:
        extra = rng.choice(
            ["fmt", "tz_offset", "audit_log", "version", "strict_lint_mode", "explain", "format"]
        )
        body[extra] = rng.choice([True, "parquet", "json", "jsonl", 2**64, -99999, "x", None, {}, 1e300])
    return body


def btql_case(rng: random.Random, ids: dict[str, str], path: str = "/btql") -> Case:
    return Case("btql" if path == "/btql" else "btql-async", "POST", path, btql_body(rng, ids))


def duplicate_names_query(ids: dict[str, str], n: int) -> str:
    """`select: id, id, …` with n unaliased duplicates (defect 4: quadratic in the binder)."""
    return f"select: {', '.join(['id'] * n)} | from: project_logs('{ids['project_logs']}')"
