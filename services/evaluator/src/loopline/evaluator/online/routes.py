"""`/v1/project_score`: project scores and online-scoring rules in Braintrust's shape (spec §6.1).

    POST   /v1/project_score                     create; an existing score of that name is returned as is
    PUT    /v1/project_score                     create or replace (by project and name)
    GET    /v1/project_score                     list: project_id, project_score_name, score_type, ids,
                                                 limit, starting_after, ending_before
    GET    /v1/project_score/{id}                one
    PATCH  /v1/project_score/{id}                change (config.online fields merge over the current ones)
    DELETE /v1/project_score/{id}                delete (returns the deleted score)
    GET    /v1/project_score/{id}/status         an online rule's state, lag and counters
    POST   /v1/project_score/test                "test rule": an unsaved rule body (or project_score_id)
                                                 run over the newest matching spans, nothing written
    POST   /v1/project_score/{id}/test           the same for a saved rule
    POST   /v1/project_score/{id}/backfill       "score past logs": a job over spans already logged
                                                 (since, until, max_spans, respect_sampling)
    GET    /v1/project_score/{id}/backfill       the rule's jobs
    GET    /v1/project_score/{id}/backfill/{job} one job's state and progress
    POST   /v1/project_score/{id}/backfill/{job}/cancel

Everything is scoped by the caller's org; another org's project or score is "not found".
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from loopline.common.deps import Caller, ControlPlaneDep
from loopline.common.errors import Invalid, NotFound
from loopline.common.service import ServiceContext
from loopline.evaluator.deps import Online
from loopline.evaluator.online.config import OnlineConfig, parse_body
from loopline.evaluator.online.preview import DEFAULT_LIMIT, MAX_LIMIT, preview
from loopline.evaluator.online.scoring import OnlineScoring

PREFIX = "/v1/project_score"


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


async def _project(cp: ControlPlaneDep, org_id: str, body: dict[str, Any]) -> str:
    pid = body.get("project_id")
    if not isinstance(pid, str) or not pid:
        raise Invalid("project_id is required", field="project_id")
    if await cp.object_info(org_id, "project", pid) is None:
        raise NotFound(f"no project {pid!r}", field="project_id")
    return pid


def _limit(body: dict[str, Any], default: int, most: int) -> int:
    n = body.get("limit", default)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= most:
        raise Invalid(f"limit must be a whole number from 1 to {most}", field="limit")
    return n


async def _rule_to_test(
    online: OnlineScoring, cp: ControlPlaneDep, org_id: str, body: dict[str, Any], score_id: str | None
) -> tuple[str, OnlineConfig]:
    """(project id, config) of a saved rule (by id) or of an unsaved rule body, validated as a
    save would validate it."""
    score_id = score_id or body.get("project_score_id")
    if score_id is not None:
        if not isinstance(score_id, str):
            raise Invalid("project_score_id must be a string", field="project_score_id")
        rule = await online.rules.get(org_id, score_id)
        if rule.online is None:
            raise Invalid(f"project score {score_id!r} is not an online rule", field="project_score_id")
        return rule.project_id, rule.online
    pid = await _project(cp, org_id, body)
    parsed = parse_body({"name": "test", **body, "score_type": "online"}, pid)
    await online.rules.check_scorers(org_id, parsed)
    assert parsed.online is not None
    return pid, parsed.online


def build_online_router(ctx: ServiceContext) -> APIRouter:
    r = APIRouter(tags=["online scoring"])

    @r.post(PREFIX)
    async def create(
        body: dict[str, Any], caller: Caller, cp: ControlPlaneDep, online: Online
    ) -> dict[str, Any]:
        pid = await _project(cp, caller.org_id, _object(body))
        return (await online.rules.create(caller.org_id, pid, body, caller.user_id, replace=False)).public()

    @r.put(PREFIX)
    async def replace(
        body: dict[str, Any], caller: Caller, cp: ControlPlaneDep, online: Online
    ) -> dict[str, Any]:
        pid = await _project(cp, caller.org_id, _object(body))
        return (await online.rules.create(caller.org_id, pid, body, caller.user_id, replace=True)).public()

    @r.post(PREFIX + "/test")
    async def test_unsaved(
        body: dict[str, Any], caller: Caller, cp: ControlPlaneDep, online: Online
    ) -> dict[str, Any]:
        body = _object(body)
        pid, cfg = await _rule_to_test(online, cp, caller.org_id, body, None)
        return await preview(online.engine, caller.org_id, pid, cfg, _limit(body, DEFAULT_LIMIT, MAX_LIMIT))

    @r.post(PREFIX + "/{project_score_id}/test")
    async def test_saved(
        project_score_id: str,
        caller: Caller,
        cp: ControlPlaneDep,
        online: Online,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = _object(body or {})
        pid, cfg = await _rule_to_test(online, cp, caller.org_id, body, project_score_id)
        out = await preview(online.engine, caller.org_id, pid, cfg, _limit(body, DEFAULT_LIMIT, MAX_LIMIT))
        return {"project_score_id": project_score_id, **out}

    @r.post(PREFIX + "/{project_score_id}/backfill")
    async def backfill(
        project_score_id: str, caller: Caller, online: Online, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if not online.enabled:
            raise Invalid("online scoring is not enabled in this deployment", field="project_score_id")
        rule = await online.rules.get(caller.org_id, project_score_id)
        job = await online.backfills.create(rule, _object(body or {}), caller.user_id)
        return await online.backfills.status(job)

    @r.get(PREFIX + "/{project_score_id}/backfill")
    async def backfills(project_score_id: str, caller: Caller, online: Online) -> dict[str, Any]:
        rule = await online.rules.get(caller.org_id, project_score_id)
        return {"objects": [j.public() for j in await online.backfills.for_rule(caller.org_id, rule.id)]}

    @r.get(PREFIX + "/{project_score_id}/backfill/{backfill_id}")
    async def backfill_status(
        project_score_id: str, backfill_id: str, caller: Caller, online: Online
    ) -> dict[str, Any]:
        job = await online.backfills.get(caller.org_id, project_score_id, backfill_id)
        return await online.backfills.status(job)

    @r.post(PREFIX + "/{project_score_id}/backfill/{backfill_id}/cancel")
    async def backfill_cancel(
        project_score_id: str, backfill_id: str, caller: Caller, online: Online
    ) -> dict[str, Any]:
        job = await online.backfills.get(caller.org_id, project_score_id, backfill_id)
        if job.state == "running":
            await online.backfills.cancel(job)
        return {**(await online.backfills.status(job)), "cancel_requested": job.state == "running"}

    @r.get(PREFIX)
    async def list_scores(
        caller: Caller,
        online: Online,
        project_id: str | None = None,
        project_score_name: str | None = None,
        score_type: list[str] = Query(default=[]),
        ids: list[str] = Query(default=[]),
        limit: int | None = Query(default=None, ge=1, le=1000),
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> dict[str, Any]:
        found = await online.rules.find(
            caller.org_id,
            project_id=project_id,
            name=project_score_name,
            score_types=tuple(score_type),
            ids=tuple(ids),
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
        )
        return {"objects": [s.public() for s in found]}

    @r.get(PREFIX + "/{project_score_id}")
    async def get(project_score_id: str, caller: Caller, online: Online) -> dict[str, Any]:
        return (await online.rules.get(caller.org_id, project_score_id)).public()

    @r.patch(PREFIX + "/{project_score_id}")
    async def update(
        project_score_id: str, body: dict[str, Any], caller: Caller, online: Online
    ) -> dict[str, Any]:
        return (await online.rules.update(caller.org_id, project_score_id, _object(body))).public()

    @r.delete(PREFIX + "/{project_score_id}")
    async def delete(project_score_id: str, caller: Caller, online: Online) -> dict[str, Any]:
        return (await online.rules.delete(caller.org_id, project_score_id)).public()

    @r.get(PREFIX + "/{project_score_id}/status")
    async def status(project_score_id: str, caller: Caller, online: Online) -> dict[str, Any]:
        rule = await online.rules.get(caller.org_id, project_score_id)
        out = await online.engine.status(rule)
        out["scoring_enabled"] = online.enabled
        return out

    return r
