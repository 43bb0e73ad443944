"""`/metrics`: every process serves the closed set of Loopline metric names, unauthenticated, and
the values move with the traffic (HTTP requests by route template, a written batch, BTQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from loopline.common.bus import OutMessage
from loopline.common.metrics import NAMES
from loopline.common.metrics import PATH as METRICS_PATH
from loopline.common.progress import WRITER_GROUP
from loopline.common.settings import load_settings
from loopline.common.topics import ROWS
from prometheus_client.parser import text_string_to_metric_families

from loopline.runtime.app import build_app, build_context
from tests.support.app import InProcess, in_process

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path) as p:
        yield p


async def scrape(ll: InProcess) -> tuple[set[str], Samples, str]:
    r = await ll.client.get("/metrics")  # no API key: the gateway lets /metrics through
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    names: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        names.add(family.name + ("_total" if family.type == "counter" else ""))
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return names, samples, r.text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_lists_the_closed_set_and_moves_with_traffic(ll: InProcess) -> None:
    names, before, _ = await scrape(ll)
    assert names == set(NAMES)

    pid = await ll.make_project()
    body = orjson.dumps({"rows": [{"id": "m1", "project_id": pid, "log_id": "g", "input": "hi"}]})
    assert (await ll.client.post("/logs3", content=body, headers=ll.headers)).status_code == 200
    await ll.ctx.bus.publish(ROWS, [OutMessage(f"{ll.org_id}/project_logs/g/x".encode(), b"not a row")])
    r = await ll.client.post(
        "/btql", json={"query": f"select: id | from: project_logs('{pid}')"}, headers=ll.headers
    )
    assert r.status_code == 200, r.text
    r = await ll.client.post(f"/v1/project_logs/{pid}/fetch", json={"limit": 10}, headers=ll.headers)
    assert r.status_code == 200 and [e["id"] for e in r.json()["events"]] == ["m1"]  # written

    _, after, text = await scrape(ll)
    moved = {
        "http /logs3": value(
            after, "loopline_http_requests_total", method="POST", route="/logs3", status="200"
        )
        - value(before, "loopline_http_requests_total", method="POST", route="/logs3", status="200"),
        "publish rows": value(after, "loopline_bus_publish_seconds_count", topic=ROWS, outcome="ok")
        - value(before, "loopline_bus_publish_seconds_count", topic=ROWS, outcome="ok"),
        "btql compile": value(after, "loopline_btql_compile_seconds_count")
        - value(before, "loopline_btql_compile_seconds_count"),
        "btql run": value(after, "loopline_btql_run_seconds_count")
        - value(before, "loopline_btql_run_seconds_count"),
        "dead letters": value(after, "loopline_dead_letters_total", pipeline="writer")
        - value(before, "loopline_dead_letters_total", pipeline="writer"),
    }
    for step in ("decode", "group", "load_bases", "merge", "insert", "announce"):
        key = "loopline_pipeline_step_seconds_count"
        moved[f"step {step}"] = value(after, key, pipeline="writer", step=step) - value(
            before, key, pipeline="writer", step=step
        )
    assert all(v >= 1 for v in moved.values()), moved
    assert (("group", WRITER_GROUP), ("topic", ROWS)) in {
        labels for (n, labels) in after if n == "loopline_consumer_lag"
    }
    # routes are templates, never raw paths: the project id is in no label
    fetch_route = "/v1/{object_type}/{object_id}/fetch"
    assert value(after, "loopline_http_requests_total", method="POST", route=fetch_route, status="200") >= 1
    assert pid not in text


async def test_every_process_serves_metrics(tmp_path: Path) -> None:
    """Any set of services (`loopline serve a,b`) answers /metrics, without an API key."""
    for services in (("gateway",), ("ingest",), ("writer",), ("query",), ("ingest", "writer")):
        s = load_settings(data_dir=tmp_path / "-".join(services), store_dsn=f"chdb://{tmp_path / 'ch'}")
        app = build_app(build_context(s, services))  # no lifespan: /metrics needs no started service
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://x") as client:
            r = await client.get(METRICS_PATH)
        assert r.status_code == 200 and "# TYPE loopline_consumer_lag gauge" in r.text, services
