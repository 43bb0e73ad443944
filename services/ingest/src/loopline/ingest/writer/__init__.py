"""The writer: consumes row writes from `loopline.rows`, applies merge semantics, writes ClickHouse.

A pipeline of small steps (`loopline.common.pipeline`), composed in `chain.py`, one module each:

    decode (stock) → group (steps.py) → load bases (bases.py) → merge (steps.py)
      → insert, bisecting to isolate bad rows (insert.py) → announce (steps.py)
    and at the end of each run: the dead letters, to their table and topic (sink.py)

The bus commits the batch's offsets only after the pipeline returns, so a crash anywhere before
that redelivers the batch; every step is idempotent under redelivery (writes below a row's stored
`_xact_id` are no-ops, equal ones re-apply idempotently; ClickHouse keeps the highest version).

If the store is unreachable a step raises and the bus retries with backoff (lag grows, nothing is
lost). Rows the store rejects while it is healthy are isolated by bisection and sent, with the
reason, to the dead-letter table and topic (as `Invalid`); the rest of the batch is written.
Messages that are not row writes, and rows whose writes cannot be merged, go the same way.

The steps run one after the other for each bus batch. Measured against a variant that splits a
batch into chunks and overlaps the merge of one chunk with the insert of the previous
(`hand_off(2)` before the insert; 10,000 spans in 5,000-span batches, interleaved runs on the
embedded engine, 2 cores): sequential 2,312 / 2,288 / 3,076 spans/s, overlapped 2,425 / 1,847 /
1,483 with 1,250-span chunks; 7,964 / 4,652 / 3,346 against 6,206 / 4,075 / 2,834 with 2,500-span
chunks. It did not pay, and it would cost correctness: a `_parent_id` naming a row written
earlier in the same batch must see that row's state, which an insert still in flight hides.
What does overlap, with a worker process (offload.py): the worker's prepare of the next bus
batch with this batch's insert (prepared.py). The prepare reads only the messages; everything
that reads the store (load_bases) still runs after the previous batch's insert returned.
"""

from loopline.ingest.writer.chain import Writer, WriterStats
from loopline.ingest.writer.insert import INSERT_SETTINGS, Inserter, unknown_setting
from loopline.ingest.writer.steps import GroupKey, group_writes, merge_group

__all__ = [
    "INSERT_SETTINGS",
    "GroupKey",
    "Inserter",
    "Writer",
    "WriterStats",
    "group_writes",
    "merge_group",
    "unknown_setting",
]
