"""Control-plane objects: projects, experiments, datasets (owner of those tables).

Create-or-get is idempotent even across processes: a project's id is derived from (org, name)
and a dataset's from (org, project, name), so two racing creates produce the same row. New
experiments get random ids; `ensure_new` renames on a name clash (`name`, `name-1`, ...).
Every read and write is scoped to the caller's org; another org's ids look like missing ids.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.store import Store

_NS = uuid.UUID("6f1c3a2e-93a5-4c1e-9a61-1c7d0b5f9e42")


class CatalogError(Exception):
    def __init__(self, status: int, message: str, **where: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.where = where


def _now() -> datetime:
    return datetime.now(UTC)


def _version() -> int:
    return time.time_ns()


def _iso(dt: Any) -> Any:
    if isinstance(dt, datetime):
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat()
    return dt


def _json_or_none(text: str) -> Any:
    return orjson.loads(text) if text else None


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
    "created",
    "_version",
    "_is_deleted",
]


class Catalog:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _lock(self, *key: str) -> asyncio.Lock:
        k = (key[0], "/".join(key[1:]))
        if k not in self._locks:
            if len(self._locks) > 10_000:
                self._locks.clear()
            self._locks[k] = asyncio.Lock()
        return self._locks[k]

    async def _select(
        self, table: str, cols: list[str], where: str, params: dict[str, Any], extra: str = ""
    ) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(cols)} FROM {{db}}.{table} FINAL WHERE {where} {extra}"
        return await self.store.query_dicts(self.store.sql(sql), params)

    async def _get(self, table: str, cols: list[str], org_id: str, object_id: str) -> dict[str, Any] | None:
        rows = await self._select(
            table, cols, "org_id = {o:String} AND id = {i:String}", {"o": org_id, "i": object_id}
        )
        return rows[0] if rows else None

    async def _list(
        self, table: str, cols: list[str], org_id: str, project_id: str | None, name: str | None, limit: int
    ) -> list[dict[str, Any]]:
        where, params = "org_id = {o:String}", {"o": org_id}
        if project_id:
            where += " AND project_id = {p:String}"
            params["p"] = project_id
        if name:
            where += " AND name = {n:String}"
            params["n"] = name
        return await self._select(table, cols, where, params, f"ORDER BY created DESC LIMIT {int(limit)}")

    async def _soft_delete(
        self, table: str, cols: list[str], what: str, org_id: str, object_id: str
    ) -> dict[str, Any]:
        r = await self._get(table, cols, org_id, object_id)
        if r is None:
            raise CatalogError(404, f"{what} {object_id!r} does not exist")
        await self._write(table, cols, {**r, "_is_deleted": 1})
        return r

    async def _write(self, table: str, cols: list[str], row: dict[str, Any]) -> None:
        row = {**row, "_version": _version()}
        await self.store.insert(table, [[row.get(c) for c in cols]], cols)

    # -- projects ----------------------------------------------------------------------------
    @staticmethod
    def project_out(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": r["id"],
            "org_id": r["org_id"],
            "name": r["name"],
            "description": r["description"] or None,
            "created": _iso(r["created"]),
            "deleted_at": None,
            "user_id": r["user_id"] or None,
            "settings": _json_or_none(r["settings"]),
        }

    async def get_project(self, org_id: str, project_id: str) -> dict[str, Any] | None:
        return await self._get("projects", _PROJECT_COLS, org_id, project_id)

    async def project_by_name(self, org_id: str, name: str) -> dict[str, Any] | None:
        rows = await self._select(
            "projects",
            _PROJECT_COLS,
            "org_id = {o:String} AND name = {n:String}",
            {"o": org_id, "n": name},
            "ORDER BY created LIMIT 1",
        )
        return rows[0] if rows else None

    async def list_projects(
        self, org_id: str, name: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        where, params = "org_id = {o:String}", {"o": org_id}
        if name:
            where += " AND name = {n:String}"
            params["n"] = name
        return await self._select(
            "projects", _PROJECT_COLS, where, params, f"ORDER BY created DESC LIMIT {int(limit)}"
        )

    async def create_project(
        self, org_id: str, name: str, description: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Create-or-get by name; returns (project, found_existing)."""
        name = _check_name(name, "name")
        async with self._lock(org_id, "project", name):
            found = await self.project_by_name(org_id, name)
            if found is not None:
                return found, True
            pid = str(uuid.uuid5(_NS, f"{org_id}/project/{name}"))
            if await self.get_project(org_id, pid) is not None:  # that id was renamed away
                pid = str(uuid.uuid4())
            row = {
                "org_id": org_id,
                "id": pid,
                "name": name,
                "description": description or "",
                "settings": "",
                "user_id": "",
                "created": _now(),
                "_is_deleted": 0,
            }
            await self._write("projects", _PROJECT_COLS, row)
            return row, False

    async def patch_project(self, org_id: str, project_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        r = await self.get_project(org_id, project_id)
        if r is None:
            raise CatalogError(404, f"project {project_id!r} does not exist")
        if "name" in patch and patch["name"] is not None:
            new = _check_name(patch["name"], "name")
            other = await self.project_by_name(org_id, new)
            if other is not None and other["id"] != project_id:
                raise CatalogError(409, f"a project named {new!r} already exists", field="name")
            r["name"] = new
        if "description" in patch:
            r["description"] = patch["description"] or ""
        if "settings" in patch:
            r["settings"] = orjson.dumps(patch["settings"]).decode() if patch["settings"] is not None else ""
        await self._write("projects", _PROJECT_COLS, r)
        return r

    async def delete_project(self, org_id: str, project_id: str) -> dict[str, Any]:
        return await self._soft_delete("projects", _PROJECT_COLS, "project", org_id, project_id)

    async def resolve_project(
        self, org_id: str, project_id: Any, project_name: Any, *, create: bool
    ) -> dict[str, Any]:
        if isinstance(project_id, str) and project_id:
            p = await self.get_project(org_id, project_id)
            if p is None:
                raise CatalogError(404, f"project {project_id!r} does not exist", field="project_id")
            return p
        if isinstance(project_name, str) and project_name:
            if create:
                return (await self.create_project(org_id, project_name))[0]
            p = await self.project_by_name(org_id, project_name)
            if p is None:
                raise CatalogError(404, f"project {project_name!r} does not exist", field="project_name")
            return p
        raise CatalogError(400, "name the project with 'project_id' or 'project_name'", field="project_id")

    # -- experiments -------------------------------------------------------------------------
    @staticmethod
    def experiment_out(r: dict[str, Any]) -> dict[str, Any]:
        meta = _json_or_none(r["metadata"]) or {}
        out = {
            "id": r["id"],
            "project_id": r["project_id"],
            "name": r["name"],
            "description": r["description"] or None,
            "created": _iso(r["created"]),
            "repo_info": _json_or_none(r["repo_info"]),
            "base_exp_id": r["base_exp_id"] or None,
            "dataset_id": r["dataset_id"] or None,
            "dataset_version": r["dataset_version"] or None,
            "public": bool(r["public"]),
            "user_id": r["user_id"] or None,
            "deleted_at": None,
            "metadata": {k: v for k, v in meta.items() if k != "__tags"} or None,
            "tags": meta.get("__tags"),
        }
        return out

    async def get_experiment(self, org_id: str, experiment_id: str) -> dict[str, Any] | None:
        return await self._get("experiments", _EXPERIMENT_COLS, org_id, experiment_id)

    async def list_experiments(
        self, org_id: str, project_id: str | None = None, name: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return await self._list("experiments", _EXPERIMENT_COLS, org_id, project_id, name, limit)

    async def create_experiment(
        self, org_id: str, project: dict[str, Any], body: dict[str, Any], *, ensure_new: bool
    ) -> dict[str, Any]:
        name = body.get("name")
        if name is not None:
            name = _check_name(name, "name")
        base_id = body.get("base_exp_id")
        if base_id is not None and (
            not isinstance(base_id, str) or await self.get_experiment(org_id, base_id) is None
        ):
            raise CatalogError(400, f"base experiment {base_id!r} does not exist", field="base_exp_id")
        base_name = body.get("base_experiment")
        if base_id is None and isinstance(base_name, str) and base_name:
            found = await self.list_experiments(org_id, project["id"], base_name, limit=1)
            if not found:
                raise CatalogError(
                    400, f"base experiment {base_name!r} does not exist", field="base_experiment"
                )
            base_id = found[0]["id"]
        async with self._lock(org_id, "experiment", project["id"]):
            if name is None:
                name = f"experiment-{datetime.now(UTC):%Y%m%d-%H%M%S}"
            existing = await self.list_experiments(org_id, project["id"], name, limit=1)
            if existing and not ensure_new:
                return existing[0]
            if existing:
                taken = {
                    r["name"]
                    for r in await self._select(
                        "experiments",
                        ["name"],
                        "org_id = {o:String} AND project_id = {p:String} AND startsWith(name, {n:String})",
                        {"o": org_id, "p": project["id"], "n": name},
                    )
                }
                n = 1
                while f"{name}-{n}" in taken:
                    n += 1
                name = f"{name}-{n}"
            raw_meta = body.get("metadata")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            if isinstance(body.get("tags"), list):
                meta = {**meta, "__tags": body["tags"]}
            row = {
                "org_id": org_id,
                "project_id": project["id"],
                "id": str(uuid.uuid4()),
                "name": name,
                "description": body.get("description") or "",
                "base_exp_id": base_id or "",
                "dataset_id": body.get("dataset_id") or "",
                "dataset_version": str(body.get("dataset_version") or ""),
                "repo_info": orjson.dumps(body["repo_info"]).decode() if body.get("repo_info") else "",
                "metadata": orjson.dumps(meta).decode() if meta else "",
                "public": bool(body.get("public")),
                "user_id": "",
                "created": _now(),
                "_is_deleted": 0,
            }
            await self._write("experiments", _EXPERIMENT_COLS, row)
            return row

    async def default_base(self, org_id: str, exp: dict[str, Any]) -> dict[str, Any] | None:
        """The experiment's stored base, else the latest other experiment of its project before it."""
        if exp.get("base_exp_id"):
            base = await self.get_experiment(org_id, exp["base_exp_id"])
            if base is not None:
                return base
        older = await self._select(
            "experiments",
            _EXPERIMENT_COLS,
            "org_id = {o:String} AND project_id = {p:String} AND id != {i:String} AND created <= {c:DateTime64(6)}",
            {"o": org_id, "p": exp["project_id"], "i": exp["id"], "c": exp["created"]},
            "ORDER BY created DESC LIMIT 1",
        )
        return older[0] if older else None

    async def patch_experiment(
        self, org_id: str, experiment_id: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        r = await self.get_experiment(org_id, experiment_id)
        if r is None:
            raise CatalogError(404, f"experiment {experiment_id!r} does not exist")
        if patch.get("name") is not None:
            r["name"] = _check_name(patch["name"], "name")
        for f in ("description", "base_exp_id", "dataset_id"):
            if f in patch:
                r[f] = patch[f] or ""
        if "metadata" in patch:
            r["metadata"] = orjson.dumps(patch["metadata"]).decode() if patch["metadata"] else ""
        if "public" in patch:
            r["public"] = bool(patch["public"])
        await self._write("experiments", _EXPERIMENT_COLS, r)
        return r

    async def delete_experiment(self, org_id: str, experiment_id: str) -> dict[str, Any]:
        return await self._soft_delete("experiments", _EXPERIMENT_COLS, "experiment", org_id, experiment_id)

    # -- datasets ----------------------------------------------------------------------------
    @staticmethod
    def dataset_out(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": r["id"],
            "project_id": r["project_id"],
            "name": r["name"],
            "description": r["description"] or None,
            "created": _iso(r["created"]),
            "metadata": _json_or_none(r["metadata"]),
            "user_id": r["user_id"] or None,
            "deleted_at": None,
        }

    async def get_dataset(self, org_id: str, dataset_id: str) -> dict[str, Any] | None:
        return await self._get("datasets", _DATASET_COLS, org_id, dataset_id)

    async def list_datasets(
        self, org_id: str, project_id: str | None = None, name: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return await self._list("datasets", _DATASET_COLS, org_id, project_id, name, limit)

    async def create_dataset(
        self, org_id: str, project: dict[str, Any], body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        name = _check_name(body.get("name") or "logs", "name")
        async with self._lock(org_id, "dataset", project["id"], name):
            found = await self.list_datasets(org_id, project["id"], name, limit=1)
            if found:
                return found[0], True
            did = str(uuid.uuid5(_NS, f"{org_id}/dataset/{project['id']}/{name}"))
            if await self.get_dataset(org_id, did) is not None:
                did = str(uuid.uuid4())
            meta = body.get("metadata")
            row = {
                "org_id": org_id,
                "project_id": project["id"],
                "id": did,
                "name": name,
                "description": body.get("description") or "",
                "metadata": orjson.dumps(meta).decode() if meta else "",
                "user_id": "",
                "created": _now(),
                "_is_deleted": 0,
            }
            await self._write("datasets", _DATASET_COLS, row)
            return row, False

    async def patch_dataset(self, org_id: str, dataset_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        r = await self.get_dataset(org_id, dataset_id)
        if r is None:
            raise CatalogError(404, f"dataset {dataset_id!r} does not exist")
        if patch.get("name") is not None:
            r["name"] = _check_name(patch["name"], "name")
        if "description" in patch:
            r["description"] = patch["description"] or ""
        if "metadata" in patch:
            r["metadata"] = orjson.dumps(patch["metadata"]).decode() if patch["metadata"] else ""
        await self._write("datasets", _DATASET_COLS, r)
        return r

    async def delete_dataset(self, org_id: str, dataset_id: str) -> dict[str, Any]:
        return await self._soft_delete("datasets", _DATASET_COLS, "dataset", org_id, dataset_id)


def _check_name(v: Any, field: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise CatalogError(400, f"'{field}' must be a non-empty string", field=field)
    if len(v) > 1024:
        raise CatalogError(400, f"'{field}' is longer than 1024 characters", field=field)
    return v
