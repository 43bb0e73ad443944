"""Publishes the rows of finished cells on `loopline.rows`, batched across cells.

`write(children, root)` returns once the cell's rows are acknowledged by the bus;
`write_cells(cells)` the same for many cells at once (each cell's rows root first). Within a
flush the children of every cell are published first and the roots only after the bus
acknowledged them: a stored root therefore means the whole cell is stored (what resuming a job
relies on, `DataReader.written_roots`). A flush that fails fails every cell it held (the job
then fails over to redelivery; the rows are keyed, so rewriting them is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from loopline.common.bus import Bus
from loopline.common.messages import rows as rows_topic
from loopline.common.messages.rows import RowWrite
from loopline.common.object_types import EXPERIMENT
from loopline.common.xact import XactIdGenerator


@dataclass
class _Pending:
    children: list[dict[str, Any]]
    roots: list[dict[str, Any]]
    done: asyncio.Future[None]


class RowSink:
    def __init__(
        self,
        bus: Bus,
        xact: XactIdGenerator,
        org_id: str,
        project_id: str,
        experiment_id: str,
        *,
        max_rows: int = 500,
        linger_s: float = 0.005,
        object_type: str = EXPERIMENT,  # and `experiment_id` its (stored) id: an eval's parent
    ) -> None:
        self.bus = bus
        self.xact = xact
        self.target = (org_id, project_id, object_type, experiment_id)
        self.max_rows = max_rows
        self.linger_s = linger_s
        self._pending: list[_Pending] = []
        self._rows = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    async def write(self, children: list[dict[str, Any]], root: dict[str, Any]) -> None:
        await self._enqueue(children, [root])

    async def write_cells(self, cells: list[list[dict[str, Any]]]) -> None:
        """Many cells' rows (each cell's list: its root, then its children) in one flush."""
        if cells:
            await self._enqueue([r for c in cells for r in c[1:]], [c[0] for c in cells])

    async def _enqueue(self, children: list[dict[str, Any]], roots: list[dict[str, Any]]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="eval-row-sink")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(children, roots, fut))
        self._rows += len(children) + len(roots)
        self._wake.set()
        await fut

    def _out(self, xact_id: int, rows: list[dict[str, Any]]) -> list[Any]:
        org, project, otype, oid = self.target
        return [rows_topic.CONTRACT.out(RowWrite(org, project, otype, oid, xact_id, r)) for r in rows]

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            if self._rows < self.max_rows and self.linger_s > 0:
                await asyncio.sleep(self.linger_s)  # let more cells finish into this flush
            self._wake.clear()
            batch, self._pending, self._rows = self._pending, [], 0
            if not batch:
                continue
            try:
                children = [r for p in batch for r in p.children]
                if children:
                    await self.bus.publish(rows_topic.TOPIC, self._out(self.xact.next(), children))
                roots = [r for p in batch for r in p.roots]
                await self.bus.publish(rows_topic.TOPIC, self._out(self.xact.next(), roots))
            except Exception as exc:
                for p in batch:
                    if not p.done.done():
                        p.done.set_exception(exc)
                continue
            self.published += len(children) + len(roots)
            for p in batch:
                if not p.done.done():
                    p.done.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for p in self._pending:
            if not p.done.done():
                p.done.cancel()
