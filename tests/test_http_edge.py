"""The HTTP edge under hostile clients: a real uvicorn server with Loopline's protocol and error
boundary, driven over raw sockets on 127.0.0.1.

- an unhandled error answers a JSON 500 and keeps the keep-alive connection (and the requests
  pipelined behind it) alive;
- slowloris heads, stalled bodies, bodies shorter than their Content-Length, idle sockets: closed
  by the head/body timeouts, while other clients keep being served;
- oversized heads: 431; bad chunking and garbage request lines: 400;
- more connections than the cap: 503 for the extra ones, not a starved process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from loopline.common.http import install_http_basics
from loopline.common.store import StoreError, StoreQueryError

from loopline.runtime.http_protocol import HttpLimits, LimitedHttpToolsProtocol
from tests.support.running import free_port

pytestmark = pytest.mark.timeout(120)

LIMITS = HttpLimits(head_timeout_s=1.0, body_idle_timeout_s=1.0, max_head_bytes=8 * 1024, max_connections=64)


def _app() -> FastAPI:
    app = FastAPI()
    install_http_basics(app)

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("a bug")

    @app.get("/store-refused")
    async def store_refused() -> dict[str, str]:
        raise StoreQueryError(
            "HTTPDriver received ClickHouse error: Code: 117. DB::Exception: Cannot insert data into "
            "JSON column: Duplicate path found: a.b. In scope SELECT secret FROM t. (INCORRECT_DATA)",
            117,
        )

    @app.get("/store-down")
    async def store_down() -> dict[str, str]:
        raise StoreError("Connection refused")

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        _app(),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        loop="asyncio",
        http=LimitedHttpToolsProtocol.with_limits(LIMITS),
        timeout_keep_alive=5,
    )
    srv = uvicorn.Server(config)
    srv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def _connect(addr: str) -> socket.socket:
    host, port = addr.split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.settimeout(5)
    return s


def _read_all(s: socket.socket) -> bytes:
    out = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := s.recv(65536):
            out += chunk
    return out


def _closed_by_server(s: socket.socket, within_s: float) -> tuple[bool, bytes]:
    """True if the server closes the socket within `within_s`; what it sent before that."""
    s.settimeout(within_s)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
        return True, data
    except ConnectionResetError:
        return True, data
    except TimeoutError:
        return False, data


def _healthy(addr: str) -> bool:
    return httpx.get(f"http://{addr}/ok", timeout=2).status_code == 200


def test_unhandled_error_is_a_json_500_and_keeps_the_connection(server: str) -> None:
    with httpx.Client(base_url=f"http://{server}", timeout=5) as c:
        for _ in range(5):
            r = c.get("/boom")
            assert r.status_code == 500
            assert r.json()["error"]["status"] == 500
            assert r.headers.get("connection", "").lower() != "close"
            assert c.get("/ok").status_code == 200
    # pipelined on one socket: the request behind the failing one is still answered
    s = _connect(server)
    s.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    deadline = time.monotonic() + 5
    while b'"ok"' not in data and time.monotonic() < deadline:
        data += s.recv(65536)
    s.close()
    assert data.startswith(b"HTTP/1.1 500")
    assert b"HTTP/1.1 200" in data and b'"ok"' in data


def test_store_errors_are_a_422_when_refused_and_a_503_when_down(server: str) -> None:
    with httpx.Client(base_url=f"http://{server}", timeout=5) as c:
        r = c.get("/store-refused")
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["code"] == 117
        assert "Duplicate path found: a.b" in err["message"]
        assert "SELECT secret" not in err["message"]
        r = c.get("/store-down")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"


def test_slowloris_heads_are_cut_off_and_others_are_served(server: str) -> None:
    socks = [_connect(server) for _ in range(20)]
    for s in socks:
        s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n")  # never finishes the head
    t0 = time.monotonic()
    assert _healthy(server)
    for s in socks:
        with contextlib.suppress(OSError):
            s.sendall(b"X-Slow: 1\r\n")  # trickle: the head timeout counts from the head's start
    closed = [_closed_by_server(s, within_s=LIMITS.head_timeout_s * 5) for s in socks]
    assert all(c for c, _ in closed)
    assert all(d.startswith(b"HTTP/1.1 408") for _, d in closed)
    assert time.monotonic() - t0 < LIMITS.head_timeout_s * 6
    assert _healthy(server)
    for s in socks:
        s.close()


def test_idle_connections_are_closed(server: str) -> None:
    socks = [_connect(server) for _ in range(30)]
    assert _healthy(server)
    results = [_closed_by_server(s, within_s=LIMITS.head_timeout_s * 5) for s in socks]
    assert all(c and d == b"" for c, d in results)
    for s in socks:
        s.close()


def test_stalled_body_and_short_content_length_time_out_with_408(server: str) -> None:
    s = _connect(server)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    closed, data = _closed_by_server(s, within_s=LIMITS.body_idle_timeout_s * 5)
    s.close()
    assert closed
    assert data.startswith(b"HTTP/1.1 408")
    assert _healthy(server)


def test_complete_bodies_still_work(server: str) -> None:
    with httpx.Client(base_url=f"http://{server}", timeout=5) as c:
        assert c.post("/echo", content=b"x" * 1_000_000).json() == {"n": 1_000_000}
        chunks = (b"y" * 1000 for _ in range(50))
        assert c.post("/echo", content=chunks).json() == {"n": 50_000}


def test_oversized_head_is_431(server: str) -> None:
    s = _connect(server)
    s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (LIMITS.max_head_bytes + 10) + b"\r\n\r\n")
    data = _read_all(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 431")
    s = _connect(server)
    s.sendall(b"GET /" + b"p" * (LIMITS.max_head_bytes + 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    data = _read_all(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 431")
    assert _healthy(server)


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"\x00\x01\x02 garbage \xff\r\n\r\n",
        b"GET /ok HTTP/9.9\r\nHost: x\r\n\r\n",
    ],
    ids=["bad-chunk-size", "chunked-and-length", "negative-length", "two-lengths", "garbage", "bad-version"],
)
def test_bad_framing_is_400(server: str, raw: bytes) -> None:
    s = _connect(server)
    s.sendall(raw)
    data = _read_all(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 400"), data[:200]
    assert _healthy(server)


def test_connections_beyond_the_cap_get_503(server: str) -> None:
    socks = [_connect(server) for _ in range(LIMITS.max_connections + 10)]
    time.sleep(0.3)
    refused = 0
    for s in socks:
        s.settimeout(0.2)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            if s.recv(100).startswith(b"HTTP/1.1 503"):
                refused += 1
    assert refused >= 10
    for s in socks:
        s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if _healthy(server):
                return
        time.sleep(0.1)
    pytest.fail("server did not recover after the connection flood")
