"""The writer's dead-letter sink: the `dead_letters` table (for `loopline dlq`) and the DLQ topic."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from loopline.common.bus import Bus
from loopline.common.logging import get_logger
from loopline.common.messages import dead_letters
from loopline.common.pipeline import Invalid
from loopline.common.store import Store

log = get_logger(__name__)


class DeadLetterSink:
    """Records Invalid messages in the table first, then on the topic. Both are idempotent
    enough under redelivery: a replayed batch records its letters again (an operator sees two)."""

    def __init__(self, store: Store, bus: Bus) -> None:
        self.store = store
        self.bus = bus

    async def __call__(self, invalid: Sequence[Invalid]) -> None:
        if not invalid:
            return
        letters = [dead_letters.DeadLetter(i.message.key, i.message.value, i.reason) for i in invalid]
        now = datetime.now(UTC)
        await self.store.insert(
            "dead_letters",
            [
                [d.key.decode(errors="replace"), d.value.decode(errors="replace"), d.reason, now]
                for d in letters
            ],
            ["key", "value", "reason", "created"],
        )
        await self.bus.publish(dead_letters.TOPIC, [dead_letters.CONTRACT.out(d) for d in letters])
        log.warning("rows dead-lettered", count=len(letters), first_reason=letters[0].reason[:300])
