"""Runs an app under uvicorn; SIGINT/SIGTERM stop it cleanly (workers drained, exit 0)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from loopline.common.logging import get_logger
from loopline.common.settings import Settings

from loopline.runtime.http_protocol import HttpLimits, LimitedHttpToolsProtocol

log = get_logger("loopline.server")


class _Server(uvicorn.Server):
    """uvicorn re-raises the stop signal after shutdown (exit -15); we stop cleanly and exit 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()

        def stop(sig: int) -> None:
            log.info("signal received; stopping", signal=signal.Signals(sig).name)
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def http_limits(settings: Settings) -> HttpLimits:
    return HttpLimits(
        head_timeout_s=settings.http_head_timeout_s,
        body_idle_timeout_s=settings.http_body_idle_timeout_s,
        max_head_bytes=settings.http_max_head_bytes,
        max_connections=settings.http_max_connections,
    )


def serve(app: FastAPI, host: str, port: int, limits: HttpLimits | None = None) -> int:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
        # asyncio's loop: under uvloop, chdb queries in the store's threads were seen to hang.
        loop="asyncio",
        # httptools (C parser; measured faster than h11 on /logs3, tests/bench/bench_ingest.py) with
        # head/body timeouts, a head size limit and a connection cap (runtime/http_protocol.py)
        http=LimitedHttpToolsProtocol.with_limits(limits or HttpLimits()),
        timeout_keep_alive=5,
    )
    server = _Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve())
    if not server.started:
        log.error("server failed to start")
        return 1
    return 0


def write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
