"""BTQL's CPU work (parse, bind, compile, shaping rows) runs off the event loop: while one request
is compiling, /healthz and other requests are answered (issue 10, defect 4).

The compile is held in flight by a gate (not by a slow query and a clock): the health request
must complete while the gate is closed. Were the compile on the event loop, the gate would block
the loop and the health request could only finish after it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from loopline.btql.binder import MAX_COLUMNS
from loopline.query import btql_http

from loopline import btql
from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


async def _project(ll: InProcess) -> str:
    r = await ll.client.post("/v1/project", json={"name": "off-loop"}, headers=ll.headers)
    return str(r.json()["id"])


async def _wait(flag: threading.Event) -> None:
    for _ in range(3000):
        if flag.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the gated compile never started")


async def test_health_and_other_queries_answer_while_a_compile_is_in_flight(
    ll: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = await _project(ll)
    started, release = threading.Event(), threading.Event()
    waits: list[bool] = []  # whether the gate was opened (False: it timed out)
    real = btql.compile_query

    def gated(q: Any, *args: Any, **kwargs: Any) -> Any:
        if "gate_marker" in repr(q):
            started.set()
            # bounded: on the event loop, nothing could open the gate; it times out instead
            waits.append(release.wait(timeout=20))
        return real(q, *args, **kwargs)

    monkeypatch.setattr(btql, "compile_query", gated)
    heavy = asyncio.create_task(
        ll.client.post(
            "/btql",
            json={"query": f"select: id | from: project_logs('{pid}') | filter: metadata.gate_marker = 1"},
            headers=ll.headers,
        )
    )
    try:
        await _wait(started)
        health = await asyncio.wait_for(ll.client.get("/healthz"), timeout=30)
        assert health.status_code == 200
        other = await asyncio.wait_for(
            ll.client.post(
                "/btql",
                json={"query": f"measures: count(1) as n | from: project_logs('{pid}')"},
                headers=ll.headers,
            ),
            timeout=30,
        )
        assert other.status_code == 200 and other.json()["data"] == [{"n": 0}]
        assert not heavy.done()  # both answered while the gated compile was still running
    finally:
        release.set()
    r = await heavy
    assert r.status_code == 200 and r.json()["data"] == []
    assert waits == [True]  # the gate was opened by this test while the compile waited


async def test_ten_thousand_duplicate_names_are_a_quick_positioned_400(ll: InProcess) -> None:
    pid = await _project(ll)
    text = "select: " + ", ".join(["id"] * 10_000) + f" | from: project_logs('{pid}')"
    r = await ll.client.post("/btql", json={"query": text}, headers=ll.headers)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["class"] == "BindError" and f"at most {MAX_COLUMNS} columns" in err["message"]
    assert err["line"] == 1 and err["column"] == len("select: ") + len("id, ") * MAX_COLUMNS + 1


def test_the_cpu_pool_is_small() -> None:
    assert btql_http._cpu._max_workers <= 2


async def test_a_huge_json_query_is_a_clean_400(ll: InProcess) -> None:
    """A JSON AST far larger than a text query may be (a 200,000-item IN list, about 2 MB): the
    body is decoded off the event loop and the query refused at its element bound."""
    pid = await _project(ll)
    src = {
        "op": "function",
        "name": {"op": "ident", "name": ["project_logs"]},
        "args": [{"op": "literal", "value": pid}],
    }
    big_in = {
        "op": "in",
        "left": {"op": "ident", "name": ["id"]},
        "right": {"op": "literal", "value": [f"v{i}" for i in range(200_000)]},
    }
    body = {"query": {"select": [{"op": "star"}], "from": src, "filter": big_in}}
    r = await ll.client.post("/btql", json=body, headers=ll.headers)
    assert r.status_code == 400
    assert r.json()["error"]["class"] == "ParseError" and "elements" in r.json()["error"]["message"]
    assert (await ll.client.get("/healthz")).status_code == 200
