"""Topic contracts: one module per topic (see `contract.py` for what each one exposes).

rows          loopline.rows            RowWrite        ingest, evaluator, classifier → writer
committed     loopline.rows.committed  RowsCommitted   writer → classifier, evaluator
eval_jobs     loopline.eval.jobs       EvalJob         evaluator API → evaluator workers
dead_letters  loopline.rows.dlq        DeadLetter      writer → operator
"""

from typing import Any

from loopline.common.messages import committed, dead_letters, eval_jobs, rows
from loopline.common.messages.contract import MessageDecodeError, TopicContract

CONTRACTS: tuple[TopicContract[Any], ...] = (
    rows.CONTRACT,
    committed.CONTRACT,
    eval_jobs.CONTRACT,
    dead_letters.CONTRACT,
)

__all__ = [
    "CONTRACTS",
    "MessageDecodeError",
    "TopicContract",
    "committed",
    "dead_letters",
    "eval_jobs",
    "rows",
]
