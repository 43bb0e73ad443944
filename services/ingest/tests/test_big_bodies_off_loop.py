"""Large `/logs3` and REST-insert bodies are parsed, validated and encoded on a worker thread, so
the event loop keeps answering other requests (issue 10: one request must not stall the rest);
small ones stay inline. Checked by where the work ran, not by timing."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopline.ingest import routes, write_api
from loopline.ingest.body import THREAD_BODY_BYTES

from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {"parse": set(), "validate": set(), "encode": set()}

    def spy(name: str, fn: Any) -> Any:
        def run(*a: Any, **kw: Any) -> Any:
            seen[name].add(threading.current_thread().name)
            return fn(*a, **kw)

        return run

    monkeypatch.setattr(routes, "parse_json", spy("parse", routes.parse_json))
    monkeypatch.setattr(write_api, "validate_rows", spy("validate", write_api.validate_rows))
    monkeypatch.setattr(write_api, "_encode", spy("encode", write_api._encode))
    return seen


def rows(pid: str, n: int, size: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "project_id": pid, "log_id": "g", "input": "x" * size} for i in range(n)]


async def test_large_bodies_run_off_the_event_loop(ll: InProcess, threads: dict[str, set[str]]) -> None:
    pid = await ll.make_project()
    main = threading.current_thread().name
    n = THREAD_BODY_BYTES // 2000 + 50
    big = rows(pid, n, 2000)
    assert len(orjson.dumps({"rows": big})) > THREAD_BODY_BYTES
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": big}), headers=ll.headers)
    assert r.status_code == 200, r.text
    assert all(main not in names and names for names in threads.values()), threads
    r = await ll.client.post(
        f"/v1/project_logs/{pid}/insert",
        content=orjson.dumps({"events": [{"id": f"e{i}", "input": "y" * 2000} for i in range(n)]}),
        headers=ll.headers,
    )
    assert r.status_code == 200, r.text
    assert all(main not in names for names in threads.values()), threads
    # a bad row deep in a large body is still a 400 naming it
    bad = [*big, {"id": "z", "project_id": pid, "log_id": "g", "scores": {"s": 7}}]
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": bad}), headers=ll.headers)
    assert r.status_code == 400 and f"rows[{n}].scores.s" in r.text


async def test_small_bodies_stay_inline(ll: InProcess, threads: dict[str, set[str]]) -> None:
    pid = await ll.make_project()
    main = threading.current_thread().name
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": rows(pid, 3, 10)}), headers=ll.headers)
    assert r.status_code == 200, r.text
    assert threads == {"parse": {main}, "validate": {main}, "encode": {main}}
