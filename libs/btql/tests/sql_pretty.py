"""Golden SQL one clause per line (tests only).

`pretty(sql)` starts each clause of every SELECT (FROM, ARRAY JOIN, INNER JOIN, WHERE, GROUP BY,
HAVING, ORDER BY, LIMIT, OFFSET, and a SELECT after a WITH) on a new line, indented by how deep
the SELECT is nested; clause words inside function calls (`trim(… FROM …)`) and string literals
are left alone. It only turns single spaces into a newline plus an indentation that depends on
the nesting, so it is reversible (`flat`): two SQL texts are equal exactly when their pretty
forms are, and a golden diff shows the clause that changed.
"""

from __future__ import annotations

import re

INDENT = "    "
_CLAUSE = re.compile(r"(FROM|WHERE|GROUP BY|HAVING|ORDER BY|LIMIT|OFFSET|ARRAY JOIN|INNER JOIN|SELECT)\b")


def pretty(sql: str) -> str:
    out: list[str] = []
    depth = 0  # parentheses open
    selects: list[int] = [0]  # paren depth of each SELECT being written (innermost last)
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'`":
            j = i + 1
            while j < n and sql[j] != ch:
                j += 2 if sql[j] == "\\" else 1
            out.append(sql[i : j + 1])
            i = j + 1
            continue
        if ch == "(":
            depth += 1
            if sql.startswith("SELECT ", i + 1):
                selects.append(depth)
        elif ch == ")":
            if selects[-1] == depth and len(selects) > 1:
                selects.pop()
            depth -= 1
        elif ch == " " and depth == selects[-1]:
            m = _CLAUSE.match(sql, i + 1)
            if m and (m.group(1) != "SELECT" or depth == 0):
                out.append("\n" + INDENT * (len(selects) - 1))
                i += 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def flat(text: str) -> str:
    """The one-line SQL of a pretty (or hand-indented golden) text."""
    return " ".join(line.strip() for line in text.strip().splitlines())
