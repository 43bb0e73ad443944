"""The classifier's improvement loop end to end, through the in-process app: logged spans → human
labels → one call to a dataset → evaluate version 1 as an experiment → retrain from the
corrections → evaluate version 2 against version 1 → per-label scores and the comparison read
through the experiment summary. Tenants see none of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import InProcess, in_process
from tests.support.classifier_logs import facet_items, log_rows, root_span

SERVICES = ("gateway", "ingest", "writer", "query", "classifier")
# version 1 knows its labels by name only: the people who route requests teach it the rest
TAXONOMY: dict[str, Any] = {
    "labels": [{"name": "refund"}, {"name": "shipping"}, {"name": "weather"}],
    "threshold": 0.0,
}
# what people asked, and what a person said it was
LABELLED = [
    ("please refund my last order", "refund"),
    ("I want my money back for the broken lamp", "refund"),
    ("can I get a refund for the shoes", "refund"),
    ("where is my parcel", "shipping"),
    ("when will my package arrive", "shipping"),
    ("my delivery is late again", "shipping"),
    ("will it rain tomorrow", "weather"),
    ("how hot will it be this weekend", "weather"),
    ("is it sunny in Lisbon today", "weather"),
    ("is the storm going to delay the truck with my order", "shipping"),
    ("snow blocked the courier, where is my box now", "shipping"),
    ("it rained on my parcel and ruined it, pay me back", "refund"),
    ("the forecast subscription charged me twice", "refund"),
    ("heatwave warning: should I expect my order late?", "shipping"),
]


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, services=SERVICES) as p:
        yield p


def span(row_id: str, pid: str, text: str) -> dict[str, Any]:
    chat = [{"role": "system", "content": "be helpful"}, {"role": "user", "content": text}]
    return root_span(row_id, pid, chat, output="ok")


async def until(check: Any, what: str, timeout_s: float = 90.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        got = await check()
        if got:
            return got
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def human_labelled(ll: InProcess, pid: str) -> int:
    return sum(1 for item in (await facet_items(ll, pid)).values() if item["source"]["type"] == "human")


async def test_labelled_spans_to_dataset_to_experiments_of_two_versions(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await ll.make_project()
    base = f"/v1/project/{pid}/classifier"
    cid = (await c.post(base, json=TAXONOMY, headers=h)).json()["id"]
    rows = [span(f"s{i}", pid, text) for i, (text, _) in enumerate(LABELLED)]
    await log_rows(ll, rows)

    async def correct_all() -> bool:
        for i, (_, label) in enumerate(LABELLED):
            r = await c.post(f"{base}/{cid}/label", json={"span_id": f"s{i}", "label": label}, headers=h)
            if r.status_code == 404:  # not committed yet
                return False
            assert r.status_code == 200, r.text
        return True

    await until(correct_all, "the spans to be committed")
    await until(lambda: _count_is(human_labelled(ll, pid), len(LABELLED)), "the human labels")

    # labelled spans → a dataset, in one call
    r = await c.post(f"{base}/{cid}/dataset", json={"name": "intent-gold"}, headers=h)
    assert r.status_code == 200, r.text
    exported = r.json()
    assert exported["records"] == len(LABELLED)
    assert exported["by_label"] == {"shipping": 6, "refund": 5, "weather": 3}
    ds = exported["dataset_id"]

    async def records() -> list[dict[str, Any]]:
        r = await c.post(f"/v1/dataset/{ds}/fetch", json={"limit": 100}, headers=h)
        events: list[dict[str, Any]] = r.json()["events"]
        return events if len(events) == len(LABELLED) else []

    got = {e["id"]: e for e in await until(records, "the dataset records")}
    assert got["s0"]["expected"] == "refund"
    assert got["s0"]["input"][-1] == {"role": "user", "content": "please refund my last order"}
    assert got["s0"]["metadata"]["span_id"] == "s0"
    assert got["s0"]["metadata"]["source"]["type"] == "human"

    # version 1 as an experiment
    r = await c.post(f"{base}/{cid}/evaluate", json={"dataset_id": ds}, headers=h)
    assert r.status_code == 200, r.text
    v1 = r.json()
    assert v1["version"] == 1 and v1["records"] == len(LABELLED)
    assert v1["accuracy"] < 1.0 and v1["confusion"], v1  # the last three trip it up
    assert (v1["trained_on"], v1["warning"]) == (0, None)  # version 1 has no examples
    assert set(v1["labels"]) >= {"refund", "shipping", "weather"}

    # retrain from the corrections → version 2
    r = await c.post(f"{base}/{cid}/retrain", json={}, headers=h)
    assert r.status_code == 200, r.text
    retrained = r.json()
    assert retrained["retrained"] and retrained["classifier"]["version"] == 2
    assert retrained["added"] == len(LABELLED) and retrained["corrections"] == len(LABELLED)
    again = (await c.post(f"{base}/{cid}/retrain", json={}, headers=h)).json()
    assert not again["retrained"] and again["already_known"] == len(LABELLED)

    r = await c.post(
        f"{base}/{cid}/evaluate",
        json={"dataset_id": ds, "experiment_name": "intent v2", "base_experiment_id": v1["experiment_id"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["accuracy"] > v1["accuracy"]
    # version 2 learned these very records: the answer says so
    assert v2["trained_on"] == len(LABELLED) and v2["exclude_training"] is False
    assert "all 14 records are examples version 2 was trained on" in v2["warning"], v2["warning"]
    # held out, nothing is left: a 400 that says why, and no experiment
    r = await c.post(f"{base}/{cid}/evaluate", json={"dataset_id": ds, "exclude_training": True}, headers=h)
    assert r.status_code == 400 and "none is left to evaluate on" in r.json()["error"]["message"], r.text
    r = await c.post(f"{base}/{cid}/evaluate", json={"dataset_id": ds, "exclude_training": 1}, headers=h)
    assert r.status_code == 400 and "exclude_training" in r.text
    # two records it has not seen: held out, only they are scored, and the answer says what was left out
    unseen = [
        {"id": f"new-{i}", "input": span("x", pid, text)["input"], "expected": label}
        for i, (text, label) in enumerate(
            (("refund the jacket I sent back", "refund"), ("snow in Oslo?", "weather"))
        )
    ]
    assert (await c.post(f"/v1/dataset/{ds}/insert", json={"events": unseen}, headers=h)).status_code == 200
    r = await c.post(f"{base}/{cid}/evaluate", json={"dataset_id": ds, "exclude_training": True}, headers=h)
    assert r.status_code == 200, r.text
    held = r.json()
    assert (held["records"], held["trained_on"], held["skipped"]) == (2, len(LABELLED), {"trained_on": 14})
    assert "14 of 16 records are examples version 2 was trained on; they were left out" in held["warning"]

    # the experiment comparison that exists compares them, per label
    async def summary() -> dict[str, Any]:
        r = await c.get(
            f"/v1/experiment/{v2['experiment_id']}/summarize",
            params={"comparison_experiment_id": v1["experiment_id"]},
            headers=h,
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body if "accuracy" in body["scores"] else {}

    s = await until(summary, "the experiment summary")
    assert s["comparison_experiment_name"] == v1["experiment_name"]
    assert s["scores"]["accuracy"]["score"] == pytest.approx(v2["accuracy"])
    assert s["scores"]["accuracy"]["diff"] == pytest.approx(v2["accuracy"] - v1["accuracy"])
    assert s["scores"]["accuracy"]["improvements"] >= 1
    for label, m in v2["labels"].items():
        if m["recall"] is not None:
            assert s["scores"][f"recall/{label}"]["score"] == pytest.approx(m["recall"])
        if m["precision"] is not None:
            assert s["scores"][f"precision/{label}"]["score"] == pytest.approx(m["precision"])

    # the rows are those of an SDK Eval: root eval span, task and score children
    q = f"select: span_attributes.type as t, output | from: experiment('{v1['experiment_id']}')"
    r = await c.post("/btql", json={"query": q}, headers=h)
    kinds = sorted({row["t"] for row in r.json()["data"]})
    assert kinds == ["eval", "score", "task"]

    # another org sees none of it
    _, other_key = await ll.new_org("clf-loop-other")
    oh = {"Authorization": f"Bearer {other_key}"}
    for verb, body in (("dataset", {}), ("retrain", {}), ("evaluate", {"dataset_id": ds})):
        assert (await c.post(f"{base}/{cid}/{verb}", json=body, headers=oh)).status_code == 404, verb
    their_pid = await ll.make_project(org_id=_)
    theirs = (await c.post(f"/v1/project/{their_pid}/classifier", json=TAXONOMY, headers=oh)).json()["id"]
    r = await c.post(
        f"/v1/project/{their_pid}/classifier/{theirs}/evaluate", json={"dataset_id": ds}, headers=oh
    )
    assert r.status_code == 404, r.text  # our dataset is not theirs
    exported_theirs = await c.post(
        f"/v1/project/{their_pid}/classifier/{theirs}/dataset", json={}, headers=oh
    )
    assert exported_theirs.json()["records"] == 0  # our spans are not in their project

    # bad input is a 400 naming the field
    for verb, body, field in (
        ("evaluate", {}, "dataset_id"),
        ("evaluate", {"dataset_id": ds, "version": 0}, "version"),
        ("dataset", {"sources": ["robot"]}, "sources"),
        ("dataset", {"name": "x", "dataset_id": ds}, "name"),
        ("retrain", {"corrections": False}, "dataset_id"),
    ):
        r = await c.post(f"{base}/{cid}/{verb}", json=body, headers=h)
        assert r.status_code == 400 and field in r.text, (verb, r.text)


async def _count_is(count: Any, want: int) -> bool:
    return bool(await count == want)
