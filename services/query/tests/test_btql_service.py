"""/btql and /btql/schema over HTTP: results, classified errors, pagination, scoping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.app import InProcess, in_process


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


async def seed(ll: InProcess, name: str = "btql") -> str:
    pid = str((await ll.client.post("/v1/project", json={"name": name}, headers=ll.headers)).json()["id"])
    rows = [
        {
            "id": f"r{i:02d}",
            "project_id": pid,
            "log_id": "g",
            "input": {"question": f"refund order {i}" if i % 3 == 0 else f"reset password {i}", "n": i},
            "output": "ok",
            "metadata": {"model": "m1" if i % 2 else "m2", "user": {"tier": "pro" if i < 5 else "free"}},
            "scores": {"quality": i / 20},
            "metrics": {"start": 1795337921.0 + i, "end": 1795337921.5 + i, "tokens": i},
            "error": "timeout" if i == 7 else None,
        }
        for i in range(20)
    ]
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": rows}), headers=ll.headers)
    assert r.status_code == 200
    return pid


async def btql(ll: InProcess, query: Any, **extra: Any) -> Any:
    return await ll.client.post("/btql", json={"query": query, **extra}, headers=ll.headers)


async def test_filters_aggregates_and_match(ll: InProcess) -> None:
    pid = await seed(ll)
    r = await btql(
        ll,
        f"select: id | from: project_logs('{pid}') | filter: metadata.model = 'm1' and scores.quality >= 0.5 | sort: id",
    )
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["data"]] == ["r11", "r13", "r15", "r17", "r19"]
    r = await btql(
        ll,
        f"dimensions: metadata.model as model | measures: count(1) as n, sum(metrics.tokens) as t | from: project_logs('{pid}') | sort: model",
    )
    assert r.json()["data"] == [{"model": "m1", "n": 10, "t": 100}, {"model": "m2", "n": 10, "t": 90}]
    r = await btql(
        ll, f"measures: count(1) as n | from: project_logs('{pid}') | filter: input MATCH 'REFUND'"
    )
    assert r.json()["data"] == [{"n": 7}]
    r = await btql(ll, f"SELECT count(*) AS errs FROM project_logs('{pid}') WHERE error IS NOT NULL")
    assert r.json()["data"] == [{"errs": 1}]
    assert "schema" in r.json()


async def test_pagination_covers_everything_once(ll: InProcess) -> None:
    pid = await seed(ll, "pages")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        q = f"select: id | from: project_logs('{pid}') | limit: 6" + (
            f" | cursor: '{cursor}'" if cursor else ""
        )
        body = (await btql(ll, q)).json()
        seen += [x["id"] for x in body["data"]]
        cursor = body.get("cursor")
        if not cursor:
            break
    assert sorted(seen) == [f"r{i:02d}" for i in range(20)] and len(seen) == 20


@pytest.mark.parametrize(
    ("query", "status", "cls"),
    [
        ("select: id | from: project_logs('P') | filter: id =", 400, "ParseError"),
        ("select: idd | from: project_logs('P')", 400, "BindError"),
        ("select: id | from: project_logs('P') | filter: metrics.tokens LIKE 3", 400, "TypeError"),
        ("measures: count(1) as n | from: project_logs('P') | filter: count(1) > 1", 400, "BindError"),
        ("select: id | from: project_logs('not-a-project')", 403, "ScopeError"),
        ("select: id", 400, "BindError"),
    ],
)
async def test_errors_are_classified_4xx(ll: InProcess, query: str, status: int, cls: str) -> None:
    pid = await seed(ll, f"errs-{cls}-{status}")
    r = await btql(ll, query.replace("'P'", f"'{pid}'"))
    assert r.status_code == status, r.text
    assert r.json()["error"]["class"] == cls and r.json()["Message"].startswith(cls)


async def test_explain_has_no_user_values_in_sql(ll: InProcess) -> None:
    pid = await seed(ll, "explain")
    hostile = 'x"; DROP TABLE spans; --'
    r = await btql(
        ll, f"select: id | from: project_logs('{pid}') | filter: input.question = '{hostile}'", explain=True
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "DROP TABLE" not in body["sql"] and pid not in body["sql"]
    assert hostile in body["params"].values()


async def test_other_org_cannot_query_or_infer(ll: InProcess) -> None:
    pid = await seed(ll, "mine")
    _, key = await ll.new_org("theirs")
    other = {"Authorization": f"Bearer {key}"}
    r = await ll.client.post(
        "/btql", json={"query": f"select: id | from: project_logs('{pid}')"}, headers=other
    )
    assert r.status_code == 403 and r.json()["error"]["class"] == "ScopeError"
    r = await ll.client.get(
        "/btql/schema", params={"object_type": "project_logs", "object_id": pid}, headers=other
    )
    assert r.status_code == 404


async def test_schema_inference(ll: InProcess) -> None:
    pid = await seed(ll, "schema")
    r = await ll.client.get(
        "/btql/schema", params={"object_type": "project_logs", "object_id": pid}, headers=ll.headers
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["sampled_rows"] == 20
    meta = {p["path"]: p for p in s["fields"]["metadata"]["paths"]}
    assert meta["metadata.model"]["types"] == {"string": 20} and meta["metadata.model"]["frequency"] == 1.0
    assert meta["metadata.user.tier"]["count"] == 20
    inp = {p["path"]: p for p in s["fields"]["input"]["paths"]}
    assert set(inp) == {"input.question", "input.n"} and inp["input.n"]["types"] == {"integer": 20}
    assert s["fields"]["error"]["types"] == {"string": 1, "null": 19}
    assert "scores.quality" in {p["path"] for p in s["fields"]["scores"]["paths"]}


async def test_infer_final_stage_and_sql_pivot_over_http(ll: InProcess) -> None:
    pid = await seed(ll, "btql-new-clauses")
    r = await btql(ll, f"infer: metadata | from: project_logs('{pid}') | inference_budget: 100")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"name": "metadata.user.tier", "type": "string", "count": 20} in body["data"]
    assert set(body["schema"]["items"]["properties"]) == {"name", "type", "count"}
    r = await btql(
        ll,
        f"dimensions: metadata.model as model, metadata.user.tier as tier | measures: count(1) as n "
        f"| from: project_logs('{pid}') | final_dimensions: tier | final_measures: sum(n) as total, count(1) as models "
        "| sort: tier",
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [
        {"tier": "free", "total": 15, "models": 2},
        {"tier": "pro", "total": 5, "models": 2},
    ]
    r = await btql(
        ll,
        f"SELECT metadata.user.tier AS tier, metadata.model AS model, count(1) AS n FROM project_logs('{pid}') "
        "GROUP BY 1, 2 PIVOT(n FOR model IN (ANY)) ORDER BY tier",
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [
        {"tier": "free", "m1_n": 8, "m2_n": 7},
        {"tier": "pro", "m1_n": 2, "m2_n": 3},
    ]
    r = await btql(ll, f"infer: created | from: project_logs('{pid}')")
    assert r.status_code == 400 and r.json()["error"]["class"] == "TypeError"


async def test_parquet_format_cursor_header_and_freshness(ll: InProcess) -> None:
    import io

    import pyarrow.parquet as pq

    pid = await seed(ll, "btql-parquet")
    q = f"select: id, created, input, scores.quality as quality, metrics.tokens as tokens | from: project_logs('{pid}') | sort: id | limit: 5"
    r = await btql(ll, q, fmt="parquet")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column_names == ["id", "created", "input", "quality", "tokens"]
    assert str(table.schema.field("created").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("quality").type) == "double"
    rows = table.to_pylist()
    assert [x["id"] for x in rows] == ["r00", "r01", "r02", "r03", "r04"]
    assert orjson.loads(rows[0]["input"]) == {"question": "refund order 0", "n": 0}
    cursor = r.headers["x-bt-cursor"]
    nxt = await btql(ll, q + f" | cursor: '{cursor}'", fmt="parquet")
    assert [x["id"] for x in pq.read_table(io.BytesIO(nxt.content)).to_pylist()] == [
        "r05",
        "r06",
        "r07",
        "r08",
        "r09",
    ]
    js = (await btql(ll, q)).json()
    assert js["cursor"] == cursor
    fs = js["freshness_state"]
    assert (
        fs["last_processed_xact_id"] == fs["last_considered_xact_id"]
        and len(fs["last_processed_xact_id"]) == 19
    )
    r = await btql(ll, q, fmt="arrow")
    assert r.status_code == 400 and "parquet" in r.json()["error"]["message"]


async def _poll(ll: InProcess, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    import asyncio

    for _ in range(500):
        r = await ll.client.get(f"/btql/async/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] not in ("queued", "running"):
            return dict(r.json())
        await asyncio.sleep(0.01)
    raise AssertionError("async query did not finish in 5 s")


async def test_async_btql_follows_cursors_and_pages_results(
    ll: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopline.btql import api as btql_api
    from loopline.btql.options import Limits

    pid = await seed(ll, "btql-async")
    # pages of 6 rows (the default limit, made small): the job follows the cursor through all 20
    monkeypatch.setattr(btql_api, "_DEFAULT_LIMITS", Limits(default_limit=6))
    q = f"select: id, scores.quality as q | from: project_logs('{pid}') | sort: id"
    assert len((await btql(ll, q)).json()["data"]) == 6
    r = await ll.client.post("/btql/async", json={"query": q, "format": "jsonl"}, headers=ll.headers)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "succeeded") and job["project_id"] == pid
    done = await _poll(ll, job["id"], ll.headers)
    assert done["status"] == "succeeded" and done["row_count"] == 20
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = await ll.client.get(f"/btql/async/{job['id']}/result", params=params, headers=ll.headers)
        assert page.status_code == 200, page.text
        ids += [x["id"] for x in page.json()["rows"]]
        cursor = page.json().get("cursor")
        if cursor is None:
            break
    assert ids == [f"r{i:02d}" for i in range(20)]
    # an explicit limit is respected, not paged past
    r = await ll.client.post("/btql/async", json={"query": q + " | limit: 3"}, headers=ll.headers)
    assert (await _poll(ll, r.json()["id"], ll.headers))["row_count"] == 3
    # bad queries fail at submit time with a classified 4xx; bad result parameters too
    r = await ll.client.post(
        "/btql/async", json={"query": f"select: idd | from: project_logs('{pid}')"}, headers=ll.headers
    )
    assert r.status_code == 400 and r.json()["error"]["class"] == "BindError"
    r = await ll.client.get(f"/btql/async/{job['id']}/result", params={"cursor": "!!"}, headers=ll.headers)
    assert r.status_code == 400 and r.json()["error"]["field"] == "cursor"
    r = await ll.client.get(f"/btql/async/{job['id']}/result", params={"limit": 0}, headers=ll.headers)
    assert r.status_code == 400
    # other orgs and unknown ids get 404; cancel of a finished job leaves it succeeded
    _, key = await ll.new_org("async-other")
    other = {"Authorization": f"Bearer {key}"}
    assert (await ll.client.get(f"/btql/async/{job['id']}", headers=other)).status_code == 404
    assert (await ll.client.get("/btql/async/nope/result", headers=ll.headers)).status_code == 404
    r = await ll.client.delete(f"/btql/async/{job['id']}", headers=ll.headers)
    assert r.json()["status"] == "succeeded"


async def test_audit_log_adds_audit_data_to_star(ll: InProcess) -> None:
    pid = await seed(ll, "btql-audit")
    q = f"select: * | from: project_logs('{pid}') | filter: id = 'r01'"
    plain = (await btql(ll, q)).json()["data"][0]
    assert "audit_data" not in plain
    r = await btql(ll, q, audit_log=True)
    assert r.status_code == 200, r.text
    row = r.json()["data"][0]
    assert row["audit_data"] and row["audit_data"][0]["audit_data"]["action"] == "upsert"
    assert "audit_data" in r.json()["schema"]["items"]["properties"]
    r = await btql(ll, q, audit_log="yes")
    assert r.status_code == 400 and "audit_log" in r.json()["error"]["message"]
