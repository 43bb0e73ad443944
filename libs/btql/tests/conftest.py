"""Fixtures: an embedded ClickHouse (the run's shared chdb directory) with a seeded database.

Two orgs share project/experiment/dataset ids on purpose ("p1", "e1", "d1"): org `o2` holds
rows marked SECRET that must never appear in a query scoped to org `o1`.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import clickhouse_connect
import pytest
from loopline.btql import CompiledQuery, Limits, Page, Scope, compile_query
from loopline.common.schema import ROW_TABLES
from loopline.common.testing import unique_database

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

COLUMNS = [
    "org_id",
    "project_id",
    "object_type",
    "object_id",
    "id",
    "_xact_id",
    "_is_deleted",
    "created",
    "span_id",
    "root_span_id",
    "span_parents",
    "is_root",
    "span_attributes",
    "span_name",
    "span_type",
    "input",
    "output",
    "expected",
    "error",
    "scores",
    "scores_map",
    "metadata",
    "metrics",
    "metrics_map",
    "start_time",
    "end_time",
    "duration",
    "tags",
    "context",
    "origin",
    "extra",
]


def _j(v: Any) -> str:
    return "" if v is None else json.dumps(v)


def row(
    *,
    org: str = "o1",
    project: str = "p1",
    otype: str = "project_logs",
    oid: str = "g",
    id: str,
    xact: int = 1000,
    deleted: int = 0,
    created: dt.datetime | None = None,
    root: str | None = None,
    parent: str | None = None,
    span_attributes: dict[str, Any] | None = None,
    input: Any = None,
    output: Any = None,
    expected: Any = None,
    error: Any = None,
    scores: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    origin: Any = None,
    extra: dict[str, Any] | None = None,
) -> list[Any]:
    created = created or NOW
    span_id = "s_" + id
    root = root or span_id
    sa = span_attributes or {}
    m = metrics or {}
    start = m.get("start")
    end = m.get("end")
    values = {
        "org_id": org,
        "project_id": project,
        "object_type": otype,
        "object_id": oid,
        "id": id,
        "_xact_id": xact,
        "_is_deleted": deleted,
        "created": created,
        "span_id": span_id,
        "root_span_id": root,
        "span_parents": [parent] if parent else [],
        "is_root": parent is None,
        "span_attributes": _j(sa) if sa else "",
        "span_name": sa.get("name") or "",
        "span_type": sa.get("type") or "",
        "input": _j(input),
        "output": _j(output),
        "expected": _j(expected),
        "error": _j(error),
        "scores": _j(scores),
        "scores_map": {k: float(v) for k, v in (scores or {}).items() if isinstance(v, int | float)},
        "metadata": _j(metadata),
        "metrics": _j(metrics),
        "metrics_map": {
            k: float(v) for k, v in m.items() if isinstance(v, int | float) and not isinstance(v, bool)
        },
        "start_time": dt.datetime.fromtimestamp(start, dt.UTC).replace(tzinfo=None) if start else created,
        "end_time": dt.datetime.fromtimestamp(end, dt.UTC).replace(tzinfo=None) if end else None,
        "duration": (end - start) if start and end else None,
        "tags": tags or [],
        "context": "",
        "origin": _j(origin),
        "extra": _j(extra),
    }
    return [values[c] for c in COLUMNS]


def _h(hours: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


def span_rows() -> list[list[Any]]:
    rows = [
        # trace r1: root + llm child + tool child with an error
        row(
            id="a1",
            created=_h(2),
            root="s_a1",
            span_attributes={"name": "chat", "type": "task"},
            input={"question": "How do I reset my password?"},
            output="Click 'forgot password'",
            expected="Use the reset link",
            tags=["triage", "production"],
            metadata={
                "model": "gpt-4",
                "env": "production",
                "user": {"name": "ann"},
                "version": 2,
                "models": [{"name": "m0"}, {"name": "m1"}],
                "field name": "spaced",
                "flue.instance_id": "f-1",
            },
            scores={"Factuality": 0.9, "email sent": 1},
            metrics={
                "start": 1000.0,
                "end": 1002.5,
                "prompt_tokens": 10,
                "completion_tokens": 20,
                "tokens": 30,
                "estimated_cost": 0.01,
            },
            extra={
                "facets": {"sentiment": "positive"},
                "classifications": {
                    "Issues": [{"id": "c1", "label": "billing"}, {"id": "c2", "label": "login"}]
                },
            },
        ),
        row(
            id="a2",
            created=_h(2) + dt.timedelta(seconds=1),
            root="s_a1",
            parent="s_a1",
            span_attributes={"name": "openai", "type": "llm"},
            input=[{"role": "user", "content": "reset password"}],
            output={"text": "Click forgot password"},
            metadata={"model": "gpt-4"},
            scores={"Factuality": 0.5},
            metrics={
                "start": 1000.5,
                "end": 1002.0,
                "prompt_tokens": 10,
                "completion_tokens": 20,
                "tokens": 30,
                "time_to_first_token": 0.2,
                "estimated_cost": 0.02,
            },
        ),
        row(
            id="a3",
            created=_h(2) + dt.timedelta(seconds=2),
            root="s_a1",
            parent="s_a1",
            span_attributes={"name": "lookup", "type": "tool"},
            input="user ann",
            error="timeout",
            metrics={"start": 1001.0, "end": 1001.2},
        ),
        # trace r2: root with a structured error, llm child
        row(
            id="b1",
            created=_h(30),
            root="s_b1",
            span_attributes={"name": "chat", "type": "task"},
            input="What is the weather in Paris?",
            output="Sunny",
            tags=["feedback"],
            metadata={"model": "gpt-3.5-turbo", "env": "staging", "version": "2"},
            error={"type": "rate_limit", "message": "slow down"},
            scores={"Factuality": 0.4},
            metrics={"start": 2000.0, "end": 2004.0, "tokens": 5},
        ),
        row(
            id="b2",
            created=_h(30) + dt.timedelta(seconds=1),
            root="s_b1",
            parent="s_b1",
            span_attributes={"name": "openai", "type": "llm"},
            input="weather?",
            output="Sunny",
            metadata={"model": "gpt-3.5-turbo"},
            scores={"Factuality": 0.6},
            metrics={"start": 2000.5, "end": 2003.0},
        ),
        # trace r3: old, single span
        row(
            id="c1",
            created=_h(24 * 40),
            root="s_c1",
            span_attributes={"name": "chat", "type": "task"},
            input="Explain the concept of recursion",
            output="Recursion is when a function calls itself",
            metadata={"model": "gpt-4", "env": "production", "description": "50% off today"},
            scores={"Factuality": 0.2},
            tags=["triage", "triaged"],
        ),
        # versions: d1 was updated (latest has env=staging), d2 deleted
        row(
            id="d1",
            xact=1000,
            created=_h(5),
            root="s_d1",
            metadata={"model": "claude", "env": "production"},
            input='O\'Brien said "hi"',
            tags=[],
        ),
        row(
            id="d1",
            xact=2000,
            created=_h(5),
            root="s_d1",
            metadata={"model": "claude", "env": "staging"},
            input='O\'Brien said "hi"',
            tags=[],
        ),
        row(
            id="d2", xact=1000, created=_h(6), root="s_d2", metadata={"model": "claude"}, input="deleted row"
        ),
        row(
            id="d2",
            xact=3000,
            deleted=1,
            created=_h(6),
            root="s_d2",
            metadata={"model": "claude"},
            input="deleted row",
        ),
        # experiment e1
        row(
            otype="experiment",
            oid="e1",
            id="x1",
            created=_h(1),
            root="s_x1",
            span_attributes={"name": "eval", "type": "eval"},
            input={"q": 1},
            expected=2,
            output=2,
            scores={"Accuracy": 1.0},
            metadata={"split": "test"},
        ),
        row(
            otype="experiment",
            oid="e1",
            id="x2",
            created=_h(1),
            root="s_x2",
            span_attributes={"name": "eval", "type": "eval"},
            input={"q": 2},
            expected=3,
            output=4,
            scores={"Accuracy": 0.0},
            metadata={"split": "train"},
        ),
        row(
            otype="experiment",
            oid="e2",
            id="y1",
            created=_h(1),
            root="s_y1",
            input={"q": 1},
            scores={"Accuracy": 0.5},
        ),
    ]
    # org o2: same ids, everything matches, marked SECRET
    for otype, oid in (("project_logs", "g"), ("experiment", "e1")):
        for i in range(3):
            rows.append(
                row(
                    org="o2",
                    otype=otype,
                    oid=oid,
                    id=f"SECRET-{otype}-{i}",
                    created=_h(1),
                    root="s_a1",
                    span_attributes={"name": "chat", "type": "llm"},
                    input="SECRET How do I reset my password?",
                    output="SECRET",
                    error="SECRET",
                    tags=["triage", "production", "feedback"],
                    metadata={"model": "gpt-4", "env": "production"},
                    scores={"Factuality": 0.99, "Accuracy": 1},
                    metrics={"start": 1.0, "end": 2.0, "tokens": 1},
                )
            )
    # another project of o1
    rows.append(row(project="p2", id="other-project", created=_h(1), input="other project", tags=["triage"]))
    return rows


def dataset_rows() -> list[list[Any]]:
    d: dict[str, Any] = {"otype": "dataset", "oid": "d1"}
    return [
        row(
            **d,
            id="ra",
            xact=100,
            created=_h(10),
            input="q-a",
            expected="v1",
            metadata={"split": "test"},
            tags=["t1"],
        ),
        row(
            **d,
            id="ra",
            xact=200,
            created=_h(10),
            input="q-a",
            expected="v2",
            metadata={"split": "test"},
            tags=["t1"],
        ),
        row(**d, id="rb", xact=100, created=_h(9), input="q-b", expected="b", metadata={"split": "train"}),
        row(
            **d,
            id="rb",
            xact=300,
            deleted=1,
            created=_h(9),
            input="q-b",
            expected="b",
            metadata={"split": "train"},
        ),
        row(**d, id="rc", xact=250, created=_h(8), input="q-c", expected="c", metadata={"split": "test"}),
        row(
            org="o2",
            otype="dataset",
            oid="d1",
            id="SECRET-ds",
            xact=100,
            created=_h(8),
            input="SECRET",
            expected="SECRET",
            metadata={"split": "test"},
        ),
    ]


@dataclass
class Engine:
    client: Any
    db: str

    def compile(self, query: Any, scope: Scope, **kw: Any) -> CompiledQuery:
        return compile_query(query, scope, db=self.db, **kw)

    def run(self, query: Any, scope: Scope, **kw: Any) -> Page:
        """The query's page as the query service reads it (`CompiledQuery.run`: a page sorted
        newest first through its newest-first reads, test_newest.py)."""
        cq = self.compile(query, scope, **kw)

        def run(sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
            res = self.client.query(sql, parameters=params, settings=cq.settings)
            return list(res.column_names), list(res.result_rows)

        return cq.run(run)

    def insert(self, table: str, rows: list[list[Any]]) -> None:
        """Rows made by `row(...)` into `table` (spans or dataset_rows)."""
        self.client.insert(f"{self.db}.{table}", rows, column_names=COLUMNS)

    def all_pages(self, query: str, scope: Scope, **kw: Any) -> list[Page]:
        pages = [self.run(query, scope, **kw)]
        while pages[-1].cursor and len(pages) < 100:
            q = query + f" | cursor: '{pages[-1].cursor}'"
            pages.append(self.run(q, scope, **kw))
        return pages


def _seeded(client: Any, prefix: str) -> Engine:
    db = unique_database(prefix)
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    for m in ROW_TABLES:
        for stmt in m.statements:
            client.command(stmt.replace("{db}", db))
    e = Engine(client, db)
    e.insert("spans", span_rows())
    e.insert("dataset_rows", dataset_rows())
    return e


@pytest.fixture(scope="session")
def engine(chdb_dsn: str) -> Engine:
    if chdb_dsn.startswith("chdb://"):
        pathlib.Path(chdb_dsn.split("://", 1)[1]).mkdir(parents=True, exist_ok=True)
    client = clickhouse_connect.get_client(dsn=chdb_dsn)
    return _seeded(client, "btql")


@pytest.fixture(scope="module")
def own_engine(engine: Engine) -> Iterator[Engine]:
    """The same seed in a database of the requesting module's own (for tests that write rows)."""
    e = _seeded(engine.client, "btqlown")
    yield e
    engine.client.command(f"DROP DATABASE IF EXISTS {e.db}")


@pytest.fixture(scope="module")
def empty_engine(engine: Engine) -> Iterator[Engine]:
    """A database of the requesting module's own with the row tables and no rows."""
    db = unique_database("btqlempty")
    engine.client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    for m in ROW_TABLES:
        for stmt in m.statements:
            engine.client.command(stmt.replace("{db}", db))
    yield Engine(engine.client, db)
    engine.client.command(f"DROP DATABASE IF EXISTS {db}")


@pytest.fixture(scope="session")
def make_row() -> Callable[..., list[Any]]:
    """`row(...)`: one row in the seed's column order."""
    return row


LOGS = Scope.project_logs("o1", "p1")
EXP = Scope.experiment("o1", "e1", "p1")
DS = Scope.dataset("o1", "d1", "p1")
LIMITS = Limits()

RunFn = Callable[..., Page]
