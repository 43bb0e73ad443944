"""Backfill jobs and the classifier's status.

POST /v1/project/{project_id}/classifier/{id}/backfill              {"since"?, "until"?} (ISO-8601;
                                                                    default: the last 30 days)
                                                                    → a job on the current version
GET  /v1/project/{project_id}/classifier/{id}/backfill              the classifier's jobs, newest first
GET  /v1/project/{project_id}/classifier/{id}/backfill/{job_id}     one job: state and progress
POST /v1/project/{project_id}/classifier/{id}/backfill/{job_id}/cancel
GET  /v1/classifier/status[?project_id=]                            the consumer (running, lag,
                                                                    counters), the model, the settings;
                                                                    with a project: its classifiers
                                                                    and recent jobs
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from loopline.classifier.backfill import BackfillJob, BackfillRunner, BackfillStore, parse_time
from loopline.classifier.deps import Caller, ClassifierState, ControlPlaneDep
from loopline.classifier.state import State
from loopline.common.errors import Invalid, NotFound, Unavailable

PREFIX = "/v1/project/{project_id}/classifier/{classifier_id}/backfill"


async def _own_project(cp: ControlPlaneDep, org_id: str, project_id: str) -> None:
    if await cp.object_info(org_id, "project", project_id) is None:
        raise NotFound(f"no project {project_id!r}", field="project_id")


def _jobs(state: State) -> tuple[BackfillStore, BackfillRunner]:
    if state.backfills is None or state.runner is None:
        raise Unavailable("backfill is not running in this process")
    return state.backfills, state.runner


async def _job_of(state: State, org_id: str, project_id: str, classifier_id: str, job_id: str) -> BackfillJob:
    job = await _jobs(state)[0].get(org_id, project_id, job_id)
    if job.classifier_id != classifier_id:
        raise NotFound(f"no backfill job {job_id!r} of this classifier", field="job_id")
    return job


def build_job_router() -> APIRouter:
    r = APIRouter(tags=["classifier"])

    @r.post(PREFIX)
    async def create_backfill(
        project_id: str,
        classifier_id: str,
        caller: Caller,
        cp: ControlPlaneDep,
        state: ClassifierState,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        _, runner = _jobs(state)
        body = body or {}
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        unknown = set(body) - {"since", "until"}
        if unknown:
            raise Invalid(f"unknown fields {sorted(unknown)}; a backfill takes since and until", field="body")
        classifier = await state.taxonomies.get(caller.org_id, project_id, classifier_id)
        since, until = parse_time(body.get("since"), "since"), parse_time(body.get("until"), "until")
        job = await runner.create(classifier, since, until, caller.user_id)
        return job.public()

    @r.get(PREFIX)
    async def list_backfills(
        project_id: str,
        classifier_id: str,
        caller: Caller,
        cp: ControlPlaneDep,
        state: ClassifierState,
        limit: int = Query(default=20, ge=1, le=200),
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        jobs, _ = _jobs(state)
        await state.taxonomies.get(caller.org_id, project_id, classifier_id)
        found = await jobs.list(caller.org_id, project_id, classifier_id, limit)
        return {"objects": [j.public() for j in found]}

    @r.get(PREFIX + "/{job_id}")
    async def get_backfill(
        project_id: str,
        classifier_id: str,
        job_id: str,
        caller: Caller,
        cp: ControlPlaneDep,
        state: ClassifierState,
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        return (await _job_of(state, caller.org_id, project_id, classifier_id, job_id)).public()

    @r.post(PREFIX + "/{job_id}/cancel")
    async def cancel_backfill(
        project_id: str,
        classifier_id: str,
        job_id: str,
        caller: Caller,
        cp: ControlPlaneDep,
        state: ClassifierState,
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        job = await _job_of(state, caller.org_id, project_id, classifier_id, job_id)
        return (await _jobs(state)[1].cancel(job)).public()

    @r.get("/v1/classifier/status")
    async def status(
        caller: Caller,
        cp: ControlPlaneDep,
        state: ClassifierState,
        project_id: str | None = Query(default=None),
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "consumer": await _consumer_status(state),
            "model": {"loaded": state.model_loaded}
            | ({"id": state.heads().embedder.model_id} if state.model_loaded else {}),
            "settings": state.settings.model_dump(),
        }
        if project_id is not None:
            await _own_project(cp, caller.org_id, project_id)
            classifiers = await state.taxonomies.list(caller.org_id, project_id)
            jobs = await state.backfills.list(caller.org_id, project_id, limit=20) if state.backfills else []
            out["project"] = {
                "id": project_id,
                "classifiers": [
                    {
                        "id": c.id,
                        "facet": c.taxonomy.facet,
                        "version": c.version,
                        "labels": len(c.taxonomy.labels),
                    }
                    for c in classifiers
                ],
                "backfills": [j.public() for j in jobs],
            }
        return out

    return r


async def _consumer_status(state: State) -> dict[str, Any]:
    consumer = state.consumer
    if consumer is None:
        return {"running": False, "lag": None}
    c = consumer.step.counters
    return {
        "running": consumer.running,
        "lag": await consumer.lag(),
        "batches": c.batches,
        "spans_labelled": c.spans_labelled,
        "no_text": c.no_text,
        "unchanged": c.unchanged,
        "left_to_backfill": c.left_to_backfill,
        "human_labels_recorded": c.human_labels_recorded,
        "seconds": {
            "read": round(c.read_s, 3),
            "classify": round(c.classify_s, 3),
            "publish": round(c.publish_s, 3),
        },
    }
