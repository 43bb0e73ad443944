"""uvicorn's httptools protocol with the limits a public HTTP edge needs.

uvicorn (0.54) arms no timer while a request's head or body is being received and sets no limit
on header size or on the number of open connections, so a slow or idle client holds a
connection (and, mid-body, a request task) forever:

- **head timeout**: a connection must deliver a complete request head (request line and
  headers) within `head_timeout_s` of opening or of starting a request. A client that sent part
  of a head gets `408` and the connection is closed; a connection that sent nothing is closed
  (slowloris, idle sockets).
- **body idle timeout**: while a request body is being received, at most `body_idle_timeout_s`
  may pass without a byte. Time spent while the server itself paused reading (backpressure of a
  busy handler) does not count. The handler sees a disconnect; the client gets `408` if no
  response had started.
- **header size**: the request line and headers together may hold `max_head_bytes`; beyond it the
  answer is `431` and the connection is closed.
- **connections**: at most `max_connections` open at once; a connection beyond that gets `503`
  with `Retry-After` and is closed at once, so idle connections cannot starve the process of file
  descriptors. Idle ones are reaped by the timeouts above and uvicorn's keep-alive timeout.

Malformed framing (bad chunked encoding, invalid request line, a body longer than its
`Content-Length` followed by garbage) is refused by the parser with `400` as before; a body
shorter than its `Content-Length` ends with the body idle timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

#: Request body bytes buffered for the handler before the connection stops reading (uvicorn: 64 KiB).
BODY_HIGH_WATER_BYTES: Final = 512 * 1024


@dataclass(frozen=True, slots=True)
class HttpLimits:
    head_timeout_s: float = 10.0
    body_idle_timeout_s: float = 30.0
    max_head_bytes: int = 64 * 1024
    max_connections: int = 4096


def _raw_response(status: int, reason: str, message: str, *extra: tuple[str, str]) -> bytes:
    body = orjson.dumps({"error": {"status": status, "message": message}})
    head = [f"HTTP/1.1 {status} {reason}", "content-type: application/json"]
    head += [f"{k}: {v}" for k, v in extra]
    head += [f"content-length: {len(body)}", "connection: close", "", ""]
    return "\r\n".join(head).encode() + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with head/body timeouts, a head size limit and a connection cap."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._in_head = False
        self._in_body = False
        self._bytes_seen = False

    @classmethod
    def with_limits(cls, limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
        """A subclass bound to `limits` (uvicorn builds protocols from a class)."""
        return type("LimitedHttpToolsProtocol", (cls,), {"limits": limits})

    # -- timers --------------------------------------------------------------------------------

    def _arm(self, delay: float, handler: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, handler)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, raw: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(raw)
            self.transport.close()

    def _head_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._in_head and self._bytes_seen:
            self._refuse(_raw_response(408, "Request Timeout", "the request head was not received in time"))
        else:
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing() or not self._in_body:
            return
        if self.flow is not None and self.flow.read_paused:
            # the server paused reading (the handler is busy): not the client's fault
            self._arm(self.limits.body_idle_timeout_s, self._body_timed_out)
            return
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(
                _raw_response(408, "Request Timeout", "the request body was not received in time")
            )
        self.transport.close()

    # -- protocol callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(
                _raw_response(503, "Service Unavailable", "too many open connections", ("retry-after", "1"))
            )
            return
        self._arm(self.limits.head_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused above (431/503/408): nothing more is read
        self._bytes_seen = True
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        # a callback that refused the request (431) already answered; the parser error that
        # its exception raised must not write a second response
        if not self.transport.is_closing():
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_head = True
        self._in_body = False
        self._arm(self.limits.head_timeout_s, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.limits.max_head_bytes:
            self._disarm()
            self._refuse(
                _raw_response(
                    431,
                    "Request Header Fields Too Large",
                    f"the request line and headers exceed {self.limits.max_head_bytes} bytes",
                )
            )
            # stop the parser from calling back into a request that will never run
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._in_body = True
        self._arm(self.limits.body_idle_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._in_body:
            self._arm(self.limits.body_idle_timeout_s, self._body_timed_out)
        # uvicorn's own `on_body` with a higher mark before reading pauses: at its 64 KiB an SDK
        # batch (≈ 370 KB, read 256 KiB at a time) paused and resumed the socket twice per
        # request, two epoll changes and one more wake-up of the handler each time. Every route
        # that takes a body reads it whole anyway (`ingest.body.read_body`).
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.body += body
        if len(cycle.body) > BODY_HIGH_WATER_BYTES:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        super().on_message_complete()


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools aborts parsing (the connection is closing)."""
