from __future__ import annotations

from typing import Any

from loopline.btql import Scope

LOGS = Scope.project_logs("o1", "p1")


def test_smoke(engine: Any) -> None:
    page = engine.run("select: id, metadata.model as model | from: project_logs('p1') | sort: id asc", LOGS)
    print(page)
    assert [r["id"] for r in page.data] == ["a1", "a2", "a3", "b1", "b2", "c1", "d1"]
