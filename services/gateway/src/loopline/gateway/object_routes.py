"""Control-plane routes for both SDK generations (thin; logic in catalog.py).

Modern (SDK ≥ 0.35), Braintrust's REST API: `/v1/project|experiment|dataset` create-or-get
(POST), list (GET, `{"objects": [...]}`, newest first, `limit` / `starting_after` /
`ending_before` / `ids` and name filters), get, patch, delete (returns the object with
`deleted_at`). Legacy (SDK ≤ 0.34): `/api/{project,experiment,dataset}/register`,
`/api/project`, `/api/experiment/get`, `/api/base_experiment/get_id` (400 = "no base
experiment"). Everything is scoped to the key's org; other orgs' ids answer 404. A tenant id in
a body (the legacy `org_id`) is ignored: the key decides the org; a modern `org_name` naming
another org is refused (403).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from loopline.common.auth import Principal
from loopline.common.errors import NotFound, ServiceError
from loopline.common.http import JSONResponse
from loopline.gateway.catalog import Catalog
from loopline.gateway.deps import Caller, Cat
from loopline.gateway.edge import Paging, check_org, org_matches, read_body
from loopline.gateway.models import (
    BaseExperimentQuery,
    CreateDataset,
    CreateExperiment,
    CreateProject,
    LegacyGetExperiment,
    LegacyRegisterDataset,
    LegacyRegisterExperiment,
    LegacyRegisterProject,
    PatchDataset,
    PatchExperiment,
    PatchProject,
)

C = Catalog


def _found_header(found: bool) -> dict[str, str]:
    return {"x-bt-found-existing": "true" if found else "false"}


def _objects(rows: list[dict[str, Any]], out: Any) -> Response:
    return JSONResponse({"objects": [out(r) for r in rows]})


async def project_filter(
    cat: Catalog, p: Principal, project_id: str | None, project_name: str | None
) -> tuple[bool, str | None]:
    """(any match possible, project id to filter on) for list endpoints."""
    if not (project_id or project_name):
        return True, None
    try:
        return True, (await cat.resolve_project(p.org_id, project_id, project_name, create=False))["id"]
    except NotFound:
        return False, None


async def must(kind: str, getter: Any, p: Principal, object_id: str) -> dict[str, Any]:
    r = await getter(p.org_id, object_id)
    if r is None:
        raise NotFound(f"{kind} {object_id!r} does not exist")
    assert isinstance(r, dict)
    return r


def build_object_router() -> APIRouter:
    router = APIRouter()

    # -- projects ------------------------------------------------------------------------------
    @router.post("/v1/project")
    async def create_project(request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, CreateProject)
        check_org(p, body.org_name)
        proj, found = await cat.create_project(p.org_id, body.name, body.description, p.user_id)
        return JSONResponse(C.project_out(proj), headers=_found_header(found))

    @router.get("/v1/project")
    async def list_projects(
        page: Paging,
        cat: Cat,
        p: Caller,
        project_name: str | None = None,
        org_name: str | None = None,
    ) -> Response:
        if not org_matches(p, org_name):
            return _objects([], C.project_out)
        return _objects(await cat.list_projects(p.org_id, project_name, page=page), C.project_out)

    @router.get("/v1/project/{project_id}")
    async def get_project(project_id: str, cat: Cat, p: Caller) -> Response:
        return JSONResponse(C.project_out(await must("project", cat.get_project, p, project_id)))

    @router.patch("/v1/project/{project_id}")
    async def patch_project(project_id: str, request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, PatchProject)
        return JSONResponse(C.project_out(await cat.patch_project(p.org_id, project_id, body)))

    @router.delete("/v1/project/{project_id}")
    async def delete_project(project_id: str, cat: Cat, p: Caller) -> Response:
        return JSONResponse(C.project_out(await cat.delete_project(p.org_id, project_id)))

    # -- experiments ---------------------------------------------------------------------------
    @router.post("/v1/experiment")
    async def create_experiment(request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, CreateExperiment)
        check_org(p, body.org_name)
        proj = await cat.resolve_project(p.org_id, body.project_id, body.project_name, create=True)
        r = await cat.create_experiment(
            p.org_id, proj, body, ensure_new=body.ensure_new is not False, user_id=p.user_id
        )
        return JSONResponse(C.experiment_out(r))

    @router.get("/v1/experiment")
    async def list_experiments(
        page: Paging,
        cat: Cat,
        p: Caller,
        project_id: str | None = None,
        project_name: str | None = None,
        experiment_name: str | None = None,
        org_name: str | None = None,
    ) -> Response:
        possible, pid = await project_filter(cat, p, project_id, project_name)
        if not possible or not org_matches(p, org_name):
            return _objects([], C.experiment_out)
        rows = await cat.list_experiments(p.org_id, pid, experiment_name, page=page)
        return _objects(rows, C.experiment_out)

    @router.get("/v1/experiment/{experiment_id}")
    async def get_experiment(experiment_id: str, cat: Cat, p: Caller) -> Response:
        return JSONResponse(C.experiment_out(await must("experiment", cat.get_experiment, p, experiment_id)))

    @router.patch("/v1/experiment/{experiment_id}")
    async def patch_experiment(experiment_id: str, request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, PatchExperiment)
        return JSONResponse(C.experiment_out(await cat.patch_experiment(p.org_id, experiment_id, body)))

    @router.delete("/v1/experiment/{experiment_id}")
    async def delete_experiment(experiment_id: str, cat: Cat, p: Caller) -> Response:
        return JSONResponse(C.experiment_out(await cat.delete_experiment(p.org_id, experiment_id)))

    # -- datasets ------------------------------------------------------------------------------
    @router.post("/v1/dataset")
    async def create_dataset(request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, CreateDataset)
        check_org(p, body.org_name)
        proj = await cat.resolve_project(p.org_id, body.project_id, body.project_name, create=True)
        r, found = await cat.create_dataset(p.org_id, proj, body, p.user_id)
        return JSONResponse(C.dataset_out(r), headers=_found_header(found))

    @router.get("/v1/dataset")
    async def list_datasets(
        page: Paging,
        cat: Cat,
        p: Caller,
        project_id: str | None = None,
        project_name: str | None = None,
        dataset_name: str | None = None,
        org_name: str | None = None,
    ) -> Response:
        possible, pid = await project_filter(cat, p, project_id, project_name)
        if not possible or not org_matches(p, org_name):
            return _objects([], C.dataset_out)
        return _objects(await cat.list_datasets(p.org_id, pid, dataset_name, page=page), C.dataset_out)

    @router.get("/v1/dataset/{dataset_id}")
    async def get_dataset(dataset_id: str, cat: Cat, p: Caller) -> Response:
        return JSONResponse(C.dataset_out(await must("dataset", cat.get_dataset, p, dataset_id)))

    @router.patch("/v1/dataset/{dataset_id}")
    async def patch_dataset(dataset_id: str, request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, PatchDataset)
        return JSONResponse(C.dataset_out(await cat.patch_dataset(p.org_id, dataset_id, body)))

    @router.delete("/v1/dataset/{dataset_id}")
    async def delete_dataset(dataset_id: str, cat: Cat, p: Caller) -> Response:
        return JSONResponse(C.dataset_out(await cat.delete_dataset(p.org_id, dataset_id)))

    @router.get("/environment-object/{object_type}/{object_id}/{environment}")
    async def environment_object(object_type: str, object_id: str, environment: str, p: Caller) -> Response:
        raise NotFound(
            f"environment {environment!r} is not defined: Loopline does not support environments yet"
        )

    # -- legacy (SDK ≤ 0.34, on the app URL) ---------------------------------------------------
    @router.post("/api/project/register")
    async def legacy_project_register(request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, LegacyRegisterProject)
        proj, _ = await cat.create_project(p.org_id, body.project_name, user_id=p.user_id)
        return JSONResponse({"project": C.project_out(proj)})

    @router.get("/api/project")
    async def legacy_project_get(id: str, cat: Cat, p: Caller) -> Response:
        return JSONResponse(C.project_out(await must("project", cat.get_project, p, id)))

    @router.post("/api/experiment/register")
    async def legacy_experiment_register(request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, LegacyRegisterExperiment)
        proj = await cat.resolve_project(p.org_id, body.project_id, body.project_name, create=True)
        spec = body.model_copy(update={"name": body.experiment_name})
        r = await cat.create_experiment(
            p.org_id, proj, spec, ensure_new=body.update is not True, user_id=p.user_id
        )
        return JSONResponse({"project": C.project_out(proj), "experiment": C.experiment_out(r)})

    @router.post("/api/experiment/get")
    async def legacy_experiment_get(request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, LegacyGetExperiment)
        possible, pid = await project_filter(cat, p, body.project_id, body.project_name)
        if not possible or not org_matches(p, body.org_name):
            return JSONResponse([])
        rows = await cat.list_experiments(p.org_id, pid, body.experiment_name, limit=1)
        return JSONResponse([C.experiment_out(r) for r in rows])

    @router.post("/api/dataset/register")
    async def legacy_dataset_register(request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, LegacyRegisterDataset)
        proj = await cat.resolve_project(p.org_id, body.project_id, body.project_name, create=True)
        spec = body.model_copy(update={"name": body.dataset_name})
        r, _ = await cat.create_dataset(p.org_id, proj, spec, p.user_id)
        return JSONResponse({"project": C.project_out(proj), "dataset": C.dataset_out(r)})

    @router.post("/api/base_experiment/get_id")
    async def legacy_base_experiment(request: Request, cat: Cat, p: Caller) -> Response:
        body = await read_body(request, BaseExperimentQuery)
        exp = await must("experiment", cat.get_experiment, p, body.id)
        base = await cat.default_base(p.org_id, exp)
        if base is None:  # the SDK reads HTTP 400 as "no base experiment"
            raise ServiceError(400, "this experiment has no base experiment")
        return JSONResponse({"base_exp_id": base["id"], "base_exp_name": base["name"]})

    return router
