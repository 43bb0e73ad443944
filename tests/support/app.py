"""An in-process Loopline app (real bus and embedded store) for service-level tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from loopline.common.service import ServiceContext, ServiceStates
from loopline.common.settings import load_settings
from loopline.common.testing import unique_database
from loopline.gateway.keys import KeyStore
from loopline.gateway.state import State as GatewayState

from loopline.runtime.app import build_app, build_context
from loopline.runtime.bootstrap import bootstrap_dev_key

ALL = ("gateway", "ingest", "writer", "query")


@dataclass
class InProcess:
    app: FastAPI
    ctx: ServiceContext
    client: httpx.AsyncClient
    api_key: str
    org_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def keys(self) -> KeyStore:
        """The gateway's key store (its state's)."""
        states: ServiceStates = self.app.state.services
        return states.get(GatewayState).keys

    async def new_org(self, name: str) -> tuple[str, str]:
        keys = self.keys
        org_id = await keys.ensure_org(name)
        key, _ = await keys.create_key(org_id, "test")
        return org_id, key

    async def make_project(self, org_id: str | None = None, name: str | None = None) -> str:
        """A project row written straight into the control plane table."""
        store = self.ctx.require_store()
        pid = str(uuid.uuid4())
        await store.insert(
            "projects",
            [[org_id or self.org_id, pid, name or f"p-{pid[:8]}", datetime.now(UTC), 1]],
            ["org_id", "id", "name", "created", "_version"],
        )
        return pid

    async def make_object(self, table: str, project_id: str, org_id: str | None = None) -> str:
        store = self.ctx.require_store()
        oid = str(uuid.uuid4())
        await store.insert(
            table,
            [[org_id or self.org_id, project_id, oid, f"o-{oid[:8]}", datetime.now(UTC), 1]],
            ["org_id", "project_id", "id", "name", "created", "_version"],
        )
        return oid


@asynccontextmanager
async def in_process(
    chdb_dsn: str, tmp_path: Path, services: tuple[str, ...] = ALL, **settings: Any
) -> AsyncIterator[InProcess]:
    # `database=` and `bootstrap_api_key=` of an earlier app reopen its store as it was (a restart)
    key = str(settings.pop("bootstrap_api_key", None) or f"sk-ll-{uuid.uuid4().hex}")
    s = load_settings(
        **{
            "data_dir": tmp_path / "data",
            "store_dsn": chdb_dsn,
            "database": unique_database("svc"),
            **settings,
        },
        bootstrap_api_key=key,
    )
    ctx = build_context(s, services)
    ids: dict[str, str] = {}

    async def ready(c: ServiceContext, states: ServiceStates) -> None:
        ids["org"], _ = await bootstrap_dev_key(c, states)

    app = build_app(ctx, on_ready=ready)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://loopline.test") as client,
    ):
        yield InProcess(app, ctx, client, key, ids["org"])
