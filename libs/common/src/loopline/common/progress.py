"""Read-your-writes: wait until the writer has committed everything acknowledged before now."""

from __future__ import annotations

from loopline.common.bus import Bus
from loopline.common.errors import Unavailable
from loopline.common.topics import ROWS

WRITER_GROUP = "loopline-writer"


class NotCaughtUp(Unavailable):
    """The writer did not reach the requested position in time (the edge answers 503)."""


async def wait_for_writer(bus: Bus, timeout_s: float) -> None:
    """Block until every row acknowledged on `rows` before this call is in the store.

    Takes the topic's end offsets now and waits for the writer group's committed offsets to
    reach them (the writer commits only after the store accepted a batch).
    """
    try:
        targets = await bus.end_offsets(ROWS)
        caught_up = await bus.wait_caught_up(ROWS, WRITER_GROUP, targets, timeout_s)
    except Exception as exc:  # the bus is unreachable: we cannot promise freshness
        raise NotCaughtUp(
            f"cannot check the writer's progress (bus unavailable: {exc}); retry shortly",
            retry_after=1,
        ) from exc
    if not caught_up:
        raise NotCaughtUp(
            f"the writer has not caught up within {timeout_s:.1f}s; recent writes may be missing — retry shortly",
            retry_after=1,
        )
