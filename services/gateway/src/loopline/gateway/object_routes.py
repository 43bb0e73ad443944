"""Control-plane routes for both SDK generations (thin; logic in catalog.py).

Modern (SDK ≥ 0.35): `/v1/project|experiment|dataset` create-or-get, get, list, patch, delete.
Legacy (SDK ≤ 0.34): `/api/{project,experiment,dataset}/register`, `/api/project`,
`/api/experiment/get`, `/api/base_experiment/get_id` (400 means "no base experiment").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from loopline.common.auth import Principal, current_principal
from loopline.common.http import JSONResponse, error_body
from loopline.common.service import ServiceContext
from loopline.gateway.catalog import Catalog, CatalogError

C = Catalog


def _err(exc: CatalogError) -> Response:
    return JSONResponse(error_body(exc.status, exc.message, **exc.where), status_code=exc.status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > 1024 * 1024:
        raise CatalogError(413, "request body exceeds 1 MiB")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CatalogError(
            400, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(body, dict):
        raise CatalogError(400, "body must be a JSON object")
    return body


def _limit(v: str | None) -> int:
    if v is None:
        return 100
    try:
        n = int(v)
    except ValueError:
        raise CatalogError(400, f"'limit' must be an integer, got {v!r}", field="limit") from None
    if not 1 <= n <= 1000:
        raise CatalogError(400, "'limit' must be between 1 and 1000", field="limit")
    return n


def _object_routes(router: APIRouter, kind: str, cat: Callable[[], Catalog]) -> None:
    """GET / PATCH / DELETE `/v1/{kind}/{id}` for an experiment or dataset."""
    out = C.experiment_out if kind == "experiment" else C.dataset_out

    async def get(object_id: str, p: Principal = Depends(current_principal)) -> Response:
        r = await getattr(cat(), f"get_{kind}")(p.org_id, object_id)
        if r is None:
            return _err(CatalogError(404, f"{kind} {object_id!r} does not exist"))
        return JSONResponse(out(r))

    async def patch(object_id: str, request: Request, p: Principal = Depends(current_principal)) -> Response:
        try:
            r = await getattr(cat(), f"patch_{kind}")(p.org_id, object_id, await _json(request))
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse(out(r))

    async def delete(object_id: str, p: Principal = Depends(current_principal)) -> Response:
        try:
            r = await getattr(cat(), f"delete_{kind}")(p.org_id, object_id)
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse(out(r))

    path = f"/v1/{kind}/{{object_id}}"
    router.add_api_route(path, get, methods=["GET"], name=f"get_{kind}")
    router.add_api_route(path, patch, methods=["PATCH"], name=f"patch_{kind}")
    router.add_api_route(path, delete, methods=["DELETE"], name=f"delete_{kind}")


def build_object_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()

    def cat() -> Catalog:
        return ctx.shared["control_plane"]

    # -- modern: projects ----------------------------------------------------------------------
    @router.post("/v1/project")
    async def create_project(request: Request, p: Principal = Depends(current_principal)) -> Response:
        try:
            body = await _json(request)
            proj, found = await cat().create_project(p.org_id, body.get("name"), body.get("description"))  # type: ignore[arg-type]
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse(
            C.project_out(proj), headers={"x-bt-found-existing": "true" if found else "false"}
        )

    @router.get("/v1/project")
    async def list_projects(
        project_name: str | None = None, limit: str | None = None, p: Principal = Depends(current_principal)
    ) -> Response:
        try:
            rows = await cat().list_projects(p.org_id, project_name, _limit(limit))
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse({"objects": [C.project_out(r) for r in rows]})

    @router.get("/v1/project/{project_id}")
    async def get_project(project_id: str, p: Principal = Depends(current_principal)) -> Response:
        r = await cat().get_project(p.org_id, project_id)
        if r is None:
            return _err(CatalogError(404, f"project {project_id!r} does not exist"))
        return JSONResponse(C.project_out(r))

    @router.patch("/v1/project/{project_id}")
    async def patch_project(
        project_id: str, request: Request, p: Principal = Depends(current_principal)
    ) -> Response:
        try:
            r = await cat().patch_project(p.org_id, project_id, await _json(request))
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse(C.project_out(r))

    @router.delete("/v1/project/{project_id}")
    async def delete_project(project_id: str, p: Principal = Depends(current_principal)) -> Response:
        try:
            r = await cat().delete_project(p.org_id, project_id)
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse(C.project_out(r))

    # -- modern: experiments -------------------------------------------------------------------
    @router.post("/v1/experiment")
    async def create_experiment(request: Request, p: Principal = Depends(current_principal)) -> Response:
        try:
            body = await _json(request)
            proj = await cat().resolve_project(
                p.org_id, body.get("project_id"), body.get("project_name"), create=True
            )
            ensure_new = body.get("ensure_new", True) is not False
            r = await cat().create_experiment(p.org_id, proj, body, ensure_new=ensure_new)
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse(C.experiment_out(r))

    @router.get("/v1/experiment")
    async def list_experiments(
        project_id: str | None = None,
        project_name: str | None = None,
        experiment_name: str | None = None,
        limit: str | None = None,
        p: Principal = Depends(current_principal),
    ) -> Response:
        try:
            pid = None
            if project_id or project_name:
                pid = (await cat().resolve_project(p.org_id, project_id, project_name, create=False))["id"]
            rows = await cat().list_experiments(p.org_id, pid, experiment_name, _limit(limit))
        except CatalogError as exc:
            if exc.status == 404:
                return JSONResponse({"objects": []})
            return _err(exc)
        return JSONResponse({"objects": [C.experiment_out(r) for r in rows]})

    # -- modern: datasets ----------------------------------------------------------------------
    @router.post("/v1/dataset")
    async def create_dataset(request: Request, p: Principal = Depends(current_principal)) -> Response:
        try:
            body = await _json(request)
            proj = await cat().resolve_project(
                p.org_id, body.get("project_id"), body.get("project_name"), create=True
            )
            r, found = await cat().create_dataset(p.org_id, proj, body)
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse(C.dataset_out(r), headers={"x-bt-found-existing": "true" if found else "false"})

    @router.get("/v1/dataset")
    async def list_datasets(
        project_id: str | None = None,
        project_name: str | None = None,
        dataset_name: str | None = None,
        limit: str | None = None,
        p: Principal = Depends(current_principal),
    ) -> Response:
        try:
            pid = None
            if project_id or project_name:
                pid = (await cat().resolve_project(p.org_id, project_id, project_name, create=False))["id"]
            rows = await cat().list_datasets(p.org_id, pid, dataset_name, _limit(limit))
        except CatalogError as exc:
            if exc.status == 404:
                return JSONResponse({"objects": []})
            return _err(exc)
        return JSONResponse({"objects": [C.dataset_out(r) for r in rows]})

    for kind in ("experiment", "dataset"):
        _object_routes(router, kind, cat)

    # -- legacy (≤ 0.34) -----------------------------------------------------------------------
    @router.post("/api/project/register")
    async def legacy_project_register(
        request: Request, p: Principal = Depends(current_principal)
    ) -> Response:
        try:
            body = await _json(request)
            proj, _ = await cat().create_project(p.org_id, body.get("project_name"))  # type: ignore[arg-type]
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse({"project": C.project_out(proj)})

    @router.get("/api/project")
    async def legacy_project_get(id: str, p: Principal = Depends(current_principal)) -> Response:
        r = await cat().get_project(p.org_id, id)
        if r is None:
            return _err(CatalogError(404, f"project {id!r} does not exist"))
        return JSONResponse(C.project_out(r))

    @router.post("/api/experiment/register")
    async def legacy_experiment_register(
        request: Request, p: Principal = Depends(current_principal)
    ) -> Response:
        try:
            body = await _json(request)
            proj = await cat().resolve_project(
                p.org_id, body.get("project_id"), body.get("project_name"), create=True
            )
            spec = {**body, "name": body.get("experiment_name")}
            r = await cat().create_experiment(p.org_id, proj, spec, ensure_new=not body.get("update"))
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse({"project": C.project_out(proj), "experiment": C.experiment_out(r)})

    @router.post("/api/experiment/get")
    async def legacy_experiment_get(request: Request, p: Principal = Depends(current_principal)) -> Response:
        try:
            body = await _json(request)
            proj = await cat().resolve_project(
                p.org_id, body.get("project_id"), body.get("project_name"), create=False
            )
            rows = await cat().list_experiments(p.org_id, proj["id"], body.get("experiment_name"), limit=1)
        except CatalogError as exc:
            if exc.status == 404:
                return JSONResponse([])
            return _err(exc)
        return JSONResponse([C.experiment_out(r) for r in rows])

    @router.post("/api/dataset/register")
    async def legacy_dataset_register(
        request: Request, p: Principal = Depends(current_principal)
    ) -> Response:
        try:
            body = await _json(request)
            proj = await cat().resolve_project(
                p.org_id, body.get("project_id"), body.get("project_name"), create=True
            )
            r, _ = await cat().create_dataset(p.org_id, proj, {**body, "name": body.get("dataset_name")})
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse({"project": C.project_out(proj), "dataset": C.dataset_out(r)})

    @router.post("/api/base_experiment/get_id")
    async def legacy_base_experiment(request: Request, p: Principal = Depends(current_principal)) -> Response:
        try:
            body = await _json(request)
            exp_id = body.get("id")
            if not isinstance(exp_id, str):
                raise CatalogError(400, "'id' must be an experiment id", field="id")
            exp = await cat().get_experiment(p.org_id, exp_id)
            if exp is None:
                raise CatalogError(400, f"experiment {exp_id!r} does not exist", field="id")
            base = await cat().default_base(p.org_id, exp)
            if base is None:
                raise CatalogError(400, "this experiment has no base experiment")
        except CatalogError as exc:
            return _err(exc)
        return JSONResponse({"base_exp_id": base["id"], "base_exp_name": base["name"]})

    return router
