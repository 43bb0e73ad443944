"""Control-plane objects: projects, experiments, datasets (owner of those tables).

`Catalog` is a plain module over the Store; the gateway's routers are thin wrappers around it, and
other services reach it only through the `ControlPlane` protocol (`loopline.common.control_plane`;
in-process: `loopline.gateway.control_plane.LocalControlPlane`). Its errors are the domain kinds of
`loopline.common.errors` (`NotFound`, `Invalid`, `Conflict`): no HTTP here.

- Every read and write is scoped to the caller's org: another org's ids look like missing ids.
- Create-or-get is idempotent even across processes: a project's id is derived from (org, name)
  and a dataset's from (org, project, name), so two racing creates produce the same row. An id
  is never reused once its object was deleted (re-creating a deleted name gets a fresh id, so
  the old object's rows do not reappear).
- New experiments get random ids; `ensure_new` renames on a name clash (`name`, `name-1`, ...).
  The base experiment is resolved at creation (explicit `base_exp_id`, else `base_experiment`
  by name, else the newest experiment whose commit is among `ancestor_commits`, else the newest
  experiment of the project) and stored, so the create response carries `base_exp_id` and the
  SDK's `Eval` compares against it.
- Lookups by id (`get_project`, `get_experiment`, `get_dataset`) and project-by-name are cached
  per process and store (positive answers only, a few seconds; writes through any Catalog of the
  process invalidate them at once), so per-request resolution by other services is cheap. This is
  the only cache over the control-plane tables: other services of the process ask through
  `LocalControlPlane`, whose Catalog the gateway's routes use too.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.errors import Conflict, Invalid, NotFound
from loopline.common.store import Store
from loopline.gateway.models import (
    CreateDataset,
    CreateExperiment,
    PatchDataset,
    PatchExperiment,
    PatchProject,
)

_NS = uuid.UUID("6f1c3a2e-93a5-4c1e-9a61-1c7d0b5f9e42")
CACHE_TTL_S = 5.0
MAX_LIMIT = 1000


@dataclass(frozen=True)
class ListParams:
    """Braintrust-style list pagination: newest first; `starting_after` / `ending_before` are ids
    (at most one of them). The HTTP edge checks what a client sends (`gateway.edge.page_params`)."""

    limit: int = 100
    starting_after: str | None = None
    ending_before: str | None = None
    ids: tuple[str, ...] = ()


def _now() -> datetime:
    return datetime.now(UTC)


def _version() -> int:
    return time.time_ns()


def _iso(dt: Any) -> Any:
    if isinstance(dt, datetime):
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat()
    return dt


def _json_or_none(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def _dumps(v: Any) -> str:
    return orjson.dumps(v).decode() if v else ""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "dataset"


_PROJECT_COLS = [
    "org_id",
    "id",
    "name",
    "description",
    "settings",
    "user_id",
    "created",
    "_version",
    "_is_deleted",
]
_EXPERIMENT_COLS = [
    "org_id",
    "project_id",
    "id",
    "name",
    "description",
    "base_exp_id",
    "dataset_id",
    "dataset_version",
    "repo_info",
    "metadata",
    "public",
    "user_id",
    "tags",
    "parameters_id",
    "parameters_version",
    "created",
    "_version",
    "_is_deleted",
]
_DATASET_COLS = [
    "org_id",
    "project_id",
    "id",
    "name",
    "description",
    "metadata",
    "user_id",
    "tags",
    "created",
    "_version",
    "_is_deleted",
]
_COLS = {"projects": _PROJECT_COLS, "experiments": _EXPERIMENT_COLS, "datasets": _DATASET_COLS}
_WHAT = {"projects": "project", "experiments": "experiment", "datasets": "dataset"}

# process-wide positive cache shared by every Catalog over the same store:
# (store, kind, org_id, key) -> (time cached, row)
_cache: dict[tuple[str, str, str, str], tuple[float, dict[str, Any]]] = {}


class Catalog:
    def __init__(self, store: Store, *, cache_ttl_s: float = CACHE_TTL_S) -> None:
        self.store = store
        self.cache_ttl_s = cache_ttl_s
        self._store_key = f"{store.dsn}#{store.database}"
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

    # -- plumbing --------------------------------------------------------------------------
    def _lock(self, *key: str) -> asyncio.Lock:
        if key not in self._locks:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            self._locks[key] = asyncio.Lock()
        return self._locks[key]

    def _cached(self, kind: str, org_id: str, key: str) -> dict[str, Any] | None:
        hit = _cache.get((self._store_key, kind, org_id, key))
        if hit is None or time.monotonic() - hit[0] > self.cache_ttl_s:
            return None
        return dict(hit[1])

    def _remember(self, kind: str, org_id: str, key: str, row: dict[str, Any]) -> None:
        if len(_cache) > 100_000:
            _cache.clear()
        _cache[(self._store_key, kind, org_id, key)] = (time.monotonic(), dict(row))

    def _forget(self, kind: str, org_id: str, key: str) -> None:
        _cache.pop((self._store_key, kind, org_id, key), None)

    async def _select(
        self, table: str, where: str, params: dict[str, Any], extra: str = ""
    ) -> list[dict[str, Any]]:
        cols = _COLS[table]
        sql = f"SELECT {', '.join(cols)} FROM {{db}}.{table} FINAL WHERE {where} {extra}"
        return await self.store.query_dicts(self.store.sql(sql), params)

    async def _get(self, table: str, org_id: str, object_id: str) -> dict[str, Any] | None:
        if not object_id:
            return None
        hit = self._cached(table, org_id, object_id)
        if hit is not None:
            return hit
        rows = await self._select(
            table, "org_id = {o:String} AND id = {i:String}", {"o": org_id, "i": object_id}
        )
        if not rows:
            return None
        self._remember(table, org_id, object_id, rows[0])
        return rows[0]

    async def _id_ever_used(self, table: str, org_id: str, object_id: str) -> bool:
        """True if any version of this id exists, deleted ones included (no FINAL)."""
        _, rows = await self.store.query(
            self.store.sql(
                f"SELECT 1 FROM {{db}}.{table} WHERE org_id = {{o:String}} AND id = {{i:String}} LIMIT 1"
            ),
            {"o": org_id, "i": object_id},
        )
        return bool(rows)

    async def _list(
        self, table: str, org_id: str, page: ListParams, filters: dict[str, str | None]
    ) -> list[dict[str, Any]]:
        where, params = "org_id = {o:String}", dict[str, Any](o=org_id)
        for col, value in filters.items():
            if value:
                where += f" AND {col} = {{f_{col}:String}}"
                params[f"f_{col}"] = value
        if page.ids:
            where += " AND id IN {ids:Array(String)}"
            params["ids"] = list(page.ids)
        cursor = page.starting_after or page.ending_before
        if cursor:
            if await self._get(table, org_id, cursor) is None:
                field = "starting_after" if page.starting_after else "ending_before"
                raise Invalid(f"{field}: {_WHAT[table]} {cursor!r} does not exist", field=field)
            op = "<" if page.starting_after else ">"
            where += (
                f" AND (created, id) {op} (SELECT created, id FROM {{db}}.{table} FINAL"
                " WHERE org_id = {o:String} AND id = {cur:String} LIMIT 1)"
            )
            params["cur"] = cursor
        order = "ASC" if page.ending_before else "DESC"
        rows = await self._select(
            table, where, params, f"ORDER BY created {order}, id {order} LIMIT {int(page.limit)}"
        )
        if page.ending_before:
            rows.reverse()
        return rows

    async def _write(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        row = {**row, "_version": _version()}
        cols = _COLS[table]
        if "tags" in cols and row.get("tags") is None:
            row["tags"] = []
        await self.store.insert(table, [[row.get(c) for c in cols]], cols)
        self._forget(table, row["org_id"], row["id"])
        return row

    async def _soft_delete(self, table: str, org_id: str, object_id: str) -> dict[str, Any]:
        r = await self._get(table, org_id, object_id)
        if r is None:
            raise NotFound(f"{_WHAT[table]} {object_id!r} does not exist")
        await self._write(table, {**r, "_is_deleted": 1})
        return {**r, "_deleted_at": _now()}

    # -- projects ----------------------------------------------------------------------------
    @staticmethod
    def project_out(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": r["id"],
            "org_id": r["org_id"],
            "name": r["name"],
            "description": r["description"] or None,
            "created": _iso(r["created"]),
            "deleted_at": _iso(r.get("_deleted_at")),
            "user_id": r["user_id"] or None,
            "settings": _json_or_none(r["settings"]),
        }

    async def get_project(self, org_id: str, project_id: str) -> dict[str, Any] | None:
        return await self._get("projects", org_id, project_id)

    async def project_by_name(self, org_id: str, name: str) -> dict[str, Any] | None:
        hit = self._cached("projects@name", org_id, name)
        if hit is not None:
            return hit
        rows = await self._select(
            "projects",
            "org_id = {o:String} AND name = {n:String}",
            {"o": org_id, "n": name},
            "ORDER BY created LIMIT 1",
        )
        if not rows:
            return None
        self._remember("projects@name", org_id, name, rows[0])
        return rows[0]

    async def list_projects(
        self, org_id: str, name: str | None = None, limit: int = 100, *, page: ListParams | None = None
    ) -> list[dict[str, Any]]:
        return await self._list("projects", org_id, page or ListParams(limit), {"name": name})

    async def create_project(
        self, org_id: str, name: str, description: str | None = None, user_id: str = ""
    ) -> tuple[dict[str, Any], bool]:
        """Create-or-get by name; returns (project, found_existing)."""
        name = _check_name(name, "name")
        found = await self.project_by_name(org_id, name)
        if found is not None:
            return found, True
        async with self._lock(org_id, "project", name):
            found = await self.project_by_name(org_id, name)
            if found is not None:
                return found, True
            pid = str(uuid.uuid5(_NS, f"{org_id}/project/{name}"))
            if await self._id_ever_used("projects", org_id, pid):  # deleted or renamed away
                pid = str(uuid.uuid4())
            row = await self._write(
                "projects",
                {
                    "org_id": org_id,
                    "id": pid,
                    "name": name,
                    "description": description or "",
                    "settings": "",
                    "user_id": user_id,
                    "created": _now(),
                    "_is_deleted": 0,
                },
            )
            self._remember("projects@name", org_id, name, row)
            return row, False

    async def patch_project(self, org_id: str, project_id: str, patch: PatchProject) -> dict[str, Any]:
        r = await self.get_project(org_id, project_id)
        if r is None:
            raise NotFound(f"project {project_id!r} does not exist")
        old_name = r["name"]
        fields = patch.model_fields_set
        if patch.name is not None and patch.name != old_name:
            other = await self.project_by_name(org_id, patch.name)
            if other is not None and other["id"] != project_id:
                raise Conflict(f"a project named {patch.name!r} already exists", field="name")
            r["name"] = patch.name
        if "description" in fields:
            r["description"] = patch.description or ""
        if "settings" in fields:
            r["settings"] = _dumps(patch.settings)
        r = await self._write("projects", r)
        self._forget("projects@name", org_id, old_name)
        return r

    async def delete_project(self, org_id: str, project_id: str) -> dict[str, Any]:
        """Soft-delete a project and, with it, its experiments and datasets."""
        r = await self._soft_delete("projects", org_id, project_id)
        self._forget("projects@name", org_id, r["name"])
        for table in ("experiments", "datasets"):
            children = await self._select(
                table, "org_id = {o:String} AND project_id = {p:String}", {"o": org_id, "p": project_id}
            )
            if children:
                cols = _COLS[table]
                v = _version()
                await self.store.insert(
                    table, [[{**c, "_is_deleted": 1, "_version": v}[k] for k in cols] for c in children], cols
                )
                for c in children:
                    self._forget(table, org_id, c["id"])
        return r

    async def resolve_project(
        self, org_id: str, project_id: Any, project_name: Any, *, create: bool
    ) -> dict[str, Any]:
        """The project named by id (must exist in the org) or by name (created when `create`)."""
        if isinstance(project_id, str) and project_id:
            p = await self.get_project(org_id, project_id)
            if p is None:
                raise NotFound(f"project {project_id!r} does not exist", field="project_id")
            return p
        if isinstance(project_name, str) and project_name:
            if create:
                return (await self.create_project(org_id, project_name))[0]
            p = await self.project_by_name(org_id, project_name)
            if p is None:
                raise NotFound(f"project {project_name!r} does not exist", field="project_name")
            return p
        raise Invalid("name the project with 'project_id' or 'project_name'", field="project_id")

    # -- experiments -------------------------------------------------------------------------
    @staticmethod
    def experiment_out(r: dict[str, Any]) -> dict[str, Any]:
        meta = _json_or_none(r["metadata"]) or {}
        legacy_tags = meta.pop("__tags", None) if isinstance(meta, dict) else None
        repo_info = _json_or_none(r["repo_info"])
        return {
            "id": r["id"],
            "project_id": r["project_id"],
            "name": r["name"],
            "description": r["description"] or None,
            "created": _iso(r["created"]),
            "repo_info": repo_info,
            "commit": repo_info.get("commit") if isinstance(repo_info, dict) else None,
            "base_exp_id": r["base_exp_id"] or None,
            "deleted_at": _iso(r.get("_deleted_at")),
            "dataset_id": r["dataset_id"] or None,
            "dataset_version": r["dataset_version"] or None,
            "parameters_id": r.get("parameters_id") or None,
            "parameters_version": r.get("parameters_version") or None,
            "public": bool(r["public"]),
            "user_id": r["user_id"] or None,
            "metadata": meta or None,
            "tags": list(r.get("tags") or []) or legacy_tags or None,
        }

    async def get_experiment(self, org_id: str, experiment_id: str) -> dict[str, Any] | None:
        return await self._get("experiments", org_id, experiment_id)

    async def list_experiments(
        self,
        org_id: str,
        project_id: str | None = None,
        name: str | None = None,
        limit: int = 100,
        *,
        page: ListParams | None = None,
    ) -> list[dict[str, Any]]:
        return await self._list(
            "experiments", org_id, page or ListParams(limit), {"project_id": project_id, "name": name}
        )

    async def _resolve_base(
        self, org_id: str, project_id: str, body: CreateExperiment | PatchExperiment
    ) -> str | None:
        """An explicitly requested base experiment (id or name), checked; None if none asked."""
        if body.base_exp_id:
            if await self.get_experiment(org_id, body.base_exp_id) is None:
                raise Invalid(f"base experiment {body.base_exp_id!r} does not exist", field="base_exp_id")
            return body.base_exp_id
        base_name = getattr(body, "base_experiment", None)
        if base_name:
            found = await self.list_experiments(org_id, project_id, base_name, limit=1)
            if not found:
                # the legacy SDK retries without `base_experiment` on an error naming it
                raise Invalid(f"base experiment {base_name!r} does not exist", field="base_experiment")
            return str(found[0]["id"])
        return None

    async def _implicit_base(
        self, org_id: str, project_id: str, ancestor_commits: Sequence[str] | None
    ) -> str | None:
        if ancestor_commits:
            commits = [c for c in ancestor_commits if isinstance(c, str) and c][:1000]
            rows = await self.store.query_dicts(
                self.store.sql(
                    "SELECT id, JSONExtractString(repo_info, 'commit') AS commit FROM {db}.experiments FINAL "
                    "WHERE org_id = {o:String} AND project_id = {p:String} "
                    "AND JSONExtractString(repo_info, 'commit') IN {cs:Array(String)} "
                    "ORDER BY created DESC"
                ),
                {"o": org_id, "p": project_id, "cs": commits},
            )
            if rows:  # the nearest ancestor wins; the newest experiment on that commit
                rank = {c: i for i, c in reversed(list(enumerate(commits)))}
                return str(min(rows, key=lambda r: rank[r["commit"]])["id"])
        latest = await self.list_experiments(org_id, project_id, limit=1)
        return str(latest[0]["id"]) if latest else None

    async def _check_dataset_ref(self, org_id: str, dataset_id: str | None) -> None:
        if dataset_id and await self.get_dataset(org_id, dataset_id) is None:
            raise Invalid(f"dataset {dataset_id!r} does not exist", field="dataset_id")

    async def create_experiment(
        self,
        org_id: str,
        project: dict[str, Any],
        body: CreateExperiment,
        *,
        ensure_new: bool,
        user_id: str = "",
    ) -> dict[str, Any]:
        pid = str(project["id"])
        base_id = await self._resolve_base(org_id, pid, body)
        await self._check_dataset_ref(org_id, body.dataset_id)
        async with self._lock(org_id, "experiment", pid):
            name = body.name or f"experiment-{datetime.now(UTC):%Y%m%d-%H%M%S}"
            existing = await self.list_experiments(org_id, pid, name, limit=1)
            if existing and not ensure_new:
                return existing[0]
            if existing:
                name = await self._unused_name(org_id, pid, name)
            if base_id is None:
                base_id = await self._implicit_base(org_id, pid, body.ancestor_commits)
            return await self._write(
                "experiments",
                {
                    "org_id": org_id,
                    "project_id": pid,
                    "id": str(uuid.uuid4()),
                    "name": name,
                    "description": body.description or "",
                    "base_exp_id": base_id or "",
                    "dataset_id": body.dataset_id or "",
                    "dataset_version": str(body.dataset_version or ""),
                    "repo_info": _dumps(body.repo_info),
                    "metadata": _dumps(body.metadata),
                    "public": bool(body.public),
                    "user_id": user_id,
                    "tags": list(body.tags or []),
                    "parameters_id": body.parameters_id or "",
                    "parameters_version": str(body.parameters_version or ""),
                    "created": _now(),
                    "_is_deleted": 0,
                },
            )

    async def _unused_name(self, org_id: str, project_id: str, name: str) -> str:
        _, rows = await self.store.query(
            self.store.sql(
                "SELECT name FROM {db}.experiments FINAL WHERE org_id = {o:String} "
                "AND project_id = {p:String} AND startsWith(name, {n:String})"
            ),
            {"o": org_id, "p": project_id, "n": name},
        )
        taken = {r[0] for r in rows}
        n = 1
        while f"{name}-{n}" in taken:
            n += 1
        return f"{name}-{n}"

    async def default_base(self, org_id: str, exp: dict[str, Any]) -> dict[str, Any] | None:
        """The experiment's stored base, else the latest other experiment of its project before it."""
        if exp.get("base_exp_id"):
            base = await self.get_experiment(org_id, exp["base_exp_id"])
            if base is not None:
                return base
        older = await self._select(
            "experiments",
            "org_id = {o:String} AND project_id = {p:String} AND id != {i:String} AND created <= "
            "(SELECT created FROM {db}.experiments FINAL WHERE org_id = {o:String} AND id = {i:String})",
            {"o": org_id, "p": exp["project_id"], "i": exp["id"]},
            "ORDER BY created DESC LIMIT 1",
        )
        return older[0] if older else None

    async def patch_experiment(
        self, org_id: str, experiment_id: str, patch: PatchExperiment
    ) -> dict[str, Any]:
        r = await self.get_experiment(org_id, experiment_id)
        if r is None:
            raise NotFound(f"experiment {experiment_id!r} does not exist")
        fields = patch.model_fields_set
        if patch.name is not None and patch.name != r["name"]:
            clash = await self.list_experiments(org_id, r["project_id"], patch.name, limit=1)
            if clash:
                raise Conflict(
                    f"an experiment named {patch.name!r} already exists in this project", field="name"
                )
            r["name"] = patch.name
        if "base_exp_id" in fields:
            if patch.base_exp_id == experiment_id:
                raise Invalid("an experiment cannot be its own base", field="base_exp_id")
            r["base_exp_id"] = await self._resolve_base(org_id, r["project_id"], patch) or ""
        if "dataset_id" in fields:
            await self._check_dataset_ref(org_id, patch.dataset_id)
            r["dataset_id"] = patch.dataset_id or ""
        for f in ("description", "dataset_version", "parameters_id", "parameters_version"):
            if f in fields:
                v = getattr(patch, f)
                r[f] = "" if v is None else str(v)
        if "repo_info" in fields:
            r["repo_info"] = _dumps(patch.repo_info)
        if "metadata" in fields:
            r["metadata"] = _dumps(patch.metadata)
        if "tags" in fields:
            r["tags"] = list(patch.tags or [])
        if "public" in fields:
            r["public"] = bool(patch.public)
        return await self._write("experiments", r)

    async def delete_experiment(self, org_id: str, experiment_id: str) -> dict[str, Any]:
        return await self._soft_delete("experiments", org_id, experiment_id)

    # -- datasets ----------------------------------------------------------------------------
    @staticmethod
    def dataset_out(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": r["id"],
            "project_id": r["project_id"],
            "name": r["name"],
            "description": r["description"] or None,
            "created": _iso(r["created"]),
            "deleted_at": _iso(r.get("_deleted_at")),
            "user_id": r["user_id"] or None,
            "metadata": _json_or_none(r["metadata"]),
            "tags": list(r.get("tags") or []) or None,
            "url_slug": _slug(r["name"]),
        }

    async def get_dataset(self, org_id: str, dataset_id: str) -> dict[str, Any] | None:
        return await self._get("datasets", org_id, dataset_id)

    async def list_datasets(
        self,
        org_id: str,
        project_id: str | None = None,
        name: str | None = None,
        limit: int = 100,
        *,
        page: ListParams | None = None,
    ) -> list[dict[str, Any]]:
        return await self._list(
            "datasets", org_id, page or ListParams(limit), {"project_id": project_id, "name": name}
        )

    async def create_dataset(
        self, org_id: str, project: dict[str, Any], body: CreateDataset, user_id: str = ""
    ) -> tuple[dict[str, Any], bool]:
        """Create-or-get by (project, name); the name defaults to "logs" like the SDK's."""
        pid = str(project["id"])
        name = body.name or "logs"
        async with self._lock(org_id, "dataset", pid, name):
            found = await self.list_datasets(org_id, pid, name, limit=1)
            if found:
                return found[0], True
            did = str(uuid.uuid5(_NS, f"{org_id}/dataset/{pid}/{name}"))
            if await self._id_ever_used("datasets", org_id, did):
                did = str(uuid.uuid4())
            row = await self._write(
                "datasets",
                {
                    "org_id": org_id,
                    "project_id": pid,
                    "id": did,
                    "name": name,
                    "description": body.description or "",
                    "metadata": _dumps(body.metadata),
                    "user_id": user_id,
                    "tags": list(body.tags or []),
                    "created": _now(),
                    "_is_deleted": 0,
                },
            )
            return row, False

    async def patch_dataset(self, org_id: str, dataset_id: str, patch: PatchDataset) -> dict[str, Any]:
        r = await self.get_dataset(org_id, dataset_id)
        if r is None:
            raise NotFound(f"dataset {dataset_id!r} does not exist")
        fields = patch.model_fields_set
        if patch.name is not None and patch.name != r["name"]:
            if await self.list_datasets(org_id, r["project_id"], patch.name, limit=1):
                raise Conflict(f"a dataset named {patch.name!r} already exists in this project", field="name")
            r["name"] = patch.name
        if "description" in fields:
            r["description"] = patch.description or ""
        if "metadata" in fields:
            r["metadata"] = _dumps(patch.metadata)
        if "tags" in fields:
            r["tags"] = list(patch.tags or [])
        return await self._write("datasets", r)

    async def delete_dataset(self, org_id: str, dataset_id: str) -> dict[str, Any]:
        return await self._soft_delete("datasets", org_id, dataset_id)


def _check_name(v: Any, field: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise Invalid(f"'{field}' must be a non-empty string", field=field)
    if len(v) > 1024:
        raise Invalid(f"'{field}' is longer than 1024 characters", field=field)
    return v
