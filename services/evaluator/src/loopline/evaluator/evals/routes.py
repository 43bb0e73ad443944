"""Routes of server-side evals.

* `POST /v1/eval` (spec §5.1): launch. Without `stream`, answers the experiment's summary (the
  object of `GET /v1/experiment/{id}/summarize`) once the job is done; with `stream: true`, SSE:
  `start` (job and experiment ids, names, URLs), `progress` (`{job_id, status, done, total,
  errored}` whenever it changes), then `summary` and `done` — or `error` and `done` when the job
  failed or was cancelled; a `: keepalive` comment line every 15 s without news. The job id is
  also in the `x-loopline-eval-job-id` header. In distributed mode the gateway forwards a
  non-stream launch without a read timeout (`slow_routes`): it answers when the eval is done.
* `GET /v1/eval` (`project_id`, `status`, `limit`), `GET /v1/eval/{id}`: jobs and their progress.
* `GET /v1/eval/{id}/events`: the SSE progress of a job (from any process), ending like a
  launch's stream.
* `POST /v1/eval/{id}/cancel`: cancel; answers the job (its status becomes `cancelled` once the
  worker running it stopped, at once for a job that is still queued).

Jobs are the caller's org's only: another org's job id answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from loopline.common.auth import Principal
from loopline.common.deps import Caller, ControlPlaneDep
from loopline.common.errors import NotFound, ServiceError
from loopline.common.http import JSONResponse
from loopline.common.messages import eval_jobs
from loopline.common.progress import wait_for_writer
from loopline.common.service import service_state
from loopline.common.service_calls import ServiceCalls
from loopline.evaluator.evals.job_store import JobRecord, now
from loopline.evaluator.evals.launch import summarize, summarize_under_parent
from loopline.evaluator.evals.parent import EvalParent
from loopline.evaluator.evals.request import parse_run_eval
from loopline.evaluator.evals.state import EvalsState
from loopline.evaluator.state import State

JOB_HEADER = "x-loopline-eval-job-id"
#: a stream without news for this long gets a comment line, so no proxy cuts it as idle
KEEPALIVE_S = 15.0
_POLL_S = (0.05, 0.1, 0.2, 0.25)  # job-row polling: quick at first, then every 250 ms


async def _evals(request: Request) -> EvalsState:
    evals = service_state(request, State).evals
    if evals is None:
        raise ServiceError(503, "server-side evals are not started in this process")
    return evals


Evals = Annotated[EvalsState, Depends(_evals)]


def _calls(evals: EvalsState) -> ServiceCalls:
    if evals.calls is None:
        raise ServiceError(
            503,
            "server-side evals need the gateway: run it in this process or name its URL in LOOPLINE_SERVICE_URLS",
        )
    return evals.calls


def _sse(event: str, data: Any) -> bytes:
    payload = "" if data is None else orjson.dumps(data).decode()
    return f"event: {event}\ndata: {payload}\n\n".encode()


def _urls(p: Principal, head: dict[str, Any]) -> dict[str, str | None]:
    """The web app's pages of the project and the experiment (paths on this server), as far as
    the summary does not name them."""
    project, exp = head.get("project_name"), head.get("experiment_name")
    if not (p.org_name and project):
        return {"project_url": head.get("project_url"), "experiment_url": head.get("experiment_url")}
    base = f"/app/{quote(p.org_name, safe='')}/p/{quote(str(project), safe='')}"
    return {
        "project_url": head.get("project_url") or base,
        "experiment_url": head.get("experiment_url")
        or f"{base}/experiments/{quote(str(exp or ''), safe='')}",
    }


def _progress(rec: JobRecord) -> dict[str, Any]:
    return {
        "job_id": rec.id,
        "status": rec.status,
        "done": rec.done,
        "total": rec.total,
        "errored": rec.errored,
    }


async def _job(evals: EvalsState, p: Principal, job_id: str) -> JobRecord:
    rec = await evals.jobs.get(p.org_id, job_id)
    if rec is None:
        raise NotFound(f"eval job {job_id!r} does not exist", field="id")
    return rec


async def _follow(
    evals: EvalsState, p: Principal, rec: JobRecord, keepalive_s: float | None = None
) -> AsyncIterator[JobRecord | None]:
    """The job's record each time its progress changes, until it is terminal (the last one);
    with `keepalive_s`, None after that long without a change (a stream's keepalive). Polled;
    when the job runs in this process, its end wakes the poll at once."""
    seen: tuple[Any, ...] = ()
    ended = evals.runner.ended(p.org_id, rec.id) if evals.runner is not None else asyncio.Event()
    i = 0
    quiet_since = time.monotonic()
    while True:
        state = (rec.status, rec.done, rec.total, rec.errored)
        if state != seen:
            seen = state
            quiet_since = time.monotonic()
            yield rec
        elif keepalive_s is not None and time.monotonic() - quiet_since >= keepalive_s:
            quiet_since = time.monotonic()
            yield None
        if rec.terminal:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), _POLL_S[min(i, len(_POLL_S) - 1)])
        ended.clear()  # an interrupted run (not terminal) must not make this loop spin
        i += 1
        rec = await _job(evals, p, rec.id)


async def _until_done(evals: EvalsState, p: Principal, rec: JobRecord) -> JobRecord:
    async for last in _follow(evals, p, rec):
        rec = last or rec
    return rec


def _failure(rec: JobRecord) -> str:
    if rec.status == "cancelled":
        return f"eval job {rec.id} was cancelled after {rec.done} of {rec.total} cells"
    return f"eval job {rec.id} failed: {rec.error or 'unknown error'}"


async def _final(evals: EvalsState, calls: ServiceCalls, p: Principal, rec: JobRecord) -> dict[str, Any]:
    job = eval_jobs.decode(rec.job.encode())
    if EvalParent.of_job(job) is not None:
        # read from the store directly: first every row the job published must be stored
        await wait_for_writer(evals.launcher.bus, evals.settings.writer_wait_s)
        return await summarize_under_parent(calls, evals.launcher.data, p, job)
    return await summarize(calls, p, rec.experiment_id, comparison_id=_base_of(rec))


def _base_of(rec: JobRecord) -> str | None:
    try:
        base = orjson.loads(rec.job).get("base_experiment_id")
    except orjson.JSONDecodeError:
        return None
    return str(base) if base else None


async def _stream(
    evals: EvalsState, calls: ServiceCalls, p: Principal, rec: JobRecord, start: dict[str, Any] | None
) -> AsyncIterator[bytes]:
    if start is not None:
        yield _sse("start", start)
    last = rec
    async for changed in _follow(evals, p, rec, KEEPALIVE_S):
        if changed is None:  # an SSE comment: clients skip it, proxies see the stream is alive
            yield b": keepalive\n\n"
            continue
        last = changed
        yield _sse("progress", _progress(last))
    if last.status == "succeeded":
        try:
            yield _sse("summary", await _final(evals, calls, p, last))
        except ServiceError as exc:
            yield _sse("error", f"the summary could not be read: {exc.message}")
    else:
        yield _sse("error", _failure(last))
    yield _sse("done", None)


def build_eval_router() -> APIRouter:
    r = APIRouter(tags=["eval"])

    @r.post("/v1/eval")
    async def run_eval(request: Request, p: Caller, evals: Evals, control: ControlPlaneDep) -> Any:
        body = parse_run_eval(await request.body())
        calls = _calls(evals)
        launched = await evals.launcher.launch(p, body, control, calls)
        rec = launched.record
        headers = {JOB_HEADER: rec.id}
        if body.stream:
            parent = EvalParent.of_job(launched.job)
            if parent is None:
                head = await summarize(calls, p, rec.experiment_id, scores=False)
            else:  # no experiment of its own: where its rows go
                head = {"parent": {"object_type": parent.object_type, "object_id": parent.object_id}}
            start = {
                "job_id": rec.id,
                "project_id": rec.project_id,
                "project_name": head.get("project_name"),
                "experiment_id": rec.experiment_id if parent is None else None,
                "experiment_name": head.get("experiment_name") or rec.experiment_name or None,
                **(_urls(p, head) if parent is None else {"parent": head["parent"]}),
                "total": rec.total,
            }
            return StreamingResponse(
                _stream(evals, calls, p, rec, start), media_type="text/event-stream", headers=headers
            )
        rec = await _until_done(evals, p, rec)
        if rec.status != "succeeded":
            raise ServiceError(409 if rec.status == "cancelled" else 422, _failure(rec), job_id=rec.id)
        return JSONResponse(await _final(evals, calls, p, rec), headers=headers)

    @r.get("/v1/eval")
    async def list_jobs(
        p: Caller,
        evals: Evals,
        project_id: str | None = None,
        status: str | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        found = await evals.jobs.list(p.org_id, project_id=project_id, status=status, limit=limit)
        return {"objects": [j.public() for j in found]}

    @r.get("/v1/eval/{job_id}")
    async def get_job(job_id: str, p: Caller, evals: Evals) -> dict[str, Any]:
        return (await _job(evals, p, job_id)).public()

    @r.get("/v1/eval/{job_id}/events")
    async def job_events(job_id: str, p: Caller, evals: Evals) -> StreamingResponse:
        rec = await _job(evals, p, job_id)
        calls = _calls(evals)
        return StreamingResponse(_stream(evals, calls, p, rec, None), media_type="text/event-stream")

    @r.post("/v1/eval/{job_id}/cancel")
    async def cancel_job(job_id: str, p: Caller, evals: Evals) -> dict[str, Any]:
        rec = await _job(evals, p, job_id)
        if rec.terminal:
            return rec.public()
        await evals.jobs.request_cancel(p.org_id, job_id, p.user_id)
        if evals.runner is not None:
            evals.runner.cancel_here(p.org_id, job_id)
        if rec.status == "queued":  # no worker holds it yet: cancelled now (a worker skips it)
            rec = replace(rec, status="cancelled", finished=now())
            await evals.jobs.save(rec)
        return replace(rec, cancel_requested=True).public()

    return r
