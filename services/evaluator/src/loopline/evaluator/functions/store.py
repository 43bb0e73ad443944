"""The prompts and functions of every org (owner of the `functions` table).

Every write appends a version: a row keyed by (org, project, id, `_xact_id`), so each old version
stays readable ("the object as of transaction X" = the newest version at or below X). A delete
appends a version marked deleted; a deleted object is gone for every read, old versions included.
Slugs are unique among a project's live objects (checked under a per-project lock in this
process). Every read and write is scoped by the caller's org: another org's id is "not found".

`resolve` is what the function runner and the eval workers use: a `FunctionRef` by id (+version)
or by project name + slug (+version) → the `FunctionRecord` to run. Unpinned answers are cached
for a second (this process's writes drop them at once); pinned versions never change.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.auth import Principal
from loopline.common.control_plane import ControlPlane, ControlPlaneRefused
from loopline.common.errors import Conflict, Invalid, NotFound
from loopline.common.messages.eval_jobs import FunctionRef
from loopline.common.store import Store
from loopline.common.xact import XactIdGenerator, format_xact
from loopline.evaluator.functions.records import FunctionRecord, check_definition, check_patch
from loopline.evaluator.functions.versions import parse_version

COLUMNS = [
    "org_id",
    "project_id",
    "id",
    "_xact_id",
    "slug",
    "name",
    "function_type",
    "is_prompt",
    "created",
    "user_id",
    "doc",
    "_is_deleted",
]
#: the fields kept in the `doc` JSON column (the others have columns of their own)
DOC_FIELDS = ("description", "tags", "metadata", "function_data", "prompt_data", "function_schema", "origin")
MAX_LIMIT = 1000
_CACHE_TTL_S = 1.0


def _iso(dt: datetime) -> str:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


def _record(r: Mapping[str, Any]) -> FunctionRecord:
    doc = orjson.loads(r["doc"]) if r["doc"] else {}
    return FunctionRecord.model_validate(
        {
            "id": r["id"],
            "org_id": r["org_id"],
            "project_id": r["project_id"],
            "_xact_id": format_xact(int(r["_xact_id"])),
            "name": r["name"],
            "slug": r["slug"],
            "function_type": r["function_type"] or None,
            "created": _iso(r["created"]),
            "user_id": r["user_id"] or None,
            **{k: doc.get(k) for k in DOC_FIELDS},
        }
    )


@dataclass(frozen=True)
class Page:
    """Braintrust list paging: newest first, at most one of the two cursors (object ids)."""

    limit: int = 100
    starting_after: str | None = None
    ending_before: str | None = None


@dataclass(frozen=True)
class Filters:
    project_id: str | None = None
    slug: str | None = None
    name: str | None = None
    ids: tuple[str, ...] = ()
    function_type: str | None = None
    prompts_only: bool = False  # `/v1/prompt`: objects with prompt_data
    version: int | None = None  # as of this transaction


class FunctionStore:
    def __init__(self, store: Store, control_plane: ControlPlane, xact: XactIdGenerator) -> None:
        self.store = store
        self.control_plane = control_plane
        self.xact = xact
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._cache: dict[tuple[Any, ...], tuple[float, FunctionRecord]] = {}

    # -- reads ---------------------------------------------------------------------------------
    async def _select(
        self, org_id: str, f: Filters, tail: str = "", extra: str = "", **params: Any
    ) -> list[FunctionRecord]:
        inner = "org_id = {o:String}"
        outer = "_is_deleted = 0"
        p: dict[str, Any] = {"o": org_id, **params}
        if f.project_id is not None:
            inner += " AND project_id = {p:String}"
            p["p"] = f.project_id
        if f.ids:
            inner += " AND id IN {ids:Array(String)}"
            p["ids"] = list(f.ids)
        at = ""
        if f.version is not None:  # as of then (a deleted object stays gone: `gone` sees every row)
            at = "AND _xact_id <= {v:UInt64}"
            p["v"] = f.version
        if f.slug is not None:
            outer += " AND slug = {slug:String}"
            p["slug"] = f.slug
        if f.name is not None:
            outer += " AND name = {name:String}"
            p["name"] = f.name
        if f.function_type is not None:
            outer += " AND function_type = {ft:String}"
            p["ft"] = f.function_type
        if f.prompts_only:
            outer += " AND is_prompt = 1"
        cols = ", ".join(COLUMNS)
        # newest version per id (at or below `version`); no IN-subquery on the table itself, which a
        # ClickHouse cluster's Distributed table would refuse
        sql = (
            f"SELECT {cols} FROM (SELECT {cols} FROM (SELECT {cols}, max(_is_deleted) OVER (PARTITION BY id)"
            f" AS gone FROM {{db}}.functions WHERE {inner}) WHERE gone = 0 {at}"
            f" ORDER BY id, _xact_id DESC LIMIT 1 BY id) WHERE {outer} {extra} {tail}"
        )
        rows = await self.store.query_dicts(self.store.sql(sql), p)
        return [_record(r) for r in rows]

    async def get(self, org_id: str, function_id: str, version: int | None = None) -> FunctionRecord:
        found = await self._select(org_id, Filters(ids=(function_id,), version=version))
        if not found:
            at = "" if version is None else f" at version {version}"
            raise NotFound(f"no function {function_id!r}{at} in this organization", field="id")
        return found[0]

    async def by_slug(
        self, org_id: str, project_id: str, slug: str, version: int | None = None
    ) -> FunctionRecord | None:
        found = await self._select(
            org_id, Filters(project_id=project_id, slug=slug, version=version), "ORDER BY created, id LIMIT 1"
        )
        return found[0] if found else None

    async def find(self, org_id: str, f: Filters, page: Page = Page()) -> list[FunctionRecord]:
        """The live objects matching `f`, newest first (by creation), paged."""
        limit = max(0, min(page.limit, MAX_LIMIT))
        cursor = page.starting_after or page.ending_before
        extra, params = "", {}
        if cursor:
            field = "starting_after" if page.starting_after else "ending_before"
            try:
                cur = await self.get(org_id, cursor)
            except NotFound:
                raise Invalid(f"{field}: no function {cursor!r} in this organization", field=field) from None
            op = "<" if page.starting_after else ">"
            extra = f"AND (created, id) {op} (toDateTime64({{cc:String}}, 6, 'UTC'), {{ci:String}})"
            params = {"cc": cur.created.replace("T", " ").removesuffix("Z"), "ci": cur.id}
        order = "ASC" if page.ending_before else "DESC"
        found = await self._select(
            org_id, f, f"ORDER BY created {order}, id {order} LIMIT {limit}", extra, **params
        )
        if page.ending_before:
            found.reverse()
        return found

    # -- project names -------------------------------------------------------------------------
    async def project_id(
        self, principal: Principal, project_id: Any, project_name: Any, *, create: bool
    ) -> str | None:
        """The org's project named by id (checked) or by name (created when `create`); None when
        a name names no project and `create` is off."""
        if isinstance(project_id, str) and project_id:
            info = await self.control_plane.object_info(principal.org_id, "project", project_id)
            if info is None:
                raise NotFound(f"project {project_id!r} does not exist", field="project_id")
            return info.id
        if isinstance(project_name, str) and project_name:
            if create:
                try:
                    return await self.control_plane.project_id_by_name(principal, project_name)
                except ControlPlaneRefused as exc:
                    raise Invalid(exc.message, field="project_name") from exc
            found = await self.control_plane.project_by_name(principal.org_id, project_name)
            return None if found is None else found.id
        if project_id is not None or project_name is not None:
            raise Invalid("'project_id' must be a non-empty string", field="project_id")
        raise Invalid("name the project with 'project_id' (or 'project_name')", field="project_id")

    # -- writes --------------------------------------------------------------------------------
    def _lock(self, org_id: str, project_id: str) -> asyncio.Lock:
        key = (org_id, project_id)
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _next_xact(self, after: str | None) -> int:
        x = self.xact.next()
        if after is not None and x <= int(after):  # another process wrote it in the same second
            x = int(after) + 1
            self.xact.observe(x)
        return x

    async def _write(
        self,
        org_id: str,
        project_id: str,
        function_id: str,
        fields: Mapping[str, Any],
        *,
        created: datetime,
        user_id: str,
        after: str | None,
        deleted: bool = False,
    ) -> FunctionRecord:
        xact = self._next_xact(after)
        doc = {k: fields.get(k) for k in DOC_FIELDS}
        is_prompt = 1 if fields.get("prompt_data") is not None else 0
        row = [
            org_id,
            project_id,
            function_id,
            xact,
            fields["slug"],
            fields["name"],
            fields.get("function_type") or "",
            is_prompt,
            created,
            user_id,
            orjson.dumps(doc).decode(),
            1 if deleted else 0,
        ]
        await self.store.insert("functions", [row], COLUMNS)
        self._cache.clear()
        return _record(dict(zip(COLUMNS, row, strict=True)))

    async def _revise(
        self, principal: Principal, cur: FunctionRecord, fields: Mapping[str, Any], *, deleted: bool = False
    ) -> FunctionRecord:
        """A new version of `cur` with `fields` (its id, project and creation time kept)."""
        return await self._write(
            principal.org_id,
            cur.project_id,
            cur.id,
            fields,
            created=datetime.fromisoformat(cur.created),
            user_id=principal.user_id,
            after=cur.xact_id,
            deleted=deleted,
        )

    async def create(
        self,
        principal: Principal,
        project_id: str,
        body: Mapping[str, Any],
        *,
        if_exists: str = "ignore",
        prompt: bool = False,
    ) -> tuple[FunctionRecord, bool]:
        """A new function in `project_id`; when the slug is taken, by `if_exists`: `ignore` returns
        the existing one unmodified (POST), `replace` writes a new version of it (PUT), `error`
        refuses (409). Returns (the object, whether it existed)."""
        fields = check_definition(body, prompt=prompt)
        async with self._lock(principal.org_id, project_id):
            existing = await self.by_slug(principal.org_id, project_id, fields["slug"])
            if existing is not None:
                if if_exists == "ignore":
                    return existing, True
                if if_exists == "error":
                    raise Conflict(
                        f"a function with slug {fields['slug']!r} already exists in this project",
                        field="slug",
                    )
                return await self._revise(principal, existing, fields), True
            rec = await self._write(
                principal.org_id,
                project_id,
                str(uuid.uuid4()),
                fields,
                created=datetime.now(UTC),
                user_id=principal.user_id,
                after=None,
            )
            # another process may have created the slug at the same time: the oldest object
            # keeps it (every racer sees the same one), the others withdraw theirs
            winner = await self.by_slug(principal.org_id, project_id, fields["slug"])
            if winner is None or winner.id == rec.id:
                return rec, False
            await self._revise(principal, rec, rec.model_dump(), deleted=True)
            if if_exists == "error":
                raise Conflict(
                    f"a function with slug {fields['slug']!r} already exists in this project", field="slug"
                )
            if if_exists == "replace":
                return await self._revise(principal, winner, fields), True
            return winner, True

    async def patch(self, principal: Principal, function_id: str, body: Mapping[str, Any]) -> FunctionRecord:
        cur = await self.get(principal.org_id, function_id)
        async with self._lock(principal.org_id, cur.project_id):
            cur = await self.get(principal.org_id, function_id)
            fields = check_patch(body, cur)
            if fields["slug"] != cur.slug:
                taken = await self.by_slug(principal.org_id, cur.project_id, fields["slug"])
                if taken is not None and taken.id != cur.id:
                    raise Conflict(
                        f"slug {fields['slug']!r} is taken by function {taken.id!r} in this project",
                        field="slug",
                    )
            return await self._revise(principal, cur, fields)

    async def delete(self, principal: Principal, function_id: str) -> FunctionRecord:
        cur = await self.get(principal.org_id, function_id)
        await self._revise(principal, cur, cur.model_dump(), deleted=True)
        return cur

    # -- for the runner ------------------------------------------------------------------------
    async def resolve(self, principal: Principal, ref: FunctionRef) -> FunctionRecord:
        """The stored function `ref` names: by `function_id` (+`version`) or by `project_name` +
        `slug` (+`version`). `NotFound` when the org has no such function (or project); `Invalid`
        for a bad version or a reference to something that is not stored (global functions,
        inline code and prompts: the runner handles those without the store)."""
        version = None if ref.version is None else parse_version(ref.version)
        if ref.function_id is not None:
            key: tuple[Any, ...] = (principal.org_id, "id", ref.function_id, version)
        elif ref.project_name is not None and ref.slug is not None:
            key = (principal.org_id, "slug", ref.project_name, ref.slug, version)
        else:
            raise Invalid(
                "only functions by function_id or by project_name + slug are stored; global, "
                "inline and prompt-session functions are run without the function store",
                field="function_id",
            )
        hit = self._cache.get(key)
        if hit is not None and (version is not None or time.monotonic() - hit[0] < _CACHE_TTL_S):
            return hit[1]
        if ref.function_id is not None:
            rec = await self.get(principal.org_id, ref.function_id, version)
        else:
            assert ref.project_name is not None and ref.slug is not None
            rec = await self.by_project_slug(principal, ref.project_name, ref.slug, version)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic(), rec)
        return rec

    async def by_project_slug(
        self, principal: Principal, project_name: str, slug: str, version: int | None = None
    ) -> FunctionRecord:
        """The function `slug` of the org's project called `project_name` (NotFound naming which
        part is missing)."""
        project = await self.control_plane.project_by_name(principal.org_id, project_name)
        if project is None:
            raise NotFound(f"project {project_name!r} does not exist", field="project_name")
        rec = await self.by_slug(principal.org_id, project.id, slug, version)
        if rec is None:
            at = "" if version is None else f" at version {version}"
            raise NotFound(f"no function with slug {slug!r}{at} in project {project_name!r}", field="slug")
        return rec

    async def many(self, org_id: str, ids: Sequence[str]) -> list[FunctionRecord]:
        """The live objects among `ids` (missing ones left out)."""
        return await self._select(org_id, Filters(ids=tuple(ids))) if ids else []
