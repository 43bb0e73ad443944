"""The improvement loop's routes (see improve.py), under a project's classifier:

    POST .../classifier/{id}/dataset    {name? | dataset_id?, sources?, min_confidence?, days?, limit?}
                                        labelled spans → dataset records (input, expected = label)
    POST .../classifier/{id}/retrain    {corrections?: true, dataset_id?}
                                        examples + corrections (+ a dataset) → the next version
    POST .../classifier/{id}/evaluate   {dataset_id, version?, experiment_name?, base_experiment_id?,
                                         exclude_training?}
                                        a version against a labelled dataset → an experiment;
                                        `trained_on`/`warning`: records that are its own examples
    POST .../classifier/{id}/discover   {days?, limit?, min_cluster_size?, max_proposals?, llm?, model?}
                                        `other` spans (all, without labels) → proposed labels
    POST .../classifier/{id}/accept     {name, description?, examples?} or {labels: [...]}
                                        proposals → labels of the next version
    GET  .../classifier/{id}/stats?days=7&limit=50
                                        label distribution, change against the window before,
                                        error rate and blast radius per label (label_stats.py)

The project must be the caller's (another org's project is "not found"); datasets and
experiments are read and written through their APIs as the caller.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from loopline.classifier import discover as discovery
from loopline.classifier import improve
from loopline.classifier.deps import Api, Caller, ClassifierState, ControlPlaneDep
from loopline.classifier.label_stats import label_stats
from loopline.classifier.routes_common import PREFIX, body_object, own_project
from loopline.classifier.taxonomy import Classifier
from loopline.common.errors import Invalid


def _version(body: dict[str, Any]) -> int | None:
    v = body.get("version")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise Invalid("version must be a positive integer", field="version")
    return v


async def _classifier(
    project_id: str, classifier_id: str, caller: Caller, cp: ControlPlaneDep, state: ClassifierState
) -> Classifier:
    """The caller's classifier, current version (another org's project or classifier: 404)."""
    await own_project(cp, caller.org_id, project_id)
    return await state.taxonomies.get(caller.org_id, project_id, classifier_id)


Current = Annotated[Classifier, Depends(_classifier)]


def build_loop_router() -> APIRouter:
    r = APIRouter(tags=["classifier"])

    @r.post(PREFIX + "/{classifier_id}/dataset")
    async def to_dataset(body: dict[str, Any], classifier: Current, api: Api) -> dict[str, Any]:
        return await improve.export_dataset(api, classifier, body_object(body))

    @r.post(PREFIX + "/{classifier_id}/retrain")
    async def retrain(
        body: dict[str, Any], classifier: Current, caller: Caller, state: ClassifierState, api: Api
    ) -> dict[str, Any]:
        return await improve.retrain(
            api, state.taxonomies, state.corrections, classifier, body_object(body), caller.user_id or ""
        )

    @r.post(PREFIX + "/{classifier_id}/evaluate")
    async def evaluate(
        body: dict[str, Any], classifier: Current, caller: Caller, state: ClassifierState, api: Api
    ) -> dict[str, Any]:
        body = body_object(body)
        version = _version(body)
        if version is not None and version != classifier.version:
            classifier = await state.taxonomies.get(
                caller.org_id, classifier.project_id, classifier.id, version
            )
        heads = await asyncio.to_thread(state.heads)  # loads the model on first use
        return await improve.evaluate(api, heads, classifier, body)

    @r.post(PREFIX + "/{classifier_id}/discover")
    async def discover(
        body: dict[str, Any], classifier: Current, state: ClassifierState, api: Api
    ) -> dict[str, Any]:
        heads = await asyncio.to_thread(state.heads)
        return await discovery.discover(api, heads, classifier, body_object(body), state.settings.llm_model)

    @r.post(PREFIX + "/{classifier_id}/accept")
    async def accept(
        body: dict[str, Any], classifier: Current, caller: Caller, state: ClassifierState
    ) -> dict[str, Any]:
        return await discovery.accept(state.taxonomies, classifier, body_object(body), caller.user_id or "")

    @r.get(PREFIX + "/{classifier_id}/stats")
    async def stats(
        classifier: Current,
        api: Api,
        days: int = Query(default=7, ge=1, le=365),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> dict[str, Any]:
        out = await label_stats(api, classifier.project_id, classifier.taxonomy.facet, days, limit)
        return {"classifier_id": classifier.id, **out}

    return r
