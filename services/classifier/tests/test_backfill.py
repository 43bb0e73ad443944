"""Backfill: old spans get the current version's label exactly once, through the API and after a
crash between publishing a page and recording it; human labels stay; cancel; clear 400s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from loopline.classifier.backfill import BackfillJob, BackfillRunner, BackfillStore, RootSpans
from loopline.classifier.pipeline import publish_labels
from loopline.classifier.settings import ClassifierSettings
from loopline.classifier.state import State
from loopline.common.progress import wait_for_writer

from tests.support.app import InProcess, in_process
from tests.support.classifier_logs import facet_items, log_rows, root_span

SERVICES = ("gateway", "ingest", "writer", "query", "classifier")
TAXONOMY: dict[str, Any] = {
    "labels": [
        {"name": "refund", "description": "wants money back", "examples": ["I want a refund", "money back"]},
        {"name": "card_lost", "description": "lost or stolen card", "examples": ["I lost my card"]},
        {"name": "weather", "description": "weather forecast questions", "examples": ["will it rain"]},
    ],
    "threshold": 0.0,
}
TEXTS = ("please refund my order", "my card was stolen", "is it sunny tomorrow", "refund me now")


@pytest.fixture
async def ll(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(
        chdb_dsn,
        tmp_path,
        services=SERVICES,
        classifier={"backfill_page_size": 3, "backfill_poll_s": 0.2, "default_threshold": 0.05},
    ) as p:
        yield p


def span(row_id: str, pid: str, text: str) -> dict[str, Any]:
    return root_span(row_id, pid, [{"role": "user", "content": text}])


async def old_spans(ll: InProcess, n: int) -> tuple[str, list[str]]:
    """A project with `n` root spans logged before it had a classifier (so none is labelled)."""
    pid = await ll.make_project()
    ids = [f"s{i:03d}" for i in range(n)]
    await log_rows(ll, [span(i, pid, TEXTS[k % len(TEXTS)]) for k, i in enumerate(ids)])
    state = ll.app.state.services.get(State)
    await wait_for_writer(state.bus, 60)
    return pid, ids


async def wait_job(ll: InProcess, url: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        r = await ll.client.get(url, headers=ll.headers)
        assert r.status_code == 200, r.text
        if r.json()["state"] not in ("queued", "running"):
            return dict(r.json())
        assert asyncio.get_running_loop().time() < deadline, r.json()
        await asyncio.sleep(0.2)


async def test_backfill_job_labels_old_spans_once_and_keeps_human_labels(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid, ids = await old_spans(ll, 10)
    created = await c.post(f"/v1/project/{pid}/classifier", json=TAXONOMY, headers=h)
    cid = created.json()["id"]
    # a person labelled one span before the backfill: it stays
    human = {"Intent": [{"id": "weather", "label": "weather", "source": {"type": "human", "id": "u"}}]}
    await log_rows(
        ll, [{"id": ids[0], "project_id": pid, "log_id": "g", "_is_merge": True, "classifications": human}]
    )
    await wait_for_writer(ll.app.state.services.get(State).bus, 60)
    base = f"/v1/project/{pid}/classifier/{cid}/backfill"
    r = await c.post(base, json={}, headers=h)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["state"] == "queued" and job["version"] == 1
    done = await wait_job(ll, f"{base}/{job['id']}")
    assert done["state"] == "done" and done["progress"] == 1.0 and done["total"] == 10, done
    assert (done["scanned"], done["labelled"], done["unchanged"]) == (10, 9, 1)
    await wait_for_writer(ll.app.state.services.get(State).bus, 60)
    got = await facet_items(ll, pid)
    assert set(got) == set(ids)
    assert got[ids[0]]["source"]["type"] == "human" and got[ids[0]]["label"] == "weather"
    assert {got[i]["source"]["version"] for i in ids[1:]} == {"1"}
    assert got[ids[1]]["label"] == "card_lost" and got[ids[3]]["label"] == "refund"
    xacts = {
        e["id"]: e["_xact_id"]
        for e in (await c.post(f"/v1/project_logs/{pid}/fetch", json={}, headers=h)).json()["events"]
    }

    # the same range again: nothing new is written
    again = await wait_job(ll, f"{base}/{(await c.post(base, json={}, headers=h)).json()['id']}")
    assert (again["state"], again["labelled"], again["unchanged"]) == ("done", 0, 10)
    after = {
        e["id"]: e["_xact_id"]
        for e in (await c.post(f"/v1/project_logs/{pid}/fetch", json={}, headers=h)).json()["events"]
    }
    assert after == xacts

    listed = (await c.get(base, headers=h)).json()["objects"]
    assert [j["id"] for j in listed] == [again["id"], done["id"]]
    status = (await c.get("/v1/classifier/status", params={"project_id": pid}, headers=h)).json()
    assert status["consumer"]["running"] is True and status["consumer"]["lag"] is not None
    assert status["project"]["classifiers"][0]["id"] == cid and len(status["project"]["backfills"]) == 2
    assert status["settings"]["backfill_page_size"] == 3


async def test_backfill_validation_and_cancel(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid, _ = await old_spans(ll, 4)
    cid = (await c.post(f"/v1/project/{pid}/classifier", json=TAXONOMY, headers=h)).json()["id"]
    base = f"/v1/project/{pid}/classifier/{cid}/backfill"
    for body, field in (
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "since"),
        ({"since": 5}, "since"),
        ({"from": "2026-12-01T00:00:00Z"}, "body"),
    ):
        r = await c.post(base, json=body, headers=h)
        assert r.status_code == 400, (body, r.text)
        assert field in r.text, r.text
    assert (
        await c.post(f"/v1/project/{pid}/classifier/nope/backfill", json={}, headers=h)
    ).status_code == 404
    assert (await c.get(f"{base}/no-such-job", headers=h)).status_code == 404
    empty = (
        await c.post(f"/v1/project/{pid}/classifier", json={"facet": "Topic", "labels": []}, headers=h)
    ).json()
    assert empty["threshold"] == 0.05  # ClassifierSettings.default_threshold
    r = await c.post(f"/v1/project/{pid}/classifier/{empty['id']}/backfill", json={}, headers=h)
    assert r.status_code == 400 and "no labels" in r.text

    # a job cancelled before it runs stays cancelled (the runner is stopped so it cannot finish first)
    state = ll.app.state.services.get(State)
    assert state.runner is not None
    await state.runner.stop()
    job = (await c.post(base, json={}, headers=h)).json()
    r = await c.post(f"{base}/{job['id']}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    ran = await state.runner.run(await _stored(state, pid, job["id"]))
    assert ran.state == "cancelled" and ran.scanned == 0
    assert (await c.get(f"{base}/{job['id']}", headers=h)).json()["state"] == "cancelled"
    # another org sees nothing
    _, other_key = await ll.new_org("other")
    other = {"Authorization": f"Bearer {other_key}"}
    assert (await c.get(f"{base}/{job['id']}", headers=other)).status_code == 404


async def _stored(state: State, pid: str, job_id: str) -> BackfillJob:
    assert state.backfills is not None
    job = await state.backfills.get((await _org(state, pid)), pid, job_id)
    return job


async def _org(state: State, pid: str) -> str:
    rows = await state.taxonomies.store.query_dicts(
        state.taxonomies.store.sql(
            "SELECT org_id FROM {db}.classifiers WHERE project_id = {p:String} LIMIT 1"
        ),
        {"p": pid},
    )
    return str(rows[0]["org_id"])


class CrashAfterPublish(BackfillStore):
    """Records progress until the `n`th page, then "crashes" after that page was published."""

    def __init__(self, inner: BackfillStore, n: int) -> None:
        super().__init__(inner.store)
        self.n = n
        self.pages = 0

    async def write(self, job: BackfillJob) -> BackfillJob:
        if job.state == "running" and job.cursor:
            self.pages += 1
            if self.pages == self.n:
                raise RuntimeError("crash between publish and record")
        return await super().write(job)


async def test_backfill_resumes_after_a_crash_and_labels_each_span_once(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid, ids = await old_spans(ll, 11)
    cid = (await c.post(f"/v1/project/{pid}/classifier", json=TAXONOMY, headers=h)).json()["id"]
    state = ll.app.state.services.get(State)
    assert state.runner is not None and state.backfills is not None
    await state.runner.stop()  # this process's own runner takes no part
    published: list[str] = []

    async def publish(org_id: str, project_id: str, object_id: str, writes: Sequence[dict[str, Any]]) -> None:
        published.extend(w["id"] for w in writes)
        await publish_labels(state.bus, state.xact, org_id, project_id, object_id, writes)

    async def caught_up() -> None:
        await wait_for_writer(state.bus, 60)

    settings = ClassifierSettings(backfill_page_size=3, backfill_lease_s=0.3)

    def runner(jobs: BackfillStore) -> BackfillRunner:
        return BackfillRunner(
            jobs, RootSpans(jobs.store), state.taxonomies, state.heads, publish, settings, caught_up
        )

    first = runner(CrashAfterPublish(state.backfills, 2))
    classifier = await state.taxonomies.get(ll.org_id, pid, cid)
    job = await first.create(classifier, None, None)
    with pytest.raises(RuntimeError, match="crash"):
        await first.run(job)
    assert len(published) == 6  # two pages went out; only the first was recorded
    stored = await state.backfills.get(ll.org_id, pid, job.id)
    assert stored.state == "running" and stored.scanned == 3 and stored.cursor

    second = runner(state.backfills)
    assert not [j for j in await second.jobs.claimable(second.owner, 60) if j.id == job.id]  # owner alive
    await asyncio.sleep(0.4)
    [claimed] = [
        j for j in await second.jobs.claimable(second.owner, settings.backfill_lease_s) if j.id == job.id
    ]
    done = await second.run(replace(claimed))
    assert done.state == "done" and done.scanned == 11 - 3 + 3  # the unrecorded page is read again
    assert sorted(published) == sorted(ids) and len(published) == len(set(published))  # exactly once
    await wait_for_writer(state.bus, 60)
    got = await facet_items(ll, pid)
    assert set(got) == set(ids) and {v["source"]["version"] for v in got.values()} == {"1"}
