"""`/v1/project/{project_id}/classifier`: a project's classifiers (taxonomies) and a preview.

    POST   /v1/project/{project_id}/classifier                      create (version 1)
    GET    /v1/project/{project_id}/classifier                      list (current versions)
    GET    /v1/project/{project_id}/classifier/{id}[?version=N]     one, or one of its versions
    PATCH  /v1/project/{project_id}/classifier/{id}                 change → a new version
    DELETE /v1/project/{project_id}/classifier/{id}
    POST   /v1/project/{project_id}/classifier/{id}/classify        {"texts": [...]} or {"spans": [...]}
                                                                    → labels, without writing anything
    POST   /v1/project/{project_id}/classifier/{id}/label           {"span_id": row id, "label": name}
                                                                    → a human label on a logged span

The project must be the caller's (another org's project is "not found").
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query
from loopline.classifier.classify import HeadCache
from loopline.classifier.corrections import Correction
from loopline.classifier.corrections import now as corrections_now
from loopline.classifier.deps import Caller, ClassifierState, ControlPlaneDep, Taxonomies
from loopline.classifier.head import DEFAULT_FAST_THRESHOLD, OTHER, decide
from loopline.classifier.job_routes import build_job_router
from loopline.classifier.labels import merge_row
from loopline.classifier.loop_routes import build_loop_router
from loopline.classifier.pipeline import PROJECT_LOGS, publish_labels
from loopline.classifier.routes_common import PREFIX
from loopline.classifier.routes_common import body_object as _object
from loopline.classifier.routes_common import own_project as _own_project
from loopline.classifier.taxonomy import Classifier
from loopline.classifier.text import DEFAULT_MAX_CHARS, clean_text, extract_text
from loopline.common.errors import Invalid, NotFound
from loopline.common.object_types import stored_object_id
from loopline.common.service import ServiceContext

MAX_PREVIEW = 100


def _preview(
    classifier: Classifier,
    heads: HeadCache,
    body: dict[str, Any],
    fast_threshold: float = DEFAULT_FAST_THRESHOLD,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[dict[str, Any]]:
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
            texts.append(clean_text(item, max_chars))
        else:
            if not isinstance(item, dict):
                raise Invalid("spans must be objects", field=f"spans[{i}]")
            texts.append(extract_text(item, classifier.taxonomy.text_path, max_chars))
    usable = [t for t in texts if t is not None]
    if not classifier.taxonomy.labels:
        raise Invalid("this classifier has no labels yet", field="labels")
    head = heads.head_for(classifier)
    predictions = iter(head.predict(usable, fast_threshold))
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
    r.include_router(build_job_router())  # backfill jobs, status (job_routes.py)

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
        s = state.settings
        results = await asyncio.to_thread(
            _preview, classifier, heads, _object(body), s.fast_threshold, s.max_text_chars
        )
        return {
            "classifier_id": classifier.id,
            "version": classifier.version,
            "facet": classifier.taxonomy.facet,
            "results": results,
        }

    @r.post(PREFIX + "/{classifier_id}/label")
    async def correct(
        project_id: str,
        classifier_id: str,
        body: dict[str, Any],
        caller: Caller,
        cp: ControlPlaneDep,
        state: ClassifierState,
    ) -> dict[str, Any]:
        """A person's label for one logged span: written as a human label, never replaced by the model."""
        await _own_project(cp, caller.org_id, project_id)
        classifier = await state.taxonomies.get(caller.org_id, project_id, classifier_id)
        row_id, label = _object(body).get("span_id"), body.get("label")
        if not isinstance(row_id, str) or not row_id:
            raise Invalid("span_id must be the id of a logged span", field="span_id")
        names = {lab.name for lab in classifier.taxonomy.labels} | {OTHER}
        if label not in names:
            raise Invalid(f"label must be one of this classifier's labels: {sorted(names)}", field="label")
        log_id = stored_object_id(PROJECT_LOGS, project_id)
        found = await state.spans.rows(caller.org_id, project_id, PROJECT_LOGS, log_id, [row_id])
        if not found:
            raise NotFound(f"no logged span {row_id!r} in this project", field="span_id")
        correction = Correction(
            facet=classifier.taxonomy.facet,
            row_id=row_id,
            classifier_id=classifier.id,
            version=classifier.version,
            label=str(label),
            text=extract_text(found[0], classifier.taxonomy.text_path) or "",
            user_id=caller.user_id or "",
            created=corrections_now(),
        )
        # kept first: a training example, and put back if a model write races past it
        await state.corrections.record(caller.org_id, project_id, correction)
        write = merge_row(row_id, correction.decision())
        await publish_labels(state.bus, state.xact, caller.org_id, project_id, log_id, [write])
        return {"span_id": row_id, "classifications": write["classifications"]}

    r.include_router(build_loop_router())
    return r
