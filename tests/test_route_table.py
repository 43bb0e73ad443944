"""The gateway's routing table (`ServiceDef.routes`, read by runtime/proxy.py in distributed
mode) agrees with the services' routers: every route a service serves is forwarded to it and to
no other service, so a new route cannot work embedded (`loopline up`) and 404 distributed."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from loopline.common.settings import load_settings
from starlette.routing import BaseRoute

from loopline.runtime.app import build_context
from loopline.runtime.registry import ALL_SERVICES, service_def

# sample values for path parameters, several per name where a route's regex names a choice
_SAMPLES = {"object_type": ("experiment", "dataset", "project_logs")}


def concrete_paths(template: str) -> list[str]:
    """Example request paths for a route template ("/v1/{object_type}/{object_id}/fetch")."""
    paths = [template]
    for name in re.findall(r"{(\w+)(?::\w+)?}", template):
        values = _SAMPLES.get(name, ("x1",))
        paths = [re.sub(r"{" + name + r"(?::\w+)?}", v, p, count=1) for p in paths for v in values]
    return paths


def api_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[APIRoute]:
    """The API routes of a router, through the routers it includes (FastAPI keeps those as one
    entry each in `routes`); `path` of the ones yielded carries the include prefix."""
    for r in routes:
        included = getattr(r, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes, prefix + getattr(r.include_context, "prefix", ""))
        elif isinstance(r, APIRoute):
            yield r if not prefix else APIRoute(prefix + r.path, r.endpoint, methods=r.methods)


def served_paths(tmp_path: Path) -> dict[str, set[str]]:
    s = load_settings(data_dir=tmp_path, store_dsn=f"chdb://{tmp_path / 'ch'}")
    ctx = build_context(s, ALL_SERVICES)
    out: dict[str, set[str]] = {}
    for name in ALL_SERVICES:
        d = service_def(name)
        if d.router is None:
            continue
        out[name] = {p for r in api_routes(d.router(ctx).routes) for p in concrete_paths(r.path)}
    return out


def test_every_route_is_forwarded_to_its_own_service_only(tmp_path: Path) -> None:
    paths = served_paths(tmp_path)
    assert {"gateway", "ingest", "query"} <= set(paths)
    assert {"/v1/api_key", "/api/me", "/btql"} <= paths["gateway"] | paths["query"]  # included routers too
    tables = {n: [re.compile(p) for p in service_def(n).routes] for n in ALL_SERVICES}
    problems = []
    for name, served in sorted(paths.items()):
        for path in sorted(served):
            claims = sorted(n for n, pats in tables.items() if any(p.match(path) for p in pats))
            # the gateway serves its own routes: no service may claim them
            expected = [] if name == "gateway" else [name]
            if claims != expected:
                problems.append(f"{name} serves {path}, forwarded to {claims or 'nobody'}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/logs3", ["/logs3"]),
        ("/v1/{object_type}/{object_id}/fetch", ["/v1/experiment/x1/fetch", "/v1/dataset/x1/fetch"]),
    ],
)
def test_concrete_paths(template: str, expected: list[str]) -> None:
    assert set(expected) <= set(concrete_paths(template))
