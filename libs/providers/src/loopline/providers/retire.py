"""Closing a `ModelClient` that was replaced (a new principal's or org's client took its place)
only once the calls and streams still using it have ended: after `after_s` seconds, or at once
when the owner stops."""

from __future__ import annotations

import asyncio

from loopline.providers.client import ModelClient

RETIRE_AFTER_S = 900.0


class Retirer:
    def __init__(self, after_s: float = RETIRE_AFTER_S) -> None:
        self.after_s = after_s
        self._pending: dict[asyncio.Task[None], ModelClient] = {}

    @property
    def pending(self) -> int:
        return len(self._pending)

    def retire(self, client: ModelClient) -> None:
        """Close `client` after `after_s` (needs a running event loop)."""

        async def close_later() -> None:
            await asyncio.sleep(self.after_s)
            await client.aclose()

        task = asyncio.get_running_loop().create_task(close_later())
        self._pending[task] = client
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.pop(task, None)

    async def stop(self) -> None:
        """Close every retired client now (a cancelled task may not have started: its client is
        closed here, not by the task)."""
        pending = dict(self._pending)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for client in pending.values():
            await client.aclose()
