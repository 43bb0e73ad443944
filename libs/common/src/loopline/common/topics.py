"""The topics Loopline uses (DESIGN.md), derived from their contracts in `loopline.common.messages`."""

from __future__ import annotations

from loopline.common.bus import TopicSpec
from loopline.common.messages import CONTRACTS, committed, dead_letters, eval_jobs, rows

ROWS = rows.TOPIC
ROWS_COMMITTED = committed.TOPIC
EVAL_JOBS = eval_jobs.TOPIC
ROWS_DLQ = dead_letters.TOPIC


def all_topics(partitions: int) -> list[TopicSpec]:
    return [c.spec(partitions) for c in CONTRACTS]
