"""`/v1/project/{project_id}/classifier`: a project's classifiers (taxonomies) and a preview.

    POST   /v1/project/{project_id}/classifier                      create (version 1)
    GET    /v1/project/{project_id}/classifier                      list (current versions)
    GET    /v1/project/{project_id}/classifier/{id}[?version=N]     one, or one of its versions
    PATCH  /v1/project/{project_id}/classifier/{id}                 change → a new version
    DELETE /v1/project/{project_id}/classifier/{id}
    POST   /v1/project/{project_id}/classifier/{id}/classify        {"texts": [...]} or {"spans": [...]}
                                                                    → labels, without writing anything

The project must be the caller's (another org's project is "not found").
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query
from loopline.classifier.classify import HeadCache
from loopline.classifier.deps import Caller, ClassifierState, ControlPlaneDep, Taxonomies
from loopline.classifier.head import DEFAULT_FAST_THRESHOLD, decide
from loopline.classifier.taxonomy import Classifier
from loopline.classifier.text import clean_text, extract_text
from loopline.common.errors import Invalid, NotFound
from loopline.common.service import ServiceContext

MAX_PREVIEW = 100
PREFIX = "/v1/project/{project_id}/classifier"


async def _own_project(cp: ControlPlaneDep, org_id: str, project_id: str) -> None:
    if await cp.object_info(org_id, "project", project_id) is None:
        raise NotFound(f"no project {project_id!r}", field="project_id")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _preview(classifier: Classifier, heads: HeadCache, body: dict[str, Any]) -> list[dict[str, Any]]:
    texts_in, spans = body.get("texts"), body.get("spans")
    if (texts_in is None) == (spans is None):
        raise Invalid("give texts (an array of strings) or spans (an array of span objects)", field="texts")
    items = texts_in if texts_in is not None else spans
    if not isinstance(items, list) or not items or len(items) > MAX_PREVIEW:
        raise Invalid(f"give 1 to {MAX_PREVIEW} items", field="texts" if texts_in is not None else "spans")
    texts: list[str | None] = []
    for i, item in enumerate(items):
        if texts_in is not None:
            if not isinstance(item, str):
                raise Invalid("texts must be strings", field=f"texts[{i}]")
            texts.append(clean_text(item))
        else:
            if not isinstance(item, dict):
                raise Invalid("spans must be objects", field=f"spans[{i}]")
            texts.append(extract_text(item, classifier.taxonomy.text_path))
    usable = [t for t in texts if t is not None]
    if not classifier.taxonomy.labels:
        raise Invalid("this classifier has no labels yet", field="labels")
    head = heads.head_for(classifier)
    predictions = iter(head.predict(usable, DEFAULT_FAST_THRESHOLD))
    out: list[dict[str, Any]] = []
    for text in texts:
        if text is None:
            out.append({"text": None, "label": None, "confidence": None})
            continue
        label, confidence = decide(next(predictions), classifier.taxonomy.threshold)
        out.append({"text": text, "label": label, "confidence": round(confidence, 4)})
    return out


def build_router(ctx: ServiceContext) -> APIRouter:
    r = APIRouter(tags=["classifier"])

    @r.post(PREFIX)
    async def create(
        project_id: str, body: dict[str, Any], caller: Caller, cp: ControlPlaneDep, taxonomies: Taxonomies
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        return (await taxonomies.create(caller.org_id, project_id, _object(body), caller.user_id)).public()

    @r.get(PREFIX)
    async def list_classifiers(
        project_id: str, caller: Caller, cp: ControlPlaneDep, taxonomies: Taxonomies
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        return {"objects": [c.public() for c in await taxonomies.list(caller.org_id, project_id)]}

    @r.get(PREFIX + "/{classifier_id}")
    async def get(
        project_id: str,
        classifier_id: str,
        caller: Caller,
        cp: ControlPlaneDep,
        taxonomies: Taxonomies,
        version: int | None = Query(default=None, ge=1),
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        return (await taxonomies.get(caller.org_id, project_id, classifier_id, version)).public()

    @r.patch(PREFIX + "/{classifier_id}")
    async def update(
        project_id: str,
        classifier_id: str,
        body: dict[str, Any],
        caller: Caller,
        cp: ControlPlaneDep,
        taxonomies: Taxonomies,
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        changed = await taxonomies.update(
            caller.org_id, project_id, classifier_id, _object(body), caller.user_id
        )
        return changed.public()

    @r.delete(PREFIX + "/{classifier_id}")
    async def delete(
        project_id: str, classifier_id: str, caller: Caller, cp: ControlPlaneDep, taxonomies: Taxonomies
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        return (await taxonomies.delete(caller.org_id, project_id, classifier_id, caller.user_id)).public()

    @r.post(PREFIX + "/{classifier_id}/classify")
    async def classify(
        project_id: str,
        classifier_id: str,
        body: dict[str, Any],
        caller: Caller,
        cp: ControlPlaneDep,
        state: ClassifierState,
    ) -> dict[str, Any]:
        await _own_project(cp, caller.org_id, project_id)
        classifier = await state.taxonomies.get(caller.org_id, project_id, classifier_id)
        heads = await asyncio.to_thread(state.heads)  # loads the model on first use
        results = await asyncio.to_thread(_preview, classifier, heads, _object(body))
        return {
            "classifier_id": classifier.id,
            "version": classifier.version,
            "facet": classifier.taxonomy.facet,
            "results": results,
        }

    return r
