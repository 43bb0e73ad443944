"""Labels stream onto logged traces: /logs3 → writer → rows.committed → classifier → merge rows,
visible through fetch and BTQL; a human label survives the model; a new version relabels new spans."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.app import InProcess, in_process

SERVICES = ("gateway", "ingest", "writer", "query", "classifier")
BODY: dict[str, Any] = {
    "labels": [
        {
            "name": "refund",
            "description": "wants money back",
            "examples": ["I want a refund", "money back please"],
        },
        {
            "name": "card_lost",
            "description": "lost or stolen card",
            "examples": ["I lost my card", "my card was stolen"],
        },
        {"name": "weather", "description": "weather forecast questions"},
    ],
    "threshold": 0.0,
}


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=SERVICES) as p:
        yield p


def span(row_id: str, pid: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "span_id": row_id,
        "root_span_id": row_id,
        "project_id": pid,
        "log_id": "g",
        "input": [{"role": "system", "content": "be helpful"}, {"role": "user", "content": text}],
        **extra,
    }


async def log(ll: InProcess, rows: list[dict[str, Any]]) -> None:
    r = await ll.client.post("/logs3", content=orjson.dumps({"rows": rows}), headers=ll.headers)
    assert r.status_code == 200, r.text


async def intents(
    ll: InProcess, pid: str, want: set[str], timeout_s: float = 90.0
) -> dict[str, dict[str, Any]]:
    """Row id → its Intent item, once every row in `want` has one (bounded wait)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        r = await ll.client.post(f"/v1/project_logs/{pid}/fetch", json={"limit": 100}, headers=ll.headers)
        assert r.status_code == 200, r.text
        got = {
            e["id"]: e["classifications"]["Intent"][0]
            for e in r.json()["events"]
            if (e.get("classifications") or {}).get("Intent")
        }
        if want <= got.keys() or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.3)


async def test_labels_stream_onto_logs_and_filter_in_btql(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    created = await c.post(f"/v1/project/{pid}/classifier", json=BODY, headers=h)
    assert created.status_code == 200, created.text
    cid = created.json()["id"]
    child = {**span("c1", pid, "refund"), "span_id": "c1", "root_span_id": "r1", "span_parents": ["r1"]}
    await log(
        ll,
        [
            span("r1", pid, "please refund my last order"),
            span("r2", pid, "somebody stole my card"),
            span("r3", pid, "will it rain tomorrow?"),
            {**span("r4", pid, ""), "input": ""},
            child,
        ],
    )
    got = await intents(ll, pid, {"r1", "r2", "r3"})
    assert {k: v["label"] for k, v in got.items()} == {"r1": "refund", "r2": "card_lost", "r3": "weather"}
    assert got["r1"]["source"] == {"type": "model", "id": cid, "version": "1"}

    q = f"select: id | from: project_logs('{pid}') | filter: classifications.Intent[0].label = 'refund'"
    r = await c.post("/btql", json={"query": q}, headers=h)
    assert r.status_code == 200, r.text
    assert [row["id"] for row in r.json()["data"]] == ["r1"]

    # a person corrects r2; the model never overwrites it
    human = {"Intent": [{"id": "weather", "label": "weather", "source": {"type": "human", "id": "u1"}}]}
    await log(
        ll, [{"id": "r2", "project_id": pid, "log_id": "g", "_is_merge": True, "classifications": human}]
    )
    # a new taxonomy version labels new spans at once
    patched = await c.patch(f"/v1/project/{pid}/classifier/{cid}", json={"threshold": 0.01}, headers=h)
    assert patched.json()["version"] == 2
    # a later merge brings r1 back to the consumer: it keeps version 1's label (backfill relabels)
    await log(ll, [{"id": "r1", "project_id": pid, "log_id": "g", "_is_merge": True, "tags": ["seen"]}])
    # a span created before the classifier existed is left to backfill, however late it is read
    await log(
        ll,
        [
            span("r0", pid, "I want my money back", created="2020-01-01T00:00:00Z"),
            span("r5", pid, "I lost my card at the station"),
        ],
    )
    got = await intents(ll, pid, {"r5"})  # the notices before r5's were handled before it
    assert got["r5"]["source"]["version"] == "2"
    assert got["r2"]["label"] == "weather" and got["r2"]["source"]["type"] == "human"
    assert got["r1"]["source"]["version"] == "1"  # old spans keep their label until asked
    assert "r4" not in got and "c1" not in got and "r0" not in got  # no text; not a root; too old
    # the human label logged through /logs3 is kept as a correction (retrain learns from it)
    store = ll.ctx.require_store()
    kept = await store.query_dicts(
        store.sql(
            "SELECT row_id, label, classifier_id, text FROM {db}.classifier_corrections FINAL "
            "WHERE project_id = {p:String}"
        ),
        {"p": pid},
    )
    assert kept == [
        {"row_id": "r2", "label": "weather", "classifier_id": cid, "text": "somebody stole my card"}
    ]
    consumer = (await c.get("/v1/classifier/status", headers=h)).json()["consumer"]
    assert consumer["left_to_backfill"] >= 2 and consumer["human_labels_recorded"] == 1, consumer

    # a correction through the API is a human label too
    url = f"/v1/project/{pid}/classifier/{cid}/label"
    fixed = await c.post(url, json={"span_id": "r3", "label": "refund"}, headers=h)
    assert fixed.status_code == 200, fixed.text
    for bad, status in (
        ({"span_id": "r3", "label": "nope"}, 400),
        ({"label": "refund"}, 400),
        ({"span_id": "no-such-span", "label": "refund"}, 404),
    ):
        assert (await c.post(url, json=bad, headers=h)).status_code == status, bad
    deadline = asyncio.get_running_loop().time() + 60
    while (await intents(ll, pid, {"r3"}))["r3"]["source"]["type"] != "human":
        assert asyncio.get_running_loop().time() < deadline, "the correction never became visible"
        await asyncio.sleep(0.3)
    assert (await intents(ll, pid, {"r3"}))["r3"]["label"] == "refund"

    metrics = (await c.get("/metrics")).text  # spans without text are counted, not errors
    for outcome in ("labelled", "no_text", "unchanged"):
        [line] = [
            x
            for x in metrics.splitlines()
            if x.startswith(f'loopline_classifier_spans_total{{outcome="{outcome}"}}')
        ]
        assert float(line.split()[-1]) >= 1, line
