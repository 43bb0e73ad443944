"""Runs an app under uvicorn; SIGINT/SIGTERM stop it cleanly (workers drained, exit 0)."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import uvicorn
from fastapi import FastAPI
from loopline.common.logging import get_logger

log = get_logger("loopline.server")


def serve(app: FastAPI, host: str, port: int) -> int:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
        loop="asyncio",
        http="h11",
    )
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve())
    if not server.started:
        log.error("server failed to start")
        return 1
    return 0


def write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
