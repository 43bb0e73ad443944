"""What services other than the gateway need of the control plane (projects, experiments,
datasets), as a small protocol with two implementations chosen by the runtime:

- in-process, when the gateway runs in the same process or the process's store holds the
  control-plane tables (`loopline.gateway.control_plane.LocalControlPlane`, built by the runtime);
- over HTTP (`HttpControlPlane`), calling the gateway's own `/v1/...` API with the caller's
  principal and the internal token (`LOOPLINE_SERVICE_URLS` names the gateway's URL).

So a service asks the same question in `loopline up` and in `loopline serve`, and never reads the
gateway's tables itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import httpx
import orjson
from loopline.common.auth import INTERNAL_TOKEN_HEADER, PRINCIPAL_HEADER, Principal
from loopline.common.store import StoreError


@dataclass(frozen=True)
class ObjectInfo:
    """A project, experiment or dataset as other services see it (a project is its own project)."""

    id: str
    name: str
    project_id: str


@dataclass(frozen=True)
class BaseExperiment:
    """The experiment another one is compared with by default."""

    id: str
    name: str


class ProjectLookup(Protocol):
    async def project_of(self, org_id: str, object_type: str, object_id: str) -> str | None:
        """The project `object_id` (of `object_type`, e.g. "experiment") belongs to, or None when
        it does not exist in the org. Raises `StoreError` when that cannot be known now."""
        ...


class ControlPlane(ProjectLookup, Protocol):
    async def project_id_by_name(self, principal: Principal, name: str) -> str:
        """The id of the org's project called `name`, created if there is none. Raises
        `ControlPlaneRefused` for a name the control plane refuses, `StoreError` when it cannot
        answer now."""
        ...

    async def project_by_name(self, org_id: str, name: str) -> ObjectInfo | None:
        """The org's project called `name`, or None when there is none (never creates one)."""
        ...

    async def object_info(self, org_id: str, object_type: str, object_id: str) -> ObjectInfo | None:
        """The org's project, experiment or dataset `object_id` (`object_type` "project",
        "experiment" or "dataset"), or None when the org has none such."""
        ...

    async def base_experiment(self, org_id: str, experiment_id: str) -> BaseExperiment | None:
        """The experiment `experiment_id` (which must exist) is compared with by default: its
        stored base, else the latest other experiment of its project before it; None if neither."""
        ...


class ControlPlaneRefused(Exception):
    """The control plane answered with a client error (`status` 4xx) for this question."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_NEGATIVE_TTL_S = 1.0
_POSITIVE_TTL_S = 30.0


class CachedProjectLookup:
    """(org, object_type, object_id) → project id or None, with the answers cached.

    An object's project never changes, but an object can be deleted: positive answers are cached
    for 30 s (so a deleted object stops accepting writes within that), negative answers for 1 s
    (the object may be being created). Subclasses say where an answer comes from (`_fetch`).
    """

    def __init__(self) -> None:
        self._hit: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._miss: dict[tuple[str, str, str], float] = {}

    async def _fetch(self, org_id: str, object_type: str, object_id: str) -> str | None:
        raise NotImplementedError

    async def project_of(self, org_id: str, object_type: str, object_id: str) -> str | None:
        key = (org_id, object_type, object_id)
        hit = self._hit.get(key)
        if hit is not None and time.monotonic() - hit[0] < _POSITIVE_TTL_S:
            return hit[1]
        missed = self._miss.get(key)
        if missed is not None and time.monotonic() - missed < _NEGATIVE_TTL_S:
            return None
        project_id = await self._fetch(org_id, object_type, object_id)
        if project_id is None:
            if len(self._miss) > 100_000:
                self._miss.clear()
            self._miss[key] = time.monotonic()
            return None
        if len(self._hit) > 1_000_000:
            self._hit.clear()
        self._hit[key] = (time.monotonic(), project_id)
        return project_id


class ControlPlaneUnavailable(StoreError):
    """The gateway could not be reached or could not answer (retry later: HTTP 503)."""


# object type → the gateway route that reads it; project-scoped objects are their project
_GET_PATHS = {"experiment": "/v1/experiment/", "dataset": "/v1/dataset/"}
_INFO_PATHS = {**_GET_PATHS, "project": "/v1/project/"}


class HttpControlPlane(CachedProjectLookup):
    """`ControlPlane` through the gateway's HTTP API (distributed mode)."""

    def __init__(
        self,
        gateway_url: str,
        internal_token: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,  # e.g. an in-process app, in tests
    ) -> None:
        super().__init__()
        self.base = gateway_url.rstrip("/")
        self.internal_token = internal_token
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0), transport=transport)

    async def close(self) -> None:
        await self._client.aclose()

    def _headers(self, principal: Principal) -> dict[str, str]:
        return {PRINCIPAL_HEADER: principal.model_dump_json(), INTERNAL_TOKEN_HEADER: self.internal_token}

    async def _call(
        self, method: str, path: str, principal: Principal, body: object = None
    ) -> httpx.Response:
        try:
            r = await self._client.request(
                method,
                self.base + path,
                headers=self._headers(principal),
                content=None if body is None else orjson.dumps(body),
            )
        except httpx.HTTPError as exc:
            raise ControlPlaneUnavailable(f"the gateway at {self.base} is unreachable: {exc}") from exc
        if r.status_code >= 500 or r.status_code in (401, 403):  # 401/403: misconfigured token
            raise ControlPlaneUnavailable(f"the gateway answered {r.status_code} to {method} {path}")
        return r

    async def _fetch(self, org_id: str, object_type: str, object_id: str) -> str | None:
        path = _GET_PATHS.get(object_type, "/v1/project/") + quote(object_id, safe="")
        r = await self._call("GET", path, Principal(org_id=org_id))
        if r.status_code != 200:
            return None  # 404 (not the org's) or an id the gateway refuses to look up
        body = r.json()
        return str(body["project_id"] if object_type in _GET_PATHS else body["id"])

    async def project_id_by_name(self, principal: Principal, name: str) -> str:
        r = await self._call("POST", "/v1/project", principal, {"name": name})
        if r.status_code != 200:
            raise ControlPlaneRefused(r.status_code, _error_message(r))
        return str(r.json()["id"])

    async def project_by_name(self, org_id: str, name: str) -> ObjectInfo | None:
        r = await self._call(
            "GET", "/v1/project?project_name=" + quote(name, safe=""), Principal(org_id=org_id)
        )
        objects = r.json().get("objects") if r.status_code == 200 else None
        if not objects:
            return None
        return ObjectInfo(str(objects[0]["id"]), str(objects[0]["name"]), str(objects[0]["id"]))

    async def object_info(self, org_id: str, object_type: str, object_id: str) -> ObjectInfo | None:
        path = _INFO_PATHS[object_type] + quote(object_id, safe="")
        r = await self._call("GET", path, Principal(org_id=org_id))
        if r.status_code != 200:
            return None  # 404 (not the org's) or an id the gateway refuses to look up
        body = r.json()
        return ObjectInfo(str(body["id"]), str(body["name"]), str(body.get("project_id") or body["id"]))

    async def base_experiment(self, org_id: str, experiment_id: str) -> BaseExperiment | None:
        r = await self._call(
            "POST", "/api/base_experiment/get_id", Principal(org_id=org_id), {"id": experiment_id}
        )
        if r.status_code != 200:
            return None  # the gateway answers 400 for "no base experiment"
        body = r.json()
        return BaseExperiment(str(body["base_exp_id"]), str(body["base_exp_name"]))


def _error_message(r: httpx.Response) -> str:
    try:
        err = r.json().get("error")
        return str(err.get("message") if isinstance(err, dict) else err)
    except ValueError:
        return r.text[:200]
