"""Project scores in Braintrust's `/v1/project_score` shape (owner of `project_scores`).

Every read and write is scoped by the caller's org: another org's id is "not found". A score with
`score_type: "online"` is an online-scoring rule (config.py); `active_rules` is what the consumer
reads, through a 1 s cache that this process's own writes drop at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from loopline.common.errors import Invalid, NotFound
from loopline.common.store import Store
from loopline.evaluator.online.config import ONLINE, OnlineConfig, ScoreBody, parse_body, parse_online
from loopline.evaluator.online.scorers import ScorerCheck

COLUMNS = [
    "org_id",
    "project_id",
    "id",
    "name",
    "description",
    "score_type",
    "categories",
    "config",
    "user_id",
    "created",
    "_version",
    "_is_deleted",
]
CACHE_S = 1.0
MAX_LIST = 1000


def _iso(dt: datetime) -> str:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


def _json(v: Any) -> str:
    return "" if v is None else orjson.dumps(v).decode()


@dataclass(frozen=True)
class ProjectScore:
    org_id: str
    project_id: str
    id: str
    body: ScoreBody
    user_id: str
    created: datetime

    @property
    def online(self) -> OnlineConfig | None:
        return self.body.online

    def public(self) -> dict[str, Any]:
        b = self.body
        return {
            "id": self.id,
            "project_id": self.project_id,
            "user_id": self.user_id or None,
            "created": _iso(self.created),
            "name": b.name,
            "description": b.description,
            "score_type": b.score_type,
            "categories": b.categories,
            "config": b.config,
            "position": None,
        }

    def row(self, deleted: int = 0) -> list[Any]:
        b = self.body
        return [
            self.org_id,
            self.project_id,
            self.id,
            b.name,
            b.description or "",
            b.score_type,
            _json(b.categories),
            _json(b.config),
            self.user_id,
            self.created,
            time.time_ns(),
            deleted,
        ]


def _from_row(r: Mapping[str, Any]) -> ProjectScore:
    config = orjson.loads(r["config"]) if r["config"] else None
    online = None
    if r["score_type"] == "online" and config is not None:
        # stored configs were validated when saved; a filter is re-checked only at scoring time
        online = parse_online(config.get("online"), r["project_id"])
    body = ScoreBody(
        name=r["name"],
        score_type=r["score_type"],
        description=r["description"] or None,
        categories=orjson.loads(r["categories"]) if r["categories"] else None,
        config=config,
        online=online,
    )
    return ProjectScore(r["org_id"], r["project_id"], r["id"], body, r["user_id"], r["created"])


class RuleStore:
    def __init__(self, store: Store, check: ScorerCheck | None = None) -> None:
        self.store = store
        self.check = check  # function scorers must exist when a rule is saved
        self._cache: dict[tuple[str, str], tuple[float, list[ProjectScore]]] = {}
        self._by_id: dict[tuple[str, str], tuple[float, ProjectScore | None]] = {}
        self._reading: dict[tuple[str, str], asyncio.Future[list[ProjectScore]]] = {}

    async def _select(self, org_id: str, where: str, params: Mapping[str, Any]) -> list[ProjectScore]:
        rows = await self.store.query_dicts(
            self.store.sql(
                f"SELECT {', '.join(COLUMNS[:10])} FROM {{db}}.project_scores FINAL "
                f"WHERE org_id = {{o:String}} {where} ORDER BY created, id"
            ),
            {"o": org_id, **params},
        )
        return [_from_row(r) for r in rows]

    async def _write(self, s: ProjectScore, deleted: int = 0) -> None:
        await self.store.insert("project_scores", [s.row(deleted)], COLUMNS)
        self._cache.pop((s.org_id, s.project_id), None)
        self._by_id.pop((s.org_id, s.id), None)

    async def get(self, org_id: str, score_id: str) -> ProjectScore:
        found = await self._select(org_id, "AND id = {i:String}", {"i": score_id})
        if not found:
            raise NotFound(f"no project score {score_id!r}", field="project_score_id")
        return found[0]

    async def find(
        self,
        org_id: str,
        *,
        project_id: str | None = None,
        name: str | None = None,
        score_types: tuple[str, ...] = (),
        ids: tuple[str, ...] = (),
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> list[ProjectScore]:
        where = ""
        params: dict[str, Any] = {}
        if project_id is not None:
            where += " AND project_id = {p:String}"
            params["p"] = project_id
        if name is not None:
            where += " AND name = {n:String}"
            params["n"] = name
        if score_types:
            where += " AND score_type IN {t:Array(String)}"
            params["t"] = list(score_types)
        if ids:
            where += " AND id IN {ids:Array(String)}"
            params["ids"] = list(ids)
        out = await self._select(org_id, where, params)
        if starting_after is not None:
            pos = next((i for i, s in enumerate(out) if s.id == starting_after), None)
            if pos is None:
                raise Invalid(
                    f"starting_after {starting_after!r} is not in this list", field="starting_after"
                )
            out = out[pos + 1 :]
        if ending_before is not None:
            pos = next((i for i, s in enumerate(out) if s.id == ending_before), None)
            if pos is None:
                raise Invalid(f"ending_before {ending_before!r} is not in this list", field="ending_before")
            out = out[:pos]
        return out[: limit or MAX_LIST]

    async def create(
        self, org_id: str, project_id: str, body: Mapping[str, Any], user_id: str, *, replace: bool
    ) -> ProjectScore:
        """POST: the project's score of that name unmodified if there is one, else a new one.
        PUT (`replace`): that score replaced by `body` (same id), else a new one."""
        parsed = parse_body(body, project_id)
        existing = await self.find(org_id, project_id=project_id, name=parsed.name)
        if existing and not replace:
            return existing[0]
        await self.check_scorers(org_id, parsed)
        if existing:
            old = existing[0]
            new = ProjectScore(org_id, project_id, old.id, parsed, old.user_id, old.created)
        else:
            new = ProjectScore(org_id, project_id, str(uuid.uuid4()), parsed, user_id, datetime.now(UTC))
        await self._write(new)
        return new

    async def update(self, org_id: str, score_id: str, body: Mapping[str, Any]) -> ProjectScore:
        old = await self.get(org_id, score_id)
        parsed = parse_body(body, old.project_id, base=old.body)
        # only scorers the change adds: a rule whose function was deleted can still be paused
        await self.check_scorers(org_id, parsed, old.body)
        if parsed.name != old.body.name and await self.find(
            org_id, project_id=old.project_id, name=parsed.name
        ):
            raise Invalid(f"the project already has a score named {parsed.name!r}", field="name")
        new = ProjectScore(org_id, old.project_id, old.id, parsed, old.user_id, old.created)
        await self._write(new)
        return new

    async def check_scorers(self, org_id: str, body: ScoreBody, old: ScoreBody | None = None) -> None:
        """`Invalid` naming `config.online.scorers[i]` for a function scorer the org cannot run."""
        if self.check is None or body.online is None:
            return
        had = {s.key for s in old.online.scorers} if old is not None and old.online is not None else set()
        for i, s in enumerate(body.online.scorers):
            if s.key in had:
                continue
            reason = await self.check(org_id, s)
            if reason is not None:
                raise Invalid(f"scorer {s.key} cannot run: {reason}", field=f"{ONLINE}.scorers[{i}]")

    async def delete(self, org_id: str, score_id: str) -> ProjectScore:
        old = await self.get(org_id, score_id)
        await self._write(old, deleted=1)
        return old

    async def active_rules(self, org_id: str, project_id: str) -> list[ProjectScore]:
        """The project's active online rules (cached for `CACHE_S`)."""
        key = (org_id, project_id)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < CACHE_S:
            return hit[1]
        rules = await self._select(
            org_id, "AND project_id = {p:String} AND score_type = 'online'", {"p": project_id}
        )
        active = [r for r in rules if r.online is not None and r.online.active]
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = (now, active)
        return active

    async def cached_rule(self, org_id: str, score_id: str) -> ProjectScore | None:
        """The score `score_id` as it is now (cached for `CACHE_S`), or None when deleted."""
        key = (org_id, score_id)
        hit = self._by_id.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < CACHE_S:
            return hit[1]
        running = self._reading.get(key)
        if running is None:  # one read per rule however many items ask at once
            running = self._reading[key] = asyncio.ensure_future(
                self._select(org_id, "AND id = {i:String}", {"i": score_id})
            )
            running.add_done_callback(lambda _: self._reading.pop(key, None))
        found = await asyncio.shield(running)
        if len(self._by_id) > 100_000:
            self._by_id.clear()
        self._by_id[key] = (now, found[0] if found else None)
        return found[0] if found else None
