"""The rows one cell (a data row x a trial) writes, exactly as the SDK's `Eval` writes them, with
ids derived from (experiment, data row, trial, part) so that running a cell again rewrites the
same rows instead of adding new ones (spec §5.1 [OURS], SDK `framework.py`):

* the root span: `span_attributes {name: "eval", type: "eval"}`, `input`, `expected`, `output`,
  `metadata` (the row's, plus `scorer_errors` when a scorer failed), `tags`, `origin` (the
  dataset row), `metrics {start, end}`, `error` when the task failed;
* a `task` child: `{name: "task", type: "task"}`, `input`, `output`, `metrics {start, end}`,
  `error`; under it one `llm` span per model call of the task, as the SDK's wrapped OpenAI
  client logs it (runtime/llm_spans.py: messages, choices, model and parameters, tokens, cost);
* one child per scorer: `{name: <scorer>, type: "score", purpose: "scorer"}`, `input` = the
  scorer's arguments (`input, output, expected, metadata, tags, id`), `output` (the score's own
  fields), `metadata`, `scores {name: value}`, `metrics`, `error`.
  Under it one `llm` span per model call of the scorer (LLM judges: Factuality, ClosedQA, a
  judge prompt), as autoevals run with a wrapped client logs them.

A cell run again (a resumed job) may make fewer model calls than its first run: the first run's
extra `llm` rows, when stored, are deleted (`stale_llm_deletes`: deletion rows with their
deterministic ids), so the cell ends with exactly the spans of its last run.

Span ids follow the SDK's default (OTel) form: 16 hex characters, the trace 32.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loopline.common.rows import format_created
from loopline.evaluator.runtime import llm_spans
from loopline.evaluator.runtime.prompts import ModelCall

_NS = uuid.UUID("6c1d2a9e-5b0f-4e57-9a63-3f0e2b8d4c11")  # Loopline eval cells


@dataclass(frozen=True)
class DataRow:
    """One row of the eval's data. `key` identifies it within the job (a dataset row's id, or
    `#<index>` of inline data); `origin` links the eval row to its dataset row."""

    key: str
    input: Any
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] | None = None
    id: str | None = None
    origin: dict[str, Any] | None = None


@dataclass(frozen=True)
class CellIds:
    """The ids of every row one cell writes."""

    root: str
    root_span: str
    trace: str
    task: str
    task_span: str
    scores: tuple[tuple[str, str], ...]  # (row id, span id) per scorer, in the job's order

    @property
    def all_row_ids(self) -> tuple[str, ...]:
        return (self.root, self.task, *(r for r, _ in self.scores))


_NS_SHA1 = hashlib.sha1(_NS.bytes)  # uuid5's hash of the namespace, continued per name


def _uuid5(name: str) -> str:
    """`str(uuid.uuid5(_NS, name))`, without building a UUID object (a cell makes 5)."""
    h = _NS_SHA1.copy()
    h.update(name.encode())
    b = bytearray(h.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50  # version 5
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def _base(experiment_id: str, row_key: str, trial: int) -> str:
    return f"{experiment_id}\x1f{row_key}\x1f{trial}"


def root_id(experiment_id: str, row_key: str, trial: int) -> str:
    """The id of a cell's root row (`cell_ids(...).root`): what says the cell is written."""
    return _uuid5(f"{_base(experiment_id, row_key, trial)}\x1froot")


def cell_ids(experiment_id: str, row_key: str, trial: int, n_scorers: int) -> CellIds:
    base = _base(experiment_id, row_key, trial)

    def rid(part: str) -> str:
        return _uuid5(f"{base}\x1f{part}")

    return CellIds(
        root=rid("root"),
        root_span=_hex(f"{base}/root/span", 16),
        trace=_hex(f"{base}/trace", 32),
        task=rid("task"),
        task_span=_hex(f"{base}/task/span", 16),
        scores=tuple((rid(f"score/{i}"), _hex(f"{base}/score/{i}/span", 16)) for i in range(n_scorers)),
    )


@dataclass(frozen=True)
class Timed:
    """When a span started and ended (unix seconds)."""

    start: float
    end: float

    def metrics(self, **more: float) -> dict[str, float]:
        return {"start": self.start, "end": self.end, **more}


#: the `llm` spans one span (a task, a scorer) may have: a resumed cell looks this far for rows
#: its first run wrote (a prompt makes at most MAX_TOOL_ROUNDS + 1 calls, tools that are prompts more)
MAX_LLM_SPANS = 64


@dataclass(frozen=True)
class ScoreResult:
    """What one scorer gave for one cell: its scores (name → value), the span's output and
    metadata, or the error that left it without a score."""

    name: str
    scores: dict[str, float | None]
    output: Any
    metadata: dict[str, Any]
    timed: Timed
    error: str | None = None
    calls: tuple[ModelCall, ...] = ()  # the scorer's model calls, in order


@dataclass(frozen=True)
class TaskResult:
    output: Any
    timed: Timed
    error: str | None = None
    calls: tuple[ModelCall, ...] = ()  # the task's model calls, in order


def _created(ts: float) -> str:
    return format_created(datetime.fromtimestamp(ts, UTC))


def llm_row_id(parent_id: str, i: int) -> str:
    """The row id of the `i`-th model call under the span whose row id is `parent_id`."""
    return str(uuid.uuid5(_NS, f"{parent_id}\x1fllm/{i}"))


def _llm_rows(
    parent: tuple[str, str], trace: str, calls: tuple[ModelCall, ...], end: float, created: str
) -> list[dict[str, Any]]:
    """Model calls as `llm` children of the span `parent` (row id, span id); ids from the
    parent's and the call's position, so a cell run again rewrites them."""
    out = []
    for i, call in enumerate(calls):
        row: dict[str, Any] = {
            "id": llm_row_id(parent[0], i),
            "span_id": _hex(f"{parent[1]}/llm/{i}", 16),
            "root_span_id": trace,
            "span_parents": [parent[1]],
            "created": created,
            "span_attributes": {"name": llm_spans.NAME, "type": llm_spans.TYPE},
            "input": call.input,
            "output": call.output,
            "metadata": llm_spans.llm_metadata(call),
            "metrics": Timed(call.start, llm_spans.llm_end(call, end)).metrics(**llm_spans.llm_metrics(call)),
        }
        if call.error is not None:
            row["error"] = call.error
        out.append(row)
    return out


def stale_llm_deletes(
    ids: CellIds, rows: list[dict[str, Any]], stored: frozenset[str]
) -> list[dict[str, Any]]:
    """Deletion rows for the `llm` rows of this cell that are stored (`stored`: the object's llm
    row ids) and that its rows now do not rewrite: a first run's extra model calls."""
    if not stored:
        return []
    now = {r["id"] for r in rows}
    stale = [
        rid
        for parent in (ids.task, *(sid for sid, _ in ids.scores))
        for rid in (llm_row_id(parent, i) for i in range(MAX_LLM_SPANS))
        if rid in stored and rid not in now
    ]
    return [{"id": rid, "_object_delete": True} for rid in stale]


def cell_rows(
    ids: CellIds, row: DataRow, task: TaskResult, scores: list[ScoreResult | None], root: Timed
) -> list[dict[str, Any]]:
    """The rows of one cell: root, task, the task's `llm` spans, then one per scorer that ran
    (None: it did not), each followed by its `llm` spans."""
    created = _created(root.start)  # every span of the cell starts within it: one timestamp
    metadata = dict(row.metadata)
    failed = {s.name: s.error for s in scores if s is not None and s.error}
    if failed:
        metadata["scorer_errors"] = failed
    root_row: dict[str, Any] = {
        "id": ids.root,
        "span_id": ids.root_span,
        "root_span_id": ids.trace,
        "span_parents": None,
        "created": created,
        "span_attributes": {"name": "eval", "type": "eval"},
        "input": row.input,
        "expected": row.expected,
        "output": task.output,
        "metadata": metadata,
        "tags": row.tags,
        "metrics": root.metrics(),
    }
    if row.origin is not None:
        root_row["origin"] = row.origin
    if task.error is not None:
        root_row["error"] = task.error
    task_row: dict[str, Any] = {
        "id": ids.task,
        "span_id": ids.task_span,
        "root_span_id": ids.trace,
        "span_parents": [ids.root_span],
        "created": created,
        "span_attributes": {"name": "task", "type": "task"},
        "input": row.input,
        "output": task.output,
        "metrics": task.timed.metrics(),
    }
    if task.error is not None:
        task_row["error"] = task.error
    out = [
        root_row,
        task_row,
        *_llm_rows((ids.task, ids.task_span), ids.trace, task.calls, task.timed.end, created),
    ]
    scorer_input = {
        "input": row.input,
        "output": task.output,
        "expected": row.expected,
        "metadata": row.metadata,
        "tags": row.tags,
        "id": row.id,
    }
    for (sid, sspan), s in zip(ids.scores, scores, strict=True):
        if s is None:
            continue
        score_row: dict[str, Any] = {
            "id": sid,
            "span_id": sspan,
            "root_span_id": ids.trace,
            "span_parents": [ids.root_span],
            "created": created,
            "span_attributes": {"name": s.name, "type": "score", "purpose": "scorer"},
            "input": scorer_input,
            "output": s.output,
            "metadata": s.metadata,
            "scores": s.scores,
            "metrics": s.timed.metrics(),
        }
        if s.error is not None:
            score_row["error"] = s.error
        out.append(score_row)
        out += _llm_rows((sid, sspan), ids.trace, s.calls, s.timed.end, created)
    return out


def expected_row_ids(ids: CellIds, task_failed: bool) -> tuple[str, ...]:
    """The rows a finished cell has written besides its `llm` spans (no score rows when its task
    failed)."""
    return (ids.root, ids.task) if task_failed else ids.all_row_ids
