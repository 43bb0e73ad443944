"""`/v1/eval` with a `parent` (in-process app, the scripted LLM as the provider): like the SDK's
`Eval(parent=…)`, no experiment is created and the cells fill the object or span the parent
names — an experiment span given as an object, the project's logs given as the SDK's span export
string — with the parent's propagated event on every row; the answer is the SDK's local summary.
Bad or foreign parents are 400 / 404 naming `parent`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from braintrust.span_identifier_v3 import SpanObjectTypeV3
from braintrust.span_identifier_v4 import SpanComponentsV4
from loopline.common.messages import eval_jobs
from loopline.evaluator.state import State

from tests.support.app import ALL, InProcess, in_process
from tests.support.llm_server import Reply, ScriptedLLM
from tests.test_server_evals import PROMPT_TASK, QUESTIONS, fetch, model, org_with_model, sse

ROWS = [{"input": {"question": q}, "expected": a} for q, a in QUESTIONS.items()]


@pytest.fixture
async def app(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, (*ALL, "evaluator"), evals={"progress_interval_s": 0.05}) as a:
        yield a


def body(pid: str, parent: Any, **more: Any) -> dict[str, Any]:
    return {
        "project_id": pid,
        "data": {"data": ROWS},
        "task": PROMPT_TASK,
        "scores": [{"global_function": "ExactMatch"}],
        "parent": parent,
        **more,
    }


async def experiments(app: InProcess, pid: str) -> list[str]:
    r = await app.client.get(f"/v1/experiment?project_id={pid}", headers=app.headers)
    return [str(x["id"]) for x in r.json()["objects"]]


async def test_an_eval_fills_the_parent_span_of_an_experiment(
    app: InProcess, scripted_llm: ScriptedLLM
) -> None:
    pid = await org_with_model(app, scripted_llm)
    exp = (
        await app.client.post(
            "/v1/experiment", json={"project_id": pid, "name": "traced"}, headers=app.headers
        )
    ).json()["id"]
    parent_row = {
        "id": "run-1",
        "span_id": "span-run-1",
        "root_span_id": "trace-run-1",
        "input": "nightly run",
    }
    r = await app.client.post(
        f"/v1/experiment/{exp}/insert", json={"events": [parent_row]}, headers=app.headers
    )
    assert r.status_code == 200, r.text
    scripted_llm.respond_with(model(wrong={"3*3"}))
    parent = {
        "object_type": "experiment",
        "object_id": exp,
        "row_ids": {"id": "run-1", "span_id": "span-run-1", "root_span_id": "trace-run-1"},
        "propagated_event": {"metadata": {"run": "nightly"}},
    }
    r = await app.client.post(
        "/v1/eval", json=body(pid, parent, experiment_name="ignored"), headers=app.headers
    )
    assert r.status_code == 200, r.text
    summary = r.json()
    # the SDK's local summary: each score's mean over the cells, no experiment, no metrics
    assert summary["experiment_name"] is None and summary["project_name"] == "evals"
    assert summary["scores"]["ExactMatch"]["score"] == pytest.approx(0.75) and summary["metrics"] == {}
    assert await experiments(app, pid) == [exp]  # no experiment was created
    job = (
        await app.client.get(f"/v1/eval/{r.headers['x-loopline-eval-job-id']}", headers=app.headers)
    ).json()
    assert job["experiment_id"] == exp and (job["status"], job["done"]) == ("succeeded", 4)

    rows = await fetch(app, exp)
    cells = [x for x in rows if x["id"] != "run-1"]
    roots = [x for x in cells if x["span_attributes"]["type"] == "eval"]
    assert len(roots) == 4 and len(cells) == 4 * 4  # root, task, its llm call, the score
    assert all(x["span_parents"] == ["span-run-1"] for x in roots)  # children of the parent span
    assert {x["root_span_id"] for x in cells} == {"trace-run-1"}  # all in the parent's trace
    assert all(x["metadata"]["run"] == "nightly" for x in cells)  # the propagated event
    assert sorted(x["output"] for x in roots) == sorted(["3", "3", "4", "90"])
    # a redelivered job finds its cells done (roots under the parent span), so it adds nothing
    evals = app.app.state.services.get(State).evals
    rec = await evals.jobs.get(app.org_id, job["id"])
    done = await evals.launcher.data.written_roots(eval_jobs.decode(rec.job.encode()))
    assert done >= {x["id"] for x in roots}

    # a second eval under the same parent writes rows of its own
    scripted_llm.respond_with(model(wrong=set()))
    r = await app.client.post("/v1/eval", json=body(pid, parent), headers=app.headers)
    assert r.status_code == 200 and r.json()["scores"]["ExactMatch"]["score"] == pytest.approx(1.0), r.text
    assert len([x for x in await fetch(app, exp) if x["id"] != "run-1"]) == 2 * 4 * 4


async def test_an_eval_fills_the_project_logs_of_an_sdk_span_export(
    app: InProcess, scripted_llm: ScriptedLLM
) -> None:
    pid = await org_with_model(app, scripted_llm)
    scripted_llm.respond_with(model(wrong=set()))
    span_id, trace = uuid.uuid4().hex[:16], uuid.uuid4().hex
    exported = SpanComponentsV4(  # what the SDK's logger span.export() gives: the project by name
        object_type=SpanObjectTypeV3.PROJECT_LOGS,
        compute_object_metadata_args={"project_name": "evals", "project_id": None},
        row_id="req-1",
        span_id=span_id,
        root_span_id=trace,
    ).to_str()
    r = await app.client.post("/v1/eval", json=body(pid, exported, stream=True), headers=app.headers)
    assert r.status_code == 200, r.text
    events = sse(r.text)
    start, summary = events[0][1], events[-2][1]
    assert (
        start["parent"] == {"object_type": "project_logs", "object_id": pid}
        and start["experiment_id"] is None
    )
    assert summary["scores"]["ExactMatch"]["score"] == pytest.approx(1.0)
    assert await experiments(app, pid) == []
    r = await app.client.post(f"/v1/project_logs/{pid}/fetch", json={"limit": 100}, headers=app.headers)
    logged = r.json()["events"]
    assert len(logged) == 4 * 4 and {x["root_span_id"] for x in logged} == {trace}
    assert [x["span_parents"] for x in logged if x["span_attributes"]["type"] == "eval"] == [[span_id]] * 4

    # an object without row_ids: the cells are root spans of the project's logs
    r = await app.client.post(
        "/v1/eval", json=body(pid, {"object_type": "project_logs", "object_id": pid}), headers=app.headers
    )
    assert r.status_code == 200, r.text
    r = await app.client.post(f"/v1/project_logs/{pid}/fetch", json={"limit": 100}, headers=app.headers)
    roots = [x for x in r.json()["events"] if not x.get("span_parents")]
    assert len(roots) == 4 and all(x["span_attributes"]["type"] == "eval" for x in roots)


async def test_bad_or_foreign_parents_are_clear_4xx(app: InProcess, scripted_llm: ScriptedLLM) -> None:
    pid = await org_with_model(app, scripted_llm)
    org_b, _ = await app.new_org("org-b")
    foreign = await app.make_object("experiments", await app.make_project(org_b), org_b)
    scripted_llm.respond_with(lambda req: Reply("x"))
    for parent, status, needle in (
        ("not an export!", 400, "parent: not a span export string"),
        ({"object_type": "dataset", "object_id": "d"}, 400, "parent: object_type"),
        (
            {"object_type": "playground_logs", "object_id": "x"},
            400,
            "playground_logs parents are not supported",
        ),
        ({"object_type": "experiment", "object_id": str(uuid.uuid4())}, 404, "does not exist"),
        ({"object_type": "experiment", "object_id": foreign}, 404, "does not exist"),
        (7, 400, "parent"),
    ):
        r = await app.client.post("/v1/eval", json=body(pid, parent), headers=app.headers)
        assert r.status_code == status, (parent, r.text)
        assert needle in r.json()["error"]["message"], (parent, r.text)
    assert (await app.client.get("/v1/eval", headers=app.headers)).json() == {"objects": []}
    assert scripted_llm.requests == []
