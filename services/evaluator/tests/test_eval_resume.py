"""A resumed eval job (in-process app, the scripted LLM): a cell whose first run was cut off
after writing more `llm` rows than its rerun makes ends with exactly the rerun's rows — the
excess rows are deleted by their deterministic ids — and the cells already written are not run
again."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from loopline.common.messages import eval_jobs
from loopline.evaluator.evals.cell_rows import cell_ids, llm_row_id
from loopline.evaluator.evals.job_store import now
from loopline.evaluator.evals.parent import cell_seed
from loopline.evaluator.state import State

from tests.support.app import ALL, InProcess, in_process
from tests.support.llm_server import ScriptedLLM
from tests.test_server_evals import PROMPT_TASK, QUESTIONS, fetch, model, org_with_model


@pytest.fixture
async def app(chdb_dsn: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path, (*ALL, "evaluator"), evals={"progress_interval_s": 0.05}) as a:
        yield a


async def test_a_resumed_cell_keeps_only_the_llm_rows_of_its_last_run(
    app: InProcess, scripted_llm: ScriptedLLM
) -> None:
    pid = await org_with_model(app, scripted_llm)
    scripted_llm.respond_with(model(wrong=set()))
    rows = [{"input": {"question": q}, "expected": a} for q, a in QUESTIONS.items()]
    body = {
        "project_id": pid,
        "data": {"data": rows},
        "task": PROMPT_TASK,
        "scores": [{"global_function": "ExactMatch"}],
    }
    r = await app.client.post("/v1/eval", json=body, headers=app.headers)
    assert r.status_code == 200, r.text
    evals = app.app.state.services.get(State).evals
    assert evals is not None and evals.runner is not None
    rec = await evals.jobs.get(app.org_id, r.headers["x-loopline-eval-job-id"])
    assert rec is not None and rec.status == "succeeded"
    # the job as redelivered has a second trial whose cells are not written yet (its first run
    # was killed): cell #0's first run had made three model calls (a tool loop), written
    # before the kill, two more than its rerun makes
    job = eval_jobs.decode(rec.job.encode()).model_copy(update={"trial_count": 2})
    exp = job.experiment_id
    ids = cell_ids(cell_seed(job), "#0", 1, 1)
    extra = [
        {
            "id": llm_row_id(ids.task, i),
            "span_id": f"extra-{i}",
            "root_span_id": ids.trace,
            "span_parents": [ids.task_span],
            "span_attributes": {"name": "Chat Completion", "type": "llm"},
            "metrics": {"prompt_tokens": 100},
        }
        for i in (1, 2)
    ]
    r = await app.client.post(f"/v1/experiment/{exp}/insert", json={"events": extra}, headers=app.headers)
    assert r.status_code == 200, r.text
    assert len(await fetch(app, exp)) == 4 * 4 + 2
    calls = len(scripted_llm.requests)
    # the job is redelivered to a worker after its owner died (a stale lease)
    await evals.jobs.save(
        dataclasses.replace(rec, status="running", owner="dead", heartbeat=now() - timedelta(hours=1))
    )
    await evals.runner.run(job)
    after = await evals.jobs.get(app.org_id, rec.id)
    assert after is not None and (after.status, after.done, after.total) == ("succeeded", 8, 8)
    assert len(scripted_llm.requests) == calls + 4  # only the unfinished cells ran
    fetched = await fetch(app, exp)
    kinds = Counter(x["span_attributes"]["type"] for x in fetched)
    assert kinds == {"eval": 8, "task": 8, "llm": 8, "score": 8}, kinds
    assert not {x["id"] for x in extra} & {x["id"] for x in fetched}
    assert len({x["id"] for x in fetched}) == len(fetched)
