"""Server-side evals, part by part: the request's validation, the rows a cell writes and their
deterministic ids, and the job table (status, progress, cancellation, org scoping)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import orjson
import pytest
from loopline.common.errors import Invalid, ServiceError
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.common.store import Store, apply_migrations
from loopline.evaluator.evals import tables as eval_tables
from loopline.evaluator.evals.cell_rows import (
    DataRow,
    ScoreResult,
    TaskResult,
    Timed,
    cell_ids,
    cell_rows,
    llm_row_id,
    stale_llm_deletes,
)
from loopline.evaluator.evals.extra_messages import MessagesError, messages_at, parse_path
from loopline.evaluator.evals.job_store import JobRecord, JobStore, now
from loopline.evaluator.evals.request import data_version, function_ref, parse_run_eval
from loopline.evaluator.runtime.prompts import ModelCall, template_variables
from loopline.providers import Usage


def test_function_references_in_every_invoke_shape() -> None:
    assert function_ref({"function_id": "f1", "version": "7"}, "task") == FunctionRef(
        function_id="f1", version="7"
    )
    assert function_ref({"project_name": "p", "slug": "s"}, "task").slug == "s"
    assert function_ref({"global_function": "Levenshtein"}, "scores.0").global_function == "Levenshtein"
    code = function_ref({"inline_context": {"runtime": "python", "version": "3.12"}, "code": "x"}, "task")
    assert code.inline_code == "x" and code.inline_runtime == {"runtime": "python", "version": "3.12"}
    wrapped = function_ref({"name": "Is Polite", "function_id": {"function_id": "f9"}}, "scores.1")
    assert wrapped == FunctionRef(function_id="f9", name="Is Polite")
    prompt = function_ref({"inline_prompt": {"prompt": {"type": "chat", "messages": []}}}, "task")
    assert prompt.inline_prompt is not None


@pytest.mark.parametrize(
    ("value", "field", "needle"),
    [
        ("Levenshtein", "scores.0", "must be a function reference object"),
        ({}, "scores.0", "exactly one selector"),
        ({"function_id": "a", "global_function": "b"}, "scores.0", "exactly one selector"),
        ({"slug": "s"}, "scores.0", "both project_name and slug"),
        ({"inline_function": {"x": 1}}, "scores.0.inline_function", "not supported"),
        ({"function_id": "a", "bogus": 1}, "scores.0.bogus", "'scores.0.bogus'"),
    ],
)
def test_bad_function_references_name_the_field(value: object, field: str, needle: str) -> None:
    with pytest.raises(Invalid, match=needle) as e:
        function_ref(value, "scores.0")
    assert e.value.where["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[]", None),
        (b"{", None),
        (b'{"data": {}, "task": {}, "scores": []}', "project_id"),
        (b'{"project_id": "p", "data": {}, "task": {}, "scores": []}', "scores"),
        (b'{"project_id": "p", "data": {}, "task": {}, "scores": [{}], "trial_count": 0}', "trial_count"),
        (
            b'{"project_id": "p", "data": {}, "task": {}, "scores": [{}], "max_concurrency": 0}',
            "max_concurrency",
        ),
        (b'{"project_id": "p", "data": {}, "task": {}, "scores": [{}], "timeout": -1}', "timeout"),
        (b'{"project_id": "p", "data": [], "task": {}, "scores": [{}]}', "data"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(body: bytes, field: str | None) -> None:
    with pytest.raises(ServiceError) as e:
        parse_run_eval(body)
    assert e.value.status == 400
    if field is not None:
        assert e.value.where["field"] == field and field in e.value.message


def test_body_defaults_and_versions() -> None:
    b = parse_run_eval(b'{"project_id": "p", "data": {"data": []}, "task": {}, "scores": [{}], "extra": 1}')
    assert b.max_concurrency == 10 and b.trial_count is None and not b.stream
    unlimited = parse_run_eval(
        b'{"project_id": "p", "data": {"data": []}, "task": {}, "scores": [{}], "max_concurrency": null}'
    )
    assert unlimited.max_concurrency is None
    assert (
        data_version(None, "v") is None and data_version("1000192656880881099", "v") == "1000192656880881099"
    )
    for bad in ("abc", -1):
        with pytest.raises(Invalid):
            data_version(bad, "data.dataset_version")


def test_cell_ids_are_deterministic_and_distinct() -> None:
    a = cell_ids("exp1", "row1", 0, 3)
    assert a == cell_ids("exp1", "row1", 0, 3)
    others = [cell_ids("exp2", "row1", 0, 3), cell_ids("exp1", "row2", 0, 3), cell_ids("exp1", "row1", 1, 3)]
    seen = set(a.all_row_ids)
    assert len(seen) == 5
    for o in others:
        assert not seen & set(o.all_row_ids)
        seen |= set(o.all_row_ids)
    assert len(a.root_span) == 16 and len(a.trace) == 32 and len(a.task_span) == 16
    uuid.UUID(a.root)


def test_cell_rows_have_the_sdk_eval_shape() -> None:
    ids = cell_ids("exp", "r1", 0, 2)
    row = DataRow(
        "r1", {"q": "2+2"}, "4", {"src": "t"}, ["math"], "r1", {"object_type": "dataset", "id": "r1"}
    )
    t = Timed(100.0, 101.0)
    scores = [
        ScoreResult("Levenshtein", {"Levenshtein": 0.5}, {"score": 0.5}, {}, t),
        ScoreResult("judge", {"judge": None}, None, {}, t, error="provider down"),
    ]
    call = ModelCall(
        "gpt-4o-mini",
        "openai",
        [{"role": "user", "content": "2+2"}],
        {"model": "gpt-4o-mini", "temperature": 0},
        100.2,
        100.7,
        [{"index": 0, "message": {"role": "assistant", "content": "5"}, "finish_reason": None}],
        Usage(prompt_tokens=5, completion_tokens=2, cost_usd=0.001),
    )
    rows = cell_rows(ids, row, TaskResult("5", t, calls=(call,)), list(scores), t)
    root, task, llm, s1, s2 = rows
    assert root["span_attributes"] == {"name": "eval", "type": "eval"} and root["span_parents"] is None
    assert root["input"] == {"q": "2+2"} and root["expected"] == "4" and root["output"] == "5"
    assert root["origin"] == {"object_type": "dataset", "id": "r1"} and root["tags"] == ["math"]
    assert root["metadata"] == {"src": "t", "scorer_errors": {"judge": "provider down"}}
    assert task["span_attributes"] == {"name": "task", "type": "task"}
    assert task["span_parents"] == [ids.root_span] and task["metrics"] == {"start": 100.0, "end": 101.0}
    # the model call, as the SDK's wrap_openai logs it, under the task span
    assert llm["span_attributes"] == {"name": "Chat Completion", "type": "llm"}
    assert llm["span_parents"] == [ids.task_span] and llm["input"] == [{"role": "user", "content": "2+2"}]
    assert llm["output"][0]["message"]["content"] == "5"
    assert llm["metadata"] == {"model": "gpt-4o-mini", "provider": "openai", "temperature": 0}
    assert llm["metrics"] == {
        "start": 100.2,
        "end": 100.7,
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "tokens": 7,
        "estimated_cost": 0.001,
    }
    again = cell_rows(ids, row, TaskResult("5", t, calls=(call,)), list(scores), t)
    assert [r["id"] for r in again] == [r["id"] for r in rows] and again[2]["span_id"] == llm["span_id"]
    assert len({r["id"] for r in rows}) == len(rows) == 5 and uuid.UUID(llm["id"])
    assert s1["span_attributes"] == {"name": "Levenshtein", "type": "score", "purpose": "scorer"}
    assert s1["scores"] == {"Levenshtein": 0.5} and s1["input"]["output"] == "5" and s1["input"]["id"] == "r1"
    assert s2["error"] == "provider down" and s2["scores"] == {"judge": None}
    assert {r["root_span_id"] for r in rows} == {ids.trace}
    failed = cell_rows(ids, row, TaskResult(None, t, error="boom"), [None, None], t)
    assert [r["id"] for r in failed] == [ids.root, ids.task] and failed[0]["error"] == "boom"


def _call(answer: str, start: float = 100.2) -> ModelCall:
    return ModelCall(
        "gpt-4o-mini",
        "openai",
        [{"role": "user", "content": "judge"}],
        {"model": "gpt-4o-mini"},
        start,
        start + 0.3,
        [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        Usage(prompt_tokens=11, completion_tokens=4, cost_usd=0.002),
    )


def test_scorer_model_calls_are_llm_spans_of_the_score_span() -> None:
    ids = cell_ids("exp", "r1", 0, 2)
    t = Timed(100.0, 101.0)
    judge = ScoreResult("Factuality", {"Factuality": 1.0}, {"score": 1.0}, {}, t, calls=(_call("A"),))
    heur = ScoreResult("Levenshtein", {"Levenshtein": 0.5}, {"score": 0.5}, {}, t)
    rows = cell_rows(ids, DataRow("r1", "q"), TaskResult("a", t), [judge, heur], t)
    names = [(r["span_attributes"]["name"], r["span_parents"]) for r in rows]
    (sid, sspan), (sid2, _) = ids.scores
    assert names == [
        ("eval", None),
        ("task", [ids.root_span]),
        ("Factuality", [ids.root_span]),
        ("Chat Completion", [sspan]),
        ("Levenshtein", [ids.root_span]),
    ]
    llm = rows[3]
    assert llm["id"] == llm_row_id(sid, 0) and llm["root_span_id"] == ids.trace
    assert llm["metrics"]["prompt_tokens"] == 11 and llm["metrics"]["estimated_cost"] == 0.002
    assert llm["output"][0]["message"]["content"] == "A"
    assert len({r["id"] for r in rows}) == len(rows) and llm_row_id(sid, 0) != llm_row_id(sid2, 0)


def test_a_resumed_cell_deletes_the_llm_rows_its_first_run_wrote_in_excess() -> None:
    ids = cell_ids("exp", "r1", 0, 1)
    t = Timed(100.0, 101.0)
    sid = ids.scores[0][0]
    # the first run: a tool loop of three model calls, a judge of one
    first = cell_rows(
        ids,
        DataRow("r1", "q"),
        TaskResult("a", t, calls=(_call("1"), _call("2"), _call("3"))),
        [ScoreResult("judge", {"judge": 1.0}, None, {}, t, calls=(_call("Y"),))],
        t,
    )
    stored = frozenset(r["id"] for r in first if r["span_attributes"]["type"] == "llm") | {"another-llm-row"}
    assert len(stored) == 5
    # the rerun: one call, the judge fails before calling
    again = cell_rows(
        ids,
        DataRow("r1", "q"),
        TaskResult("a", t, calls=(_call("1"),)),
        [ScoreResult("judge", {"judge": None}, None, {}, t, error="down")],
        t,
    )
    deletes = stale_llm_deletes(ids, again, stored)
    assert deletes == [
        {"id": llm_row_id(ids.task, 1), "_object_delete": True},
        {"id": llm_row_id(ids.task, 2), "_object_delete": True},
        {"id": llm_row_id(sid, 0), "_object_delete": True},
    ]
    # what stays stored is exactly what the rerun wrote
    kept = (stored - {d["id"] for d in deletes} - {"another-llm-row"}) | {r["id"] for r in again}
    assert kept == {r["id"] for r in again}
    assert stale_llm_deletes(ids, first, stored) == [] and stale_llm_deletes(ids, again, frozenset()) == []


@pytest.fixture
async def eval_store(store: Store) -> Store:
    await apply_migrations(store, eval_tables.MIGRATIONS)
    return store


def _record(org: str, job_id: str, **kw: object) -> JobRecord:
    base = JobRecord(
        org_id=org,
        id=job_id,
        project_id="p1",
        experiment_id="e1",
        experiment_name="exp",
        status="queued",
        job=orjson.dumps({"job_id": job_id}).decode(),
        created=now(),
        total=10,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


async def test_job_store_progress_cancel_and_org_scope(eval_store: Store) -> None:
    jobs = JobStore(eval_store)
    await jobs.save(_record("org-a", "j1"))
    await jobs.save(_record("org-a", "j2", project_id="p2"))
    got = await jobs.get("org-a", "j1")
    assert got is not None and got.status == "queued" and got.total == 10 and not got.cancel_requested
    await jobs.save(replace(got, status="running", done=4, errored=1, errors=("row 3: boom",)))
    got = await jobs.get("org-a", "j1")
    assert got is not None and (got.status, got.done, got.errors) == ("running", 4, ("row 3: boom",))
    assert await jobs.get("org-b", "j1") is None  # another org's job does not exist for it
    assert await jobs.list("org-b") == []
    assert {j.id for j in await jobs.list("org-a")} == {"j1", "j2"}
    assert [j.id for j in await jobs.list("org-a", project_id="p2")] == ["j2"]
    assert [j.id for j in await jobs.list("org-a", status="running")] == ["j1"]
    await jobs.request_cancel("org-b", "j1", "intruder")  # scoped: does not touch org-a's job
    assert not await jobs.cancel_requested("org-a", "j1")
    await jobs.request_cancel("org-a", "j1", "u1")
    assert await jobs.cancel_requested("org-a", "j1")
    got = await jobs.get("org-a", "j1")
    assert got is not None and got.cancel_requested and got.public()["cancel_requested"] is True
    pub = got.public()
    assert (
        pub["status"] == "running"
        and pub["done"] == 4
        and pub["total"] == 10
        and pub["object_type"] == "eval_job"
    )


def test_extra_messages_paths() -> None:
    assert parse_path("input.messages") == ("input", "messages")
    assert parse_path("{{ input.turns.0 }}") == ("input", "turns", "0")
    for bad in ("", "input..messages", "0.messages", "input messages", 7, "x" * 300):
        with pytest.raises(Invalid) as err:
            parse_path(bad)
        assert err.value.where == {"field": "extra_messages"} and "'extra_messages' must" in err.value.message
    hi = {"role": "user", "content": "hi"}
    variables = {"input": {"messages": [hi], "turns": [{"messages": [hi, hi]}], "one": hi, "text": "x"}}
    assert messages_at("input.messages", variables) == [hi]
    assert messages_at("input.turns.0.messages", variables) == [hi, hi]
    assert messages_at("input.one", variables) == [hi]  # one message object: a list of one
    assert messages_at("input.missing", variables) == []
    with pytest.raises(MessagesError, match="no such value"):
        messages_at("input.missing", variables, strict=True)
    with pytest.raises(MessagesError, match="list of message objects"):
        messages_at("input.text", variables)
    with pytest.raises(MessagesError, match="list of message objects"):
        messages_at("input.turns", variables)  # objects, but not messages


def test_parameters_are_template_variables_below_the_rows_own() -> None:
    v = template_variables({"q": "2+2", "style": "row"}, {"m": 1}, "4", {"style": "terse", "lang": "fr"})
    assert v["parameters"] == {"style": "terse", "lang": "fr"} and v["lang"] == "fr"
    assert v["style"] == "row" and v["q"] == "2+2" and v["expected"] == "4"  # the row wins a clash
    assert "parameters" not in template_variables("x", None, None)


def test_run_eval_fields_are_validated_naming_them() -> None:
    for body, field in (
        ({"parameters": [1]}, "parameters"),
        ({"extra_messages": ["input.messages"]}, "extra_messages"),
        ({"stop_token": 3}, "stop_token"),
        ({"strict": "maybe"}, "strict"),
    ):
        base = {"project_id": "p", "data": {"data": []}, "task": {}, "scores": [{}]}
        with pytest.raises(ServiceError) as err:
            parse_run_eval(orjson.dumps({**base, **body}))
        assert err.value.status == 400 and f"'{field}'" in err.value.message, err.value.message
