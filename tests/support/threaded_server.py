"""Serve an ASGI app on 127.0.0.1 from a thread of the test process, for a bounded time."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class ThreadedServer:
    """uvicorn on a free port of 127.0.0.1, in a daemon thread, stopped by `stop()` or after
    `max_lifetime_s` at the latest. `start()`/`stop()` or a context manager."""

    def __init__(self, app: Any, *, name: str = "asgi", max_lifetime_s: float = 600.0) -> None:
        self.app = app
        self.name = name
        self.max_lifetime_s = max_lifetime_s
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        self._sock = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} server did not start")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        server = self._server
        timer = threading.Timer(self.max_lifetime_s, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
        try:
            server.run(sockets=[self._sock])
        finally:
            timer.cancel()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
