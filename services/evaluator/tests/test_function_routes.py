"""`/v1/prompt`, `/v1/function`, `/insert-functions`, `/function/code` over HTTP (in-process app):
Braintrust's create / replace / list / get / patch / delete semantics, versions, filters, paging,
clear 4xx for bad payloads, roles, and tenant isolation."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from braintrust.xact_ids import prettify_xact
from loopline.common.auth import Principal
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.common.service import ServiceStates
from loopline.evaluator.state import State

from tests.support.app import ALL, InProcess, in_process

# one app for the module (each test makes its own projects and orgs)
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ll(chdb_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    async with in_process(chdb_dsn, tmp_path_factory.mktemp("fn-routes"), (*ALL, "evaluator")) as p:
        yield p


def state(ll: InProcess) -> State:
    states: ServiceStates = ll.app.state.services
    return states.get(State)


def chat_prompt(project_id: str, slug: str = "chat", **extra: Any) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "name": slug.title(),
        "slug": slug,
        "prompt_data": {
            "prompt": {"type": "chat", "messages": [{"role": "user", "content": "Q: {{input.question}}"}]},
            "options": {"model": "gpt-4o-mini", "params": {"temperature": 0.1}},
        },
        **extra,
    }


def new_name() -> str:
    return f"fn-{uuid.uuid4().hex[:8]}"


async def project(ll: InProcess, name: str | None = None, headers: dict[str, str] | None = None) -> str:
    r = await ll.client.post("/v1/project", json={"name": name or new_name()}, headers=headers or ll.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_create_returns_existing_put_replaces_versions_stay_readable(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pname = new_name()
    pid = await project(ll, pname)
    r = await c.post("/v1/prompt", json=chat_prompt(pid), headers=h)
    assert r.status_code == 200, r.text
    first = r.json()
    assert r.headers["x-bt-found-existing"] == "false"
    for key in ("id", "project_id", "_xact_id", "name", "slug", "description", "tags", "prompt_data"):
        assert key in first  # PromptSchema(**obj) needs each, nulls included
    assert first["description"] is None and first["tags"] is None and first["log_id"] == "p"
    assert first["function_data"] == {"type": "prompt"} and len(first["_xact_id"]) == 19
    # POST again: the existing object, unmodified
    again = await c.post("/v1/prompt", json=chat_prompt(pid, description="changed"), headers=h)
    assert again.headers["x-bt-found-existing"] == "true"
    assert again.json() == first
    # PUT: a new version of the same object
    body = chat_prompt(pid, description="v2", tags=["t"])
    body["prompt_data"]["options"]["model"] = "gpt-4o"
    put = (await c.put("/v1/prompt", json=body, headers=h)).json()
    assert (
        put["id"] == first["id"]
        and put["_xact_id"] > first["_xact_id"]
        and put["created"] == first["created"]
    )
    assert put["description"] == "v2" and put["tags"] == ["t"]
    # the old version stays readable, by 19-digit id and by the SDK's 16-hex form, by id and by list
    for v in (first["_xact_id"], prettify_xact(first["_xact_id"])):
        old = (await c.get(f"/v1/prompt/{first['id']}", params={"version": v}, headers=h)).json()
        assert (
            old["prompt_data"]["options"]["model"] == "gpt-4o-mini" and old["_xact_id"] == first["_xact_id"]
        )
        listed = (
            await c.get("/v1/prompt", params={"project_id": pid, "slug": "chat", "version": v}, headers=h)
        ).json()["objects"]
        assert [o["_xact_id"] for o in listed] == [first["_xact_id"]]
    latest = (await c.get("/v1/prompt", params={"project_name": pname, "slug": "chat"}, headers=h)).json()
    assert [o["_xact_id"] for o in latest["objects"]] == [put["_xact_id"]]
    # a version before the object existed: nothing
    before = str(int(first["_xact_id"]) - 1)
    assert (
        await c.get(f"/v1/prompt/{first['id']}", params={"version": before}, headers=h)
    ).status_code == 404
    bad = await c.get(f"/v1/prompt/{first['id']}", params={"version": "yesterday"}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "version"
    env = await c.get("/v1/prompt", params={"project_id": pid, "environment": "prod"}, headers=h)
    assert env.status_code == 400 and env.json()["error"]["field"] == "environment"


async def test_list_filters_and_paging(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pname = new_name()
    pid = await project(ll, pname)
    other = await project(ll)
    ids = []
    for i in range(5):
        body = chat_prompt(pid, f"p{i}", function_type="scorer" if i % 2 else None)
        ids.append((await c.post("/v1/function", json=body, headers=h)).json()["id"])
    params_fn = {
        "project_id": pid,
        "name": "Params",
        "slug": "params",
        "function_type": "parameters",
        "function_data": {"type": "parameters", "data": {"model": "x"}, "__schema": {"type": "object"}},
    }
    pr = await c.post("/v1/function", json=params_fn, headers=h)
    assert pr.status_code == 200, pr.text
    await c.post("/v1/prompt", json=chat_prompt(other, "p0"), headers=h)

    async def names(path: str, **params: Any) -> list[str]:
        r = await c.get(path, params=params, headers=h)
        assert r.status_code == 200, r.text
        return [o["slug"] for o in r.json()["objects"]]

    assert await names("/v1/function", project_id=pid) == ["params", "p4", "p3", "p2", "p1", "p0"]
    assert await names("/v1/prompt", project_id=pid) == ["p4", "p3", "p2", "p1", "p0"]  # prompts only
    assert await names("/v1/function", project_name=pname, function_type="scorer") == ["p3", "p1"]
    assert await names("/v1/function", project_name=pname, function_type=["scorer", "parameters"]) == [
        "params",
        "p3",
        "p1",
    ]
    assert await names("/v1/prompt", prompt_name="P2") == ["p2"]
    assert await names("/v1/function", function_name="Params") == ["params"]
    assert await names("/v1/prompt", slug="p0") == ["p0", "p0"]  # both projects
    assert await names("/v1/prompt", ids=[ids[1], ids[3]]) == ["p3", "p1"]
    assert await names("/v1/prompt", project_name="no-such-project") == []
    assert await names("/v1/prompt", project_id="no-such-project") == []
    assert await names("/v1/prompt", org_name="another-org") == []
    assert await names("/v1/function", project_id=pid, limit=2) == ["params", "p4"]
    assert await names("/v1/function", project_id=pid, limit=2, starting_after=ids[4]) == ["p3", "p2"]
    assert await names("/v1/function", project_id=pid, limit=2, ending_before=ids[1]) == ["p3", "p2"]
    r = await c.get("/v1/function", params={"starting_after": "nope"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"] == "starting_after"
    # a function without prompt_data is not a prompt
    assert (await c.get(f"/v1/prompt/{pr.json()['id']}", headers=h)).status_code == 404
    assert (await c.get(f"/v1/function/{pr.json()['id']}", headers=h)).json()["function_data"]["data"] == {
        "model": "x"
    }


async def test_patch_and_delete(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await project(ll)
    a = (await c.post("/v1/prompt", json=chat_prompt(pid, "a"), headers=h)).json()
    await c.post("/v1/prompt", json=chat_prompt(pid, "b"), headers=h)
    r = await c.patch(f"/v1/prompt/{a['id']}", json={"description": "d", "tags": ["x"]}, headers=h)
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["description"] == "d" and patched["tags"] == ["x"] and patched["_xact_id"] > a["_xact_id"]
    assert patched["prompt_data"] == a["prompt_data"] and patched["slug"] == "a"
    clash = await c.patch(f"/v1/prompt/{a['id']}", json={"slug": "b"}, headers=h)
    assert clash.status_code == 409 and clash.json()["error"]["field"] == "slug"
    renamed = (await c.patch(f"/v1/prompt/{a['id']}", json={"slug": "a2"}, headers=h)).json()
    assert renamed["slug"] == "a2"
    # the old slug is free again; the new one finds the object
    assert (await c.get("/v1/prompt", params={"project_id": pid, "slug": "a"}, headers=h)).json()[
        "objects"
    ] == []
    bad = await c.patch(
        f"/v1/prompt/{a['id']}", json={"prompt_data": {"prompt": {"type": "chat"}}}, headers=h
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "prompt_data.prompt.messages"
    ro = await c.patch(f"/v1/prompt/{a['id']}", json={"project_id": "elsewhere"}, headers=h)
    assert ro.status_code == 400 and ro.json()["error"]["field"] == "project_id"
    d = await c.delete(f"/v1/prompt/{a['id']}", headers=h)
    assert d.status_code == 200 and d.json()["id"] == a["id"]
    assert (await c.get(f"/v1/prompt/{a['id']}", headers=h)).status_code == 404
    # deleted: every version is gone, and the slug can be reused
    assert (
        await c.get(f"/v1/prompt/{a['id']}", params={"version": a["_xact_id"]}, headers=h)
    ).status_code == 404
    assert [
        o["slug"]
        for o in (await c.get("/v1/prompt", params={"project_id": pid}, headers=h)).json()["objects"]
    ] == ["b"]
    new = (await c.post("/v1/prompt", json=chat_prompt(pid, "a2"), headers=h)).json()
    assert new["id"] != a["id"]
    assert (await c.delete(f"/v1/prompt/{a['id']}", headers=h)).status_code == 404


BAD_PAYLOADS: list[tuple[dict[str, Any], str]] = [
    (
        {"name": "x", "slug": "x", "prompt_data": {"prompt": {"type": "chat", "messages": []}}},
        "prompt_data.options.model",
    ),
    ({"name": "x", "function_data": {"type": "lambda"}}, "function_data.type"),
    (
        {"name": "x", "function_data": {"type": "code", "data": {"type": "inline"}}},
        "function_data.data.runtime_context",
    ),
    ({"slug": "x", "function_data": {"type": "global", "name": "Levenshtein"}}, "name"),
    ({"name": "x", "function_data": {"type": "global"}}, "function_data.name"),
    (
        {"name": "x", "function_type": "judge", "function_data": {"type": "global", "name": "L"}},
        "function_type",
    ),
    ({"name": "x", "tags": "a,b", "function_data": {"type": "global", "name": "L"}}, "tags"),
    (
        {
            "name": "x",
            "prompt_data": {
                "prompt": {"type": "chat", "messages": [{"content": "hi"}]},
                "options": {"model": "m"},
            },
        },
        "prompt_data.prompt.messages[0]",
    ),
    (
        {
            "name": "x",
            "prompt_data": {
                "prompt": {"type": "chat", "messages": [], "tools": []},
                "options": {"model": "m"},
            },
        },
        "prompt_data.prompt.tools",
    ),
    (
        {"name": "x", "prompt_data": {"prompt": {"type": "completion"}, "options": {"model": "m"}}},
        "prompt_data.prompt.content",
    ),
    (
        {
            "name": "x",
            "prompt_data": {
                "options": {"model": "m"},
                "parser": {"type": "llm_classifier", "choice_scores": {"Y": "1"}},
            },
        },
        "prompt_data.parser.choice_scores",
    ),
    (
        {
            "name": "x",
            "function_data": {
                "type": "code",
                "data": {
                    "type": "bundle",
                    "bundle_id": "nope",
                    "location": {"type": "function", "index": 0},
                    "runtime_context": {"runtime": "python", "version": "3.11"},
                },
            },
        },
        "function_data.data.bundle_id",
    ),
]


async def test_bad_payloads_are_400_naming_the_field(ll: InProcess) -> None:
    pid = await project(ll)
    for body, field in BAD_PAYLOADS:
        r = await ll.client.post("/v1/function", json={"project_id": pid, **body}, headers=ll.headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == field, r.text


async def test_bad_bodies_and_projects(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    r = await c.post("/v1/prompt", content=b"{nope", headers=h)
    assert r.status_code == 400
    r = await c.post("/v1/prompt", json=[1], headers=h)
    assert r.status_code == 400
    r = await c.post("/v1/prompt", json={"name": "x"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"] == "project_id"
    r = await c.post("/v1/prompt", json=chat_prompt("no-such-project"), headers=h)
    assert r.status_code == 404 and r.json()["error"]["field"] == "project_id"
    r = await c.get("/v1/function/whatever", headers=h)
    assert r.status_code == 404


async def test_insert_functions_if_exists_modes(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await project(ll)

    def fn(slug: str, mode: str | None, model: str = "m1") -> dict[str, Any]:
        body = chat_prompt(pid, slug)
        body["prompt_data"]["options"]["model"] = model
        body["function_data"] = {"type": "prompt"}
        return {**body, **({"if_exists": mode} if mode else {})}

    r = await c.post("/insert-functions", json={"functions": [fn("a", "error"), fn("b", None)]}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()["functions"]
    assert [(f["slug"], f["found_existing"]) for f in out] == [("a", False), ("b", False)]
    # error (and the default): the whole request is refused, nothing written
    r = await c.post(
        "/insert-functions", json={"functions": [fn("c", "replace"), fn("a", None, "m2")]}, headers=h
    )
    assert r.status_code == 409 and r.json()["error"]["field"] == "functions[1].slug", r.text
    assert (await c.get("/v1/prompt", params={"project_id": pid, "slug": "c"}, headers=h)).json()[
        "objects"
    ] == []
    # ignore keeps, replace writes a new version
    r = await c.post(
        "/insert-functions",
        json={"functions": [fn("a", "ignore", "m2"), fn("b", "replace", "m2")]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    got = {
        o["slug"]: o
        for o in (await c.get("/v1/prompt", params={"project_id": pid}, headers=h)).json()["objects"]
    }
    assert got["a"]["prompt_data"]["options"]["model"] == "m1"
    assert got["b"]["prompt_data"]["options"]["model"] == "m2" and got["b"]["id"] == out[1]["id"]
    # a bad definition anywhere refuses all, naming it
    bad = fn("d", "replace")
    bad["if_exists"] = "overwrite"
    r = await c.post("/insert-functions", json={"functions": [fn("e", "replace"), bad]}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"] == "functions[1].if_exists"
    r = await c.post(
        "/insert-functions", json={"functions": [fn("e", "replace"), fn("e", "replace")]}, headers=h
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "functions[1].slug"
    r = await c.post("/insert-functions", json={"functions": {}}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["field"] == "functions"
    assert (await c.get("/v1/prompt", params={"project_id": pid, "slug": "e"}, headers=h)).json()[
        "objects"
    ] == []


def a_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("register.py", "import fns as _\n")
        zf.writestr("fns.py", "def add(a, b):\n    return a + b\n" + "#" * 3_000_000)
    return buf.getvalue()


async def test_code_bundle_upload_and_code_function(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    body = {"org_id": ll.org_id, "runtime_context": {"runtime": "python", "version": "3.11"}}
    r = await c.post("/function/code", json=body, headers=h)
    assert r.status_code == 200, r.text
    url, bundle_id = r.json()["url"], r.json()["bundleId"]
    assert url.startswith("http://loopline.test/function/bundle/")
    data = a_zip()
    up = await c.put(url, content=data)  # no Authorization: the URL authorises itself
    assert up.status_code == 200, up.text
    again = await c.put(url, content=data)
    assert again.status_code == 409  # one upload per bundle
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert (await c.put(forged, content=data)).status_code == 403
    bundles = state(ll).bundles
    assert await bundles.get(ll.org_id, bundle_id) == data
    assert await bundles.get(ll.org_id, bundle_id) == data  # from the file cache now
    pid = await project(ll)
    code_fn = {
        "project_id": pid,
        "name": "adder",
        "slug": "adder",
        "function_type": "tool",
        "function_data": {
            "type": "code",
            "data": {
                "type": "bundle",
                "bundle_id": bundle_id,
                "location": {"type": "function", "index": 0},
                "runtime_context": {"runtime": "python", "version": "3.11"},
                "preview": "def add(a, b): ...",
            },
        },
        "function_schema": {"parameters": {"type": "object"}},
        "if_exists": "replace",
    }
    r = await c.post("/insert-functions", json={"functions": [code_fn]}, headers=h)
    assert r.status_code == 200, r.text
    fid = r.json()["functions"][0]["id"]
    got = await c.get(f"/v1/function/{fid}/bundle", headers=h)
    assert got.status_code == 200 and got.content == data and got.headers["content-type"] == "application/zip"
    _, other_key = await ll.new_org("bundle-other-org")
    assert (
        await c.get(f"/v1/function/{fid}/bundle", headers={"Authorization": f"Bearer {other_key}"})
    ).status_code == 404
    prompt_id = (await c.post("/v1/prompt", json=chat_prompt(pid), headers=h)).json()["id"]
    assert (await c.get(f"/v1/function/{prompt_id}/bundle", headers=h)).status_code == 404
    # refusals: another org's id in the body, a bad runtime, a too-big bundle
    r = await c.post("/function/code", json={**body, "org_id": "someone-else"}, headers=h)
    assert r.status_code == 403 and r.json()["error"]["field"] == "org_id"
    r = await c.post(
        "/function/code", json={"runtime_context": {"runtime": "cobol", "version": "1"}}, headers=h
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "runtime_context"
    limit, bundles.max_bytes = bundles.max_bytes, 1000
    try:
        url2 = (await c.post("/function/code", json=body, headers=h)).json()["url"]
        assert (await c.put(url2, content=data)).status_code == 413
    finally:
        bundles.max_bytes = limit


async def test_resolve_for_the_runner(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pname = new_name()
    pid = await project(ll, pname)
    v1 = (await c.post("/v1/prompt", json=chat_prompt(pid), headers=h)).json()
    body = chat_prompt(pid)
    body["prompt_data"]["options"]["model"] = "gpt-4o"
    v2 = (await c.put("/v1/prompt", json=body, headers=h)).json()
    fs = state(ll).functions
    me = Principal(org_id=ll.org_id)
    got = await fs.resolve(me, FunctionRef(project_name=pname, slug="chat"))
    assert got.id == v1["id"] and got.xact_id == v2["_xact_id"]
    old = await fs.resolve(me, FunctionRef(function_id=v1["id"], version=v1["_xact_id"]))
    assert old.prompt_data is not None and old.prompt_data["options"]["model"] == "gpt-4o-mini"
    pretty = await fs.resolve(
        me, FunctionRef(project_name=pname, slug="chat", version=prettify_xact(v1["_xact_id"]))
    )
    assert pretty.xact_id == v1["_xact_id"]
    from loopline.common.errors import Invalid, NotFound

    with pytest.raises(NotFound, match="project 'nope'"):
        await fs.resolve(me, FunctionRef(project_name="nope", slug="chat"))
    with pytest.raises(NotFound, match="slug 'other'"):
        await fs.resolve(me, FunctionRef(project_name=pname, slug="other"))
    with pytest.raises(NotFound):
        await fs.resolve(Principal(org_id="another-org"), FunctionRef(function_id=v1["id"]))
    with pytest.raises(Invalid):
        await fs.resolve(me, FunctionRef(global_function="Levenshtein"))
    # a write in this process is seen at once (the cache is dropped)
    await c.delete(f"/v1/prompt/{v1['id']}", headers=h)
    with pytest.raises(NotFound):
        await fs.resolve(me, FunctionRef(project_name=pname, slug="chat"))


async def test_tenant_isolation_and_roles(ll: InProcess) -> None:
    c, h = ll.client, ll.headers
    pid = await project(ll)
    mine = (await c.post("/v1/prompt", json=chat_prompt(pid), headers=h)).json()
    other_org, other_key = await ll.new_org("fn-other-org")
    b = {"Authorization": f"Bearer {other_key}"}
    for kind in ("prompt", "function"):
        assert (await c.get(f"/v1/{kind}", headers=b)).json() == {"objects": []}
        assert (await c.get(f"/v1/{kind}", params={"ids": [mine["id"]]}, headers=b)).json() == {"objects": []}
        for method, body in (("GET", None), ("PATCH", {"description": "mine now"}), ("DELETE", None)):
            r = await c.request(method, f"/v1/{kind}/{mine['id']}", json=body, headers=b)
            assert r.status_code == 404, (kind, method, r.text)
    # another org cannot write into my project either
    r = await c.post("/v1/prompt", json=chat_prompt(pid, "theirs"), headers=b)
    assert r.status_code == 404 and r.json()["error"]["field"] == "project_id"
    r = await c.post(
        "/insert-functions",
        json={"functions": [{**chat_prompt(pid, "x"), "if_exists": "replace"}]},
        headers=b,
    )
    assert r.status_code == 404
    # nor use my bundles
    up = (
        await c.post(
            "/function/code", json={"runtime_context": {"runtime": "python", "version": "3.11"}}, headers=h
        )
    ).json()
    assert (await c.put(up["url"], content=b"PK\x05\x06" + b"\0" * 18)).status_code == 200
    from loopline.common.errors import NotFound

    with pytest.raises(NotFound):
        await state(ll).bundles.get(other_org, up["bundleId"])
    assert (await c.get(f"/v1/prompt/{mine['id']}", headers=h)).json()["description"] is None
    # roles: a viewer reads, a member writes
    viewer, _ = await ll.keys.create_key(ll.org_id, "viewer", role="viewer")
    member, _ = await ll.keys.create_key(ll.org_id, "member", role="member")
    v, m = {"Authorization": f"Bearer {viewer}"}, {"Authorization": f"Bearer {member}"}
    assert (await c.get(f"/v1/prompt/{mine['id']}", headers=v)).status_code == 200
    assert (await c.post("/v1/prompt", json=chat_prompt(pid, "v"), headers=v)).status_code == 403
    assert (
        await c.patch(f"/v1/prompt/{mine['id']}", json={"description": "x"}, headers=v)
    ).status_code == 403
    assert (
        await c.post(
            "/function/code", json={"runtime_context": {"runtime": "python", "version": "3"}}, headers=v
        )
    ).status_code == 403
    assert (await c.post("/v1/prompt", json=chat_prompt(pid, "m"), headers=m)).status_code == 200
