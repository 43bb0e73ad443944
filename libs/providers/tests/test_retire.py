"""`Retirer`: a replaced client is closed later, or at once when its owner stops."""

from __future__ import annotations

import asyncio

from loopline.providers.retire import Retirer


class _Client:
    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


async def test_a_retired_client_is_closed_after_the_delay() -> None:
    r = Retirer(after_s=0.01)
    c = _Client()
    r.retire(c)  # type: ignore[arg-type]
    assert r.pending == 1 and c.closed == 0
    for _ in range(200):
        if not r.pending:
            break
        await asyncio.sleep(0.01)
    assert (r.pending, c.closed) == (0, 1)


async def test_stop_closes_every_retired_client_at_once() -> None:
    r = Retirer()  # the default delay (15 minutes) never elapses in this test
    clients = [_Client(), _Client()]
    for c in clients:
        r.retire(c)  # type: ignore[arg-type]
    await r.stop()
    assert r.pending == 0 and [c.closed for c in clients] == [1, 1]
