"""`/v1/prompt`, `/v1/function`, `/insert-functions`, `/function/code` and the bundle upload URL.

Braintrust's REST semantics (spec §2.4): POST creates or returns the existing object of that
project + slug unmodified (header `x-bt-found-existing`), PUT creates or replaces (a new version),
GET lists newest first with the spec's filters (`version` = "as of that transaction", 19 digits or
the SDK's 16-hex form), PATCH writes a new version, DELETE soft-deletes. `/v1/prompt` is the view
of the objects that carry `prompt_data`. Everything is scoped to the caller's org.

`/insert-functions` (`project.publish()`, `braintrust push`) checks every definition first and
writes only when all are acceptable: one bad definition, or a taken slug under `if_exists: error`,
refuses the whole request naming `functions[i].<field>`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from loopline.common.auth import Principal
from loopline.common.errors import Conflict, Invalid, NotFound, Problem, ServiceError, TooLarge
from loopline.common.http import JSONResponse
from loopline.evaluator.deps import Bundles, Caller, Functions
from loopline.evaluator.functions.bundles import BundleStore
from loopline.evaluator.functions.records import CODE_RUNTIMES, FunctionRecord, check_definition
from loopline.evaluator.functions.store import MAX_LIMIT, Filters, FunctionStore, Page
from loopline.evaluator.functions.versions import parse_version

MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_INSERT = 1000
IF_EXISTS = ("error", "replace", "ignore")


async def json_object(request: Request, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body is {declared} bytes; at most {limit} are accepted")
    raw = await request.body()
    if len(raw) > limit:
        raise TooLarge(f"the request body is {len(raw)} bytes; at most {limit} are accepted")
    try:
        doc = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ServiceError(400, "the body must be a JSON object")
    return doc


def _found(rec: FunctionRecord, found: bool) -> Response:
    return JSONResponse(rec.public(), headers={"x-bt-found-existing": "true" if found else "false"})


def _version(version: str | None, environment: str | None) -> int | None:
    if environment is not None:
        raise Invalid(
            "environments are not supported by this server: pin a version with 'version' instead",
            field="environment",
        )
    return None if version is None or version == "" else parse_version(version)


def _prefixed(exc: Problem, prefix: str) -> Problem:
    field = exc.where.get("field")
    where = {**exc.where, "field": f"{prefix}.{field}" if field else prefix}
    return type(exc)(f"{prefix}: {exc.message}", **where)


async def check_code_bundles(bundles: BundleStore, org_id: str, body: dict[str, Any]) -> None:
    """A code function must name a bundle this org uploaded."""
    fd = body.get("function_data")
    data = fd.get("data") if isinstance(fd, dict) and fd.get("type") == "code" else None
    if isinstance(data, dict) and data.get("type") == "bundle":
        bundle_id = str(data.get("bundle_id"))
        if not await bundles.exists(org_id, bundle_id):
            raise Invalid(
                f"code bundle {bundle_id!r} was not uploaded (POST /function/code, then PUT the zip)",
                field="function_data.data.bundle_id",
            )


async def _create(
    request: Request,
    caller: Principal,
    functions: FunctionStore,
    bundles: BundleStore,
    *,
    prompt: bool,
    replace: bool,
) -> Response:
    body = await json_object(request)
    pid = await functions.project_id(caller, body.get("project_id"), body.get("project_name"), create=True)
    assert pid is not None
    await check_code_bundles(bundles, caller.org_id, body)
    rec, found = await functions.create(
        caller, pid, body, if_exists="replace" if replace else "ignore", prompt=prompt
    )
    return _found(rec, found)


def _crud(r: APIRouter, kind: str, *, prompt: bool) -> None:
    """The five routes of `/v1/{kind}`: `prompt` (the prompt view) or `function`."""
    base = f"/v1/{kind}"
    id_param = f"{kind}_id"

    async def visible(
        functions: FunctionStore, caller: Principal, object_id: str, version: int | None = None
    ) -> FunctionRecord:
        rec = await functions.get(caller.org_id, object_id, version)
        if prompt and not rec.is_prompt:
            raise NotFound(
                f"no prompt {object_id!r} in this organization (it is a function without prompt_data)",
                field="id",
            )
        return rec

    @r.post(base)
    async def create(request: Request, caller: Caller, functions: Functions, bundles: Bundles) -> Response:
        return await _create(request, caller, functions, bundles, prompt=prompt, replace=False)

    @r.put(base)
    async def replace(request: Request, caller: Caller, functions: Functions, bundles: Bundles) -> Response:
        return await _create(request, caller, functions, bundles, prompt=prompt, replace=True)

    @r.get(base)
    async def list_objects(
        request: Request,
        caller: Caller,
        functions: Functions,
        project_id: str | None = None,
        project_name: str | None = None,
        slug: str | None = None,
        version: str | None = None,
        environment: str | None = None,
        ids: list[str] = Query(default=[]),
        org_name: str | None = None,
        function_type: list[str] = Query(default=[]),
        limit: int = Query(default=100, ge=0, le=MAX_LIMIT),
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> Response:
        name = request.query_params.get(f"{kind}_name")
        if starting_after and ending_before:
            raise Invalid("give starting_after or ending_before, not both", field="starting_after")
        at = _version(version, environment)
        if org_name and caller.org_name and org_name != caller.org_name:
            return JSONResponse({"objects": []})
        pid = None
        if project_id or project_name:
            try:
                pid = await functions.project_id(caller, project_id, project_name, create=False)
            except NotFound:
                pid = None
            if pid is None:
                return JSONResponse({"objects": []})
        types: list[str | None] = [t for t in function_type if t]
        found: list[FunctionRecord] = []
        for ft in types or [None]:  # one query per requested type (usually one)
            f = Filters(
                project_id=pid,
                slug=slug,
                name=name,
                ids=tuple(ids),
                function_type=ft,
                prompts_only=prompt,
                version=at,
            )
            found += await functions.find(caller.org_id, f, Page(limit, starting_after, ending_before))
        if len(types) > 1:
            found.sort(key=lambda x: (x.created, x.id), reverse=True)
            found = found[:limit]
        return JSONResponse({"objects": [x.public() for x in found]})

    @r.get(base + "/{" + id_param + "}")
    async def get_one(
        request: Request,
        caller: Caller,
        functions: Functions,
        version: str | None = None,
        environment: str | None = None,
    ) -> Response:
        object_id = request.path_params[id_param]
        return JSONResponse(
            (await visible(functions, caller, object_id, _version(version, environment))).public()
        )

    @r.patch(base + "/{" + id_param + "}")
    async def patch(request: Request, caller: Caller, functions: Functions, bundles: Bundles) -> Response:
        object_id = request.path_params[id_param]
        await visible(functions, caller, object_id)
        body = await json_object(request)
        await check_code_bundles(bundles, caller.org_id, body)
        return JSONResponse((await functions.patch(caller, object_id, body)).public())

    @r.delete(base + "/{" + id_param + "}")
    async def delete(request: Request, caller: Caller, functions: Functions) -> Response:
        object_id = request.path_params[id_param]
        await visible(functions, caller, object_id)
        return JSONResponse((await functions.delete(caller, object_id)).public())


async def insert_functions(
    body: dict[str, Any], caller: Principal, functions: FunctionStore, bundles: BundleStore
) -> list[dict[str, Any]]:
    items = body.get("functions")
    if not isinstance(items, list):
        raise Invalid("'functions' must be an array of function definitions", field="functions")
    if len(items) > MAX_INSERT:
        raise TooLarge(f"{len(items)} functions in one request; at most {MAX_INSERT}")
    planned: list[tuple[str, dict[str, Any], str]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, item in enumerate(items):
        where = f"functions[{i}]"
        try:
            if not isinstance(item, dict):
                raise Invalid("must be an object", field="")
            mode = item.get("if_exists") or "error"
            if mode not in IF_EXISTS:
                raise Invalid(
                    f"'if_exists' must be one of {', '.join(IF_EXISTS)}, not {mode!r}", field="if_exists"
                )
            pid = await functions.project_id(
                caller, item.get("project_id"), item.get("project_name"), create=True
            )
            assert pid is not None
            fields = check_definition(item, prompt=False)
            await check_code_bundles(bundles, caller.org_id, item)
            key = (pid, fields["slug"])
            if key in seen:
                raise Invalid(
                    f"slug {fields['slug']!r} is also defined by functions[{seen[key]}]", field="slug"
                )
            seen[key] = i
            if mode == "error" and await functions.by_slug(caller.org_id, pid, fields["slug"]) is not None:
                raise Conflict(
                    f"a function with slug {fields['slug']!r} already exists in this project "
                    "(use if_exists 'replace' or 'ignore')",
                    field="slug",
                )
        except Problem as exc:
            raise _prefixed(exc, where) from None
        planned.append((pid, item, mode))
    out = []
    for i, (pid, item, mode) in enumerate(planned):
        try:
            rec, found = await functions.create(caller, pid, item, if_exists=mode)
        except Problem as exc:  # e.g. created by someone else since the check
            raise _prefixed(exc, f"functions[{i}]") from None
        out.append(
            {
                "id": rec.id,
                "slug": rec.slug,
                "project_id": rec.project_id,
                "_xact_id": rec.xact_id,
                "found_existing": found,
            }
        )
    return out


def build_function_router() -> APIRouter:
    r = APIRouter(tags=["functions"])
    _crud(r, "prompt", prompt=True)
    _crud(r, "function", prompt=False)

    @r.post("/insert-functions")
    async def insert(request: Request, caller: Caller, functions: Functions, bundles: Bundles) -> Response:
        """Define many functions at once (`project.publish()`, `braintrust push`)."""
        body = await json_object(request)
        return JSONResponse(
            {"status": "success", "functions": await insert_functions(body, caller, functions, bundles)}
        )

    @r.get("/v1/function/{function_id}/bundle")
    async def bundle_get(
        function_id: str, caller: Caller, functions: Functions, bundles: Bundles
    ) -> Response:
        """The zip `braintrust push` uploaded for a code function (what the runtime runs)."""
        rec = await functions.get(caller.org_id, function_id)
        data = rec.function_data.get("data") if rec.function_data.get("type") == "code" else None
        if not isinstance(data, dict) or data.get("type") != "bundle":
            raise NotFound(f"function {function_id!r} has no code bundle", field="function_id")
        zipped = await bundles.get(caller.org_id, str(data.get("bundle_id")))
        return Response(zipped, media_type="application/zip")

    @r.post("/function/code")
    async def code_upload(request: Request, caller: Caller, bundles: Bundles) -> Response:
        """A bundle id and the URL to PUT its zip to (no API key needed there; it expires)."""
        body = await json_object(request, 64 * 1024)
        org_id = body.get("org_id")
        if org_id is not None and org_id != caller.org_id:
            raise ServiceError(
                403, f"this API key belongs to organization {caller.org_id!r}, not {org_id!r}", field="org_id"
            )
        rc = body.get("runtime_context")
        if (
            not isinstance(rc, dict)
            or rc.get("runtime") not in CODE_RUNTIMES
            or not isinstance(rc.get("version"), str)
        ):
            raise Invalid(
                f"'runtime_context' must be {{runtime: {'|'.join(CODE_RUNTIMES)}, version: <string>}}",
                field="runtime_context",
            )
        bundle_id, url = bundles.new_upload(
            caller.org_id, f"{rc['runtime']}/{rc['version']}", public_base(request)
        )
        return JSONResponse({"url": url, "bundleId": bundle_id})

    @r.put("/function/bundle/{token}")
    async def bundle_put(token: str, request: Request, bundles: Bundles) -> Response:
        """The upload of one bundle; the signed token in the path is its only authorisation."""
        grant = bundles.signer.verify(token)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > bundles.max_bytes:
            raise TooLarge(f"the bundle is {declared} bytes; at most {bundles.max_bytes} are accepted")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > bundles.max_bytes:
                raise TooLarge(f"the bundle is over {bundles.max_bytes} bytes, the most accepted")
        digest = await bundles.put(grant, bytes(data))
        return JSONResponse({"bundleId": grant.bundle_id, "size": len(data), "sha256": digest})

    return r


def public_base(request: Request) -> str:
    """The base URL the client reached: the gateway's, when it forwarded this request."""
    host = request.headers.get("x-forwarded-host")
    if host and request.headers.get("x-loopline-internal-token"):
        proto = request.headers.get("x-forwarded-proto") or request.url.scheme
        return f"{proto}://{host}"
    return str(request.base_url).rstrip("/")
