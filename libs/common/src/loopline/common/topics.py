"""Kafka topic names (DESIGN.md) and their partition counts."""

from __future__ import annotations

from loopline.common.bus import TopicSpec

ROWS = "loopline.rows"
ROWS_COMMITTED = "loopline.rows.committed"
EVAL_JOBS = "loopline.eval.jobs"
ROWS_DLQ = "loopline.rows.dlq"


def all_topics(partitions: int) -> list[TopicSpec]:
    return [
        TopicSpec(ROWS, partitions),
        TopicSpec(ROWS_COMMITTED, partitions),
        TopicSpec(EVAL_JOBS, max(1, partitions // 2)),
        TopicSpec(ROWS_DLQ, 1),
    ]
